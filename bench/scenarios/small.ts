import { formatBytes, testFile, warmPageCache } from '../lib/files.js';
import { buildGroup, interleave, median, times } from '../lib/group.js';
import { countSyscalls, senderTrial, warmUp } from '../lib/trial.js';
import type { Context, Group, Metric, Sample, Scenario, Skip, SyscallCount } from '../lib/types.js';
import { BASELINE, senderContenders, TRANSFER } from './senders.js';

const METRICS: Metric[] = [
  { key: 'transfersPerS', label: 'Transfers/s', unit: '/s', better: 'higher', chart: true },
  { key: 'cpuUsPerTransfer', label: 'CPU per transfer', unit: 'µs', better: 'lower', chart: true },
  { key: 'gbps', label: 'Throughput', unit: 'GB/s', better: 'higher' },
  { key: 'ctxPerTransfer', label: 'Ctx switches per transfer', unit: '', better: 'lower' },
];

/**
 * The smallest size from which `zero` beats `copy` on transfers/s at that size and every
 * larger one measured; null when it never does.
 */
function crossover(groups: { size: number; group: Group }[], zero: string, copy: string): number | null {
  let answer: number | null = null;
  for (const { size, group } of [...groups].sort((a, b) => b.size - a.size)) {
    const z = median(group, zero, 'transfersPerS');
    const c = median(group, copy, 'transfersPerS');
    if (z === undefined || c === undefined || !Number.isFinite(z) || !Number.isFinite(c)) break;
    if (z >= c) answer = size;
    else break;
  }
  return answer;
}

export const small: Scenario = {
  id: 'small',
  title: '2. Small transfers: where zero copy starts to pay',
  description:
    'The same senders, but many transfers of a small file over one persistent loopback connection ' +
    '(N sends of the whole file per trial). Reports transfers/s and CPU per transfer at each size; the crossover ' +
    'size is where the zero-copy path (transfer(), or the sendfile() primitive while transfer() is missing) ' +
    'starts to beat a plain read() + socket.write(), and is written to thresholds.smallTransferBytes.',
  async run(ctx: Context) {
    const { quick } = ctx.options;
    const sizes = (quick ? [4, 64] : [1, 4, 16, 64, 256]).map((k) => k * 1024);
    const repeats = quick ? 1 : 3;
    const skipped: Skip[] = [];
    const notes: string[] = [];
    const contenders = senderContenders(ctx, skipped);
    if (contenders.length === 0) return { groups: [], skipped, notes };
    const straceOn = ctx.tools.strace !== null && !quick;
    if (ctx.tools.strace === null)
      skipped.push({ contender: 'syscall counts', reason: ctx.tools.missing.strace ?? 'no strace' });
    else if (quick) notes.push('Syscall counts are skipped in --quick.');
    ctx.progress.plan(sizes.length * contenders.length * (repeats + 1 + (straceOn ? 2 : 0)));

    const results: { size: number; group: Group }[] = [];
    // A contender that fails at one size is not tried at the larger ones.
    let alive = contenders;
    for (const size of sizes) {
      const count = quick ? 500 : Math.min(20_000, Math.max(2_000, Math.floor((64 << 20) / size)));
      const file = testFile(ctx.dataDir, `small-${size}.bin`, size);
      warmPageCache(file);
      const samples = new Map<string, Sample[]>();
      const details = new Map<string, string>();
      alive = await warmUp(ctx, alive, skipped, (c) => senderTrial(ctx, c, file, size, Math.min(count, 500), 60_000), {
        steps: (c) => [`${formatBytes(size)} warm-up ${c.label}`],
        name: (c) => `${c.label} at ${formatBytes(size)}`,
      });
      for (const { contender, repeat } of interleave(alive, repeats)) {
        ctx.progress.step(`${formatBytes(size)} × ${count} ${contender.label} (repeat ${repeat + 1}/${repeats})`);
        try {
          const out = await senderTrial(ctx, contender, file, size, count, 120_000);
          samples.set(contender.id, [...(samples.get(contender.id) ?? []), out.sample]);
          if (out.detail) details.set(contender.id, out.detail);
        } catch (error) {
          notes.push(`${formatBytes(size)} ${contender.label}: ${(error as Error).message}`);
        }
      }
      const syscalls = new Map<string, SyscallCount>();
      if (straceOn) {
        for (const contender of alive) {
          ctx.progress.step(`${formatBytes(size)} strace -c ${contender.label}`);
          ctx.progress.step(`${formatBytes(size)} strace -c ${contender.label} (empty run)`);
          try {
            syscalls.set(contender.id, await countSyscalls(ctx, contender, file, size, 200, 120_000));
          } catch (error) {
            notes.push(`strace of ${contender.label} at ${formatBytes(size)}: ${(error as Error).message}`);
          }
        }
      }
      results.push({
        size,
        group: buildGroup(
          `small-${size}`,
          `${formatBytes(size)} × ${count.toLocaleString('en-US')} transfers on one connection`,
          BASELINE,
          METRICS,
          contenders.map((c) => {
            const sys = syscalls.get(c.id);
            const detail = details.get(c.id);
            return {
              id: c.id,
              label: c.label,
              kind: c.kind,
              samples: samples.get(c.id) ?? [],
              ...(sys ? { syscalls: sys } : {}),
              ...(detail ? { detail } : {}),
            };
          }),
        ),
      });
    }

    // The threshold compares the two system-call paths under the same discipline (blocking socket, main
    // thread): sendfile() against readSync() + writeSync(). transfer() may already apply a threshold of its
    // own, so comparing it would measure its policy, not the kernel; it is reported next to the figure.
    const nodeCrossover = crossover(results, 'node-sendfile', 'node-readwrite-sync');
    const transferCrossover = crossover(results, TRANSFER, 'node-readwrite');
    const cCrossover = crossover(results, 'c-sendfile', 'c-rw64k');
    ctx.thresholds.smallTransferBytes = nodeCrossover;
    const hasTransfer = results.some(({ group }) => group.rows.some((r) => r.id === TRANSFER));
    const say = (n: number | null) =>
      n === null ? `never, up to ${formatBytes(sizes[sizes.length - 1]!)}` : `from ${formatBytes(n)}`;
    const headline = [
      `Zero copy pays ${say(nodeCrossover)} here: the sendfile() primitive vs readSync() + writeSync() on transfers/s, ` +
        `same blocking socket (thresholds.smallTransferBytes = ${nodeCrossover ?? 'null'}). ` +
        "transfer()'s small-transfer threshold is set from this figure.",
      hasTransfer
        ? `transfer() vs async read() + socket.write(): transfer() is ahead ${say(transferCrossover)}.`
        : 'transfer() is not exported yet: skipped.',
      `C yardstick: sendfile beats read/write 64 KiB ${say(cCrossover)}.`,
      ...results.map(({ size, group }) => {
        const row = group.rows.find((r) => r.id === (hasTransfer ? TRANSFER : 'node-sendfile'));
        return `${formatBytes(size)}: ${hasTransfer ? 'transfer()' : 'sendfile()'} ${times(row?.ratios.transfersPerS)} transfers/s and ${times(
          row?.ratios.cpuUsPerTransfer,
        )} less CPU per transfer than stream.pipeline${row?.detail ? ` (${row.detail})` : ''}`;
      }),
    ];
    notes.push(
      'A crossover is the smallest measured size from which the zero-copy path wins at that size and every larger one.',
    );
    return { groups: results.map((r) => r.group), skipped, notes, headline };
  },
};
