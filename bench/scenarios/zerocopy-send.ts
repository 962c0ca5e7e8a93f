// Scenario "zerocopy-send": transfer() of a Buffer into a socket with MSG_ZEROCOPY against a
// plain send, by sender CPU per GB, on loopback (the kernel copies there: after the
// automatic switch back, zero copy must cost no more than a copy) and on the veth-drop rig
// (UDP into a veth whose peer drops at ingress: the one place here where the kernel sends
// from the Buffer's pages, and where zero copy should win). The rig's path has an Ethernet MTU
// (1500), so UDP sends carry up to 44 datagrams of 1472 bytes each (UDP_SEGMENT), lent or
// not: both rows of a size use segmentation, and differ only in lending.
import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';

import { DROP_ADDRESS, makeVethRig } from '../../test/support/veth-rig.js';
import { formatBytes } from '../lib/files.js';
import { buildGroup, interleave, median } from '../lib/group.js';
import { LIBRARY_INDEX, WORKERS_DIR } from '../lib/paths.js';
import { killTree, lastJson, run, track } from '../lib/proc.js';
import type { Context, Group, Metric, Sample, Scenario, Skip } from '../lib/types.js';

const METRICS: Metric[] = [
  { key: 'cpuPerGb', label: 'Sender CPU per GB', unit: 's/GB', better: 'lower', chart: true },
  { key: 'gbps', label: 'Throughput', unit: 'GB/s', better: 'higher' },
  { key: 'cpuS', label: 'Sender CPU (user+sys)', unit: 's', better: 'lower' },
];

const WORKER = join(WORKERS_DIR, 'zerocopy-send.js');
const MODES = [
  { id: 'plain', label: "transfer() plain send (zeroCopy: 'never')" },
  { id: 'zerocopy', label: "transfer() MSG_ZEROCOPY (zeroCopy: 'auto')" },
] as const;

/** Starts the loopback discard reader; resolves with its port. */
async function startDiscard(): Promise<{ port: number; child: ChildProcess }> {
  const child = spawn(process.execPath, [WORKER, 'discard', '0'], { stdio: ['ignore', 'pipe', 'inherit'] });
  track(child);
  const port = await new Promise<number>((resolve, reject) => {
    let out = '';
    child.stdout?.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      const json = lastJson(out);
      if (json !== null) resolve(Number(json.port));
    });
    child.once('exit', () => reject(new Error('the discard reader exited')));
  });
  return { port, child };
}

function sampleOf(json: Record<string, unknown>): Sample {
  const cpuS = ((json.userUs as number) + (json.sysUs as number)) / 1e6;
  const gb = (json.bytes as number) / 1e9;
  return { cpuPerGb: cpuS / gb, gbps: gb / ((json.wallNs as number) / 1e9), cpuS };
}

async function measure(
  ctx: Context,
  place: { id: string; title: string; prefix: string[]; kind: 'tcp' | 'udp'; host: string; port: number },
  sizes: Array<{ size: number; label: string }>,
  total: number,
  repeats: number,
  notes: string[],
): Promise<Group[]> {
  const groups: Group[] = [];
  for (const { size, label } of sizes) {
    const samples = new Map<string, Sample[]>();
    const details = new Map<string, string>();
    for (const { contender, repeat } of interleave([...MODES], repeats)) {
      ctx.progress.step(`${place.id} ${label} ${contender.id} (repeat ${repeat + 1}/${repeats})`);
      const [command, ...prefix] = [...place.prefix, process.execPath];
      const args = [...prefix, WORKER, 'send', contender.id, place.kind, place.host, String(place.port)];
      const result = await run(command as string, [...args, String(size), String(total), LIBRARY_INDEX], {
        timeoutMs: 180_000,
      });
      const json = lastJson(result.stdout);
      if (result.code !== 0 || json === null) {
        notes.push(
          `${place.id} ${label} ${contender.id}: ${result.stderr.trim().slice(0, 300) || `exit ${result.code}`}`,
        );
        continue;
      }
      samples.set(contender.id, [...(samples.get(contender.id) ?? []), sampleOf(json)]);
      details.set(contender.id, String(json.detail ?? ''));
    }
    groups.push(
      buildGroup(
        `${place.id}-${size}`,
        `${place.title}: ${label} per transfer()`,
        'plain',
        METRICS,
        MODES.map((mode) => ({
          id: mode.id,
          label: mode.label,
          kind: mode.id === 'plain' ? 'node' : 'zerocopy',
          samples: samples.get(mode.id) ?? [],
          detail: details.get(mode.id) ?? '',
        })),
      ),
    );
  }
  return groups;
}

/** The smallest rig size from which zero copy costs no more CPU per GB than plain, there and above. */
function crossover(groups: Group[], sizes: number[], prefix: string): number | null {
  let answer: number | null = null;
  for (const size of [...sizes].sort((a, b) => b - a)) {
    const group = groups.find((g) => g.id === `${prefix}-${size}`);
    const zero = group && median(group, 'zerocopy', 'cpuPerGb');
    const plain = group && median(group, 'plain', 'cpuPerGb');
    if (zero === undefined || plain === undefined || !(zero <= plain)) break;
    answer = size;
  }
  return answer;
}

export const zerocopySend: Scenario = {
  id: 'zerocopy-send',
  title: 'Zero-copy sends of memory (MSG_ZEROCOPY)',
  description:
    'transfer() of one Buffer into a socket, again and again, with MSG_ZEROCOPY (zeroCopy "auto", every size ' +
    'lends) against a plain send (zeroCopy "never"); sender CPU per GB. On loopback the kernel copies, so ' +
    'after the automatic switch back zero copy must cost no more than a copy (target <= 1.02x). On the ' +
    'veth-drop rig (UDP into a veth at MTU 1500 whose peer drops at ingress with a two-instruction BPF ' +
    'program) the kernel sends from the Buffer, and zero copy should win (target <= 0.7x at 64 KiB). Rows of ' +
    'a small Buffer sent again and again copy from the cache (the best case for copying); the 256 MiB row ' +
    'sends memory larger than the caches in the same 63 KiB sends. There ' +
    'both contenders send with UDP segmentation offload (UDP_SEGMENT: up to 44 datagrams of 1472 bytes per ' +
    'send): they differ only in lending the pages. The rig size from which it wins is written to ' +
    'thresholds.zeroCopySendBytes.',
  async run(ctx: Context) {
    const { quick } = ctx.options;
    const repeats = quick ? 1 : 5;
    const total = quick ? 64 * 1024 * 1024 : 1024 * 1024 * 1024;
    const skipped: Skip[] = [];
    const notes: string[] = [];
    const loopSizes = [16, 64, 256, 1024].map((k) => ({ size: k * 1024, label: formatBytes(k * 1024) }));
    // Sizes as before the rig had an Ethernet MTU (one 65000-byte datagram per send then), so rows
    // stay comparable: 63 KiB is one UDP_SEGMENT send of 44 datagrams now.
    const rigSizes = [16, 63, 256, 1024].map((k) => ({ size: k * 1024, label: formatBytes(k * 1024) }));
    // The rows above send one small Buffer again and again, so the copy a plain send makes
    // reads memory already in the cache: the best case for copying. Sending large data from
    // memory reads it cold; this row sends a Buffer larger than the caches, in the same
    // 63 KiB sends (44 datagrams each).
    const coldSize = 256 * 1024 * 1024;
    const rigRows = [
      ...rigSizes,
      {
        size: coldSize,
        label: `63 KiB from a ${formatBytes(coldSize)} Buffer (larger than the caches)`,
      },
    ];
    ctx.progress.plan((loopSizes.length + rigRows.length) * MODES.length * repeats);

    const groups: Group[] = [];
    const discard = await startDiscard();
    try {
      groups.push(
        ...(await measure(
          ctx,
          { id: 'loopback', title: 'Loopback TCP', prefix: [], kind: 'tcp', host: '127.0.0.1', port: discard.port },
          loopSizes,
          total,
          repeats,
          notes,
        )),
      );
    } finally {
      killTree(discard.child.pid);
    }

    const rig = await makeVethRig(ctx.workDir, { dropMtu: 1500 });
    if (typeof rig === 'string') skipped.push({ contender: 'veth-drop rig (UDP)', reason: rig });
    else {
      try {
        groups.push(
          ...(await measure(
            ctx,
            {
              id: 'veth-drop',
              title: `veth-drop rig, UDP at MTU 1500 with UDP_SEGMENT (${rig.drop} drop)`,
              prefix: ['ip', 'netns', 'exec', rig.sender],
              kind: 'udp',
              host: DROP_ADDRESS,
              port: 9,
            },
            rigRows,
            total,
            repeats,
            notes,
          )),
        );
        ctx.thresholds.zeroCopySendBytes = crossover(
          groups,
          rigSizes.map((s) => s.size),
          'veth-drop',
        );
      } finally {
        await rig.close();
      }
    }
    notes.push(
      'UDP sends of every size are one transfer() each, sent as datagrams of the path MTU less headers (1472 bytes), ' +
        "up to 44 of them per send (UDP_SEGMENT) in both rows; the row's detail says what report.gso said.",
      'The rig is built from test/support/veth-rig.ts (network namespaces, veth pairs, a raw bpf() drop program).',
    );
    return { groups, skipped, notes };
  },
};
