import { formatBytes, testFile, warmPageCache } from '../lib/files.js';
import { buildGroup, fmt, interleave, median, times } from '../lib/group.js';
import { countSyscalls, senderTrial, warmUp } from '../lib/trial.js';
import type { Claim, Context, Metric, Sample, Scenario, Skip, SyscallCount } from '../lib/types.js';
import { BASELINE, senderContenders, TRANSFER } from './senders.js';

export const METRICS: Metric[] = [
  { key: 'gbps', label: 'Throughput', unit: 'GB/s', better: 'higher', chart: true },
  { key: 'wallMs', label: 'Wall time', unit: 'ms', better: 'lower' },
  { key: 'cpuS', label: 'CPU (user+sys)', unit: 's', better: 'lower', chart: true },
  { key: 'userS', label: 'User CPU', unit: 's', better: 'lower' },
  { key: 'sysS', label: 'System CPU', unit: 's', better: 'lower' },
  { key: 'voluntaryCtx', label: 'Voluntary ctx switches', unit: '', better: 'lower' },
  { key: 'involuntaryCtx', label: 'Involuntary ctx switches', unit: '', better: 'lower' },
];

const PUBLISHED_RATIO = 18399 / 8537;

function verdict(ok: boolean | undefined): Claim['verdict'] {
  return ok === undefined ? 'n/a' : ok ? 'met' : 'not met';
}

export const classic: Scenario = {
  id: 'classic',
  title: '1. The classic experiment: a large file to a loopback TCP reader',
  description:
    'One file, page-cached, sent once over a loopback TCP connection to a C reader in its own process. ' +
    'Node’s traditional paths (read/write through Buffers, stream.pipeline), mmap + write, the sendfile and ' +
    'splice primitives, transfer(), and a C sender (read/write with 64 KiB and 1 MiB buffers, mmap, sendfile, ' +
    'splice) as the physical yardstick. CPU and context switches are the sending process’s own (getrusage), ' +
    'over the transfer only.',
  async run(ctx: Context) {
    const { quick } = ctx.options;
    const size = quick ? 32 << 20 : 1 << 30;
    const repeats = quick ? 1 : 3;
    const skipped: Skip[] = [];
    const notes: string[] = [];
    const contenders = senderContenders(ctx, skipped);
    if (contenders.length === 0) return { groups: [], skipped, notes };

    const file = testFile(ctx.dataDir, `classic-${size}.bin`, size);
    warmPageCache(file);
    const timeoutMs = quick ? 30_000 : 120_000;
    const straceOn = ctx.tools.strace !== null;
    if (!straceOn) skipped.push({ contender: 'syscall counts', reason: ctx.tools.missing.strace ?? 'no strace' });
    ctx.progress.plan(contenders.length * (repeats + 1) + (straceOn ? contenders.length * 2 : 0));

    const samples = new Map<string, Sample[]>();
    const details = new Map<string, string>();
    const live = await warmUp(ctx, contenders, skipped, (c) => senderTrial(ctx, c, file, size, 1, timeoutMs));
    for (const { contender, repeat } of interleave(live, repeats)) {
      ctx.progress.step(`${contender.label} (repeat ${repeat + 1}/${repeats})`);
      try {
        const out = await senderTrial(ctx, contender, file, size, 1, timeoutMs);
        samples.set(contender.id, [...(samples.get(contender.id) ?? []), out.sample]);
        if (out.detail) details.set(contender.id, out.detail);
      } catch (error) {
        notes.push(`${contender.label}, repeat ${repeat + 1}: ${(error as Error).message}`);
      }
    }
    const syscalls = new Map<string, SyscallCount>();
    if (straceOn) {
      for (const contender of live) {
        ctx.progress.step(`strace -c ${contender.label}`);
        ctx.progress.step(`strace -c ${contender.label} (empty run)`);
        try {
          syscalls.set(contender.id, await countSyscalls(ctx, contender, file, size, 1, timeoutMs * 2));
        } catch (error) {
          notes.push(`strace of ${contender.label}: ${(error as Error).message}`);
        }
      }
    }

    const group = buildGroup(
      'classic',
      `${formatBytes(size)} file → loopback TCP reader`,
      BASELINE,
      METRICS,
      contenders.map((c) => {
        const input = { id: c.id, label: c.label, kind: c.kind, samples: samples.get(c.id) ?? [] };
        const sys = syscalls.get(c.id);
        const detail = details.get(c.id);
        return { ...input, ...(sys ? { syscalls: sys } : {}), ...(detail ? { detail } : {}) };
      }),
      [
        'Ratios are medians against Node stream.pipeline in the same run (>1 is better: faster, or less CPU).',
        'The sendfile()/splice() primitives run on a blocking socket on the main thread: the system call alone, ' +
          'no event-loop integration. transfer() is the real API.',
      ],
    );

    // The headline: ours against Node's usual way, and against the best C sender.
    const headlineId = samples.has(TRANSFER) ? TRANSFER : 'node-sendfile';
    const headlineLabel = headlineId === TRANSFER ? 'transfer()' : 'sendfile() primitive (transfer() not available)';
    const speedup = group.rows.find((r) => r.id === headlineId)?.ratios.gbps;
    const cpuRatio = (() => {
      const a = median(group, headlineId, 'cpuS');
      const b = median(group, BASELINE, 'cpuS');
      return a !== undefined && b !== undefined ? a / b : undefined;
    })();
    const bestC = group.rows
      .filter((r) => r.kind === 'c')
      .sort((a, b) => (b.summary.gbps?.median ?? 0) - (a.summary.gbps?.median ?? 0))[0];
    const vsBestC = bestC
      ? (median(group, headlineId, 'gbps') ?? Number.NaN) / (bestC.summary.gbps?.median ?? 1)
      : undefined;
    const eventDrivenC = median(group, 'c-sendfile-epoll', 'gbps');
    const vsEventDrivenC =
      eventDrivenC === undefined ? undefined : (median(group, headlineId, 'gbps') ?? Number.NaN) / eventDrivenC;
    const cSpeedup =
      (median(group, 'c-sendfile', 'gbps') ?? Number.NaN) / (median(group, 'c-rw64k', 'gbps') ?? Number.NaN);
    const cCpu = (median(group, 'c-sendfile', 'cpuS') ?? Number.NaN) / (median(group, 'c-rw64k', 'cpuS') ?? Number.NaN);

    const target = (value: number | undefined, ok: (v: number) => boolean) =>
      value === undefined || !Number.isFinite(value) ? 'n/a' : ok(value) ? 'met' : 'NOT met';
    const headline = [
      `${headlineLabel} vs stream.pipeline: ${times(speedup)} throughput (target ≥ 2.16x: ${target(speedup, (v) => v >= 2.16)}) ` +
        `at ${times(cpuRatio)} the CPU (target ≤ 0.5x: ${target(cpuRatio, (v) => v <= 0.5)}); ` +
        `${times(vsBestC)} the best C sender, ${bestC?.label ?? '–'} (target ≥ 0.9x: ${target(vsBestC, (v) => v >= 0.9)}); ` +
        `${times(vsEventDrivenC)} a C sender that waits in epoll like nginx (a server cannot block in sendfile).`,
      `C sendfile vs C read/write 64 KiB (the published experiment's shape): ${times(cSpeedup)} throughput, ${times(cCpu)} the CPU.`,
    ];
    const sys = (id: string) => syscalls.get(id)?.perTransfer;
    const claims: Claim[] = [
      {
        claim: `Zero copy vs traditional, ${formatBytes(size)}`,
        published: `${PUBLISHED_RATIO.toFixed(2)}x (1 GB: 18,399 ms → 8,537 ms, IBM developerWorks, Java transferTo)`,
        ours: `${headlineLabel} vs stream.pipeline ${times(speedup)}; C sendfile vs C read/write 64 KiB ${times(cSpeedup)}`,
        verdict: verdict(speedup === undefined || !Number.isFinite(speedup) ? undefined : speedup >= PUBLISHED_RATIO),
      },
      {
        claim: 'Throughput gain',
        published: '> 40% more',
        ours: `${fmt(((speedup ?? Number.NaN) - 1) * 100, 0)}% (${headlineLabel}); ${fmt((cSpeedup - 1) * 100, 0)}% (C)`,
        verdict: verdict(speedup === undefined || !Number.isFinite(speedup) ? undefined : speedup > 1.4),
      },
      {
        claim: 'CPU saving',
        published: '> 20% less CPU',
        ours: `${fmt((1 - (cpuRatio ?? Number.NaN)) * 100, 0)}% less (${headlineLabel}); ${fmt((1 - cCpu) * 100, 0)}% less (C)`,
        verdict: verdict(cpuRatio === undefined || !Number.isFinite(cpuRatio) ? undefined : cpuRatio < 0.8),
      },
      {
        claim: 'User/kernel transitions per chunk',
        published: '4 → 2 context switches per transfer (read+write → one sendfile call)',
        ours:
          `system calls for the whole file (strace -c): C read/write 64 KiB ${fmt(sys('c-rw64k'), 0)}, ` +
          `C sendfile ${fmt(sys('c-sendfile'), 0)}, stream.pipeline ${fmt(sys(BASELINE), 0)}, ` +
          `${headlineLabel} ${fmt(sys(headlineId), 0)}; scheduler switches (getrusage): pipeline ` +
          `${fmt((median(group, BASELINE, 'voluntaryCtx') ?? Number.NaN) + (median(group, BASELINE, 'involuntaryCtx') ?? Number.NaN), 0)}, ` +
          `${headlineLabel} ${fmt((median(group, headlineId, 'voluntaryCtx') ?? Number.NaN) + (median(group, headlineId, 'involuntaryCtx') ?? Number.NaN), 0)}`,
        verdict: verdict(
          sys(headlineId) === undefined || sys(BASELINE) === undefined
            ? undefined
            : sys(headlineId)! < sys(BASELINE)! / 2,
        ),
      },
    ];
    notes.push(
      'The article’s “context switches” are user/kernel mode transitions, two per system call; the comparable figure ' +
        'here is the syscall count. Scheduler context switches (getrusage) are reported separately.',
    );
    return { groups: [group], skipped, notes, claims, headline };
  },
};
