// Messages between two threads and between two processes: the shared-memory channel
// against what Node offers (postMessage clone and transfer, child_process IPC json and
// advanced, length-prefixed frames over a Unix socket), what Node users install (zeromq,
// node-ipc) and the native references (a C memfd ring, Eclipse iceoryx). Every trial is a
// fresh process (bench/workers/ipc.ts, or the C peers); the payload is written by the
// sender and read by the receiver.
import { existsSync } from 'node:fs';
import { join } from 'node:path';

import { formatBytes } from '../lib/files.js';
import { buildGroup, fmt, median } from '../lib/group.js';
import { BENCH_DIR, WORKERS_DIR } from '../lib/paths.js';
import { lastJson, run } from '../lib/proc.js';
import type { Context, Group, Metric, Row, Sample, Scenario, Skip } from '../lib/types.js';
import type { IpcTrial, Transport } from '../workers/ipc.js';
import { buildRing, type NativeId, nativeTrial, prepareIceoryx, type Roudi, startRoudi } from './ipc-native.js';

interface Contender {
  id: Transport | NativeId;
  label: string;
  kind: Row['kind'];
  across: IpcTrial['across'][];
  /** Only these message sizes (default: all). */
  sizes?: number[];
  /** A C peer instead of bench/workers/ipc.ts. */
  native?: 'ring' | 'iceoryx';
  /** At most this many messages per trial at 1 MiB (a contender that takes a large fraction of a second for each). */
  cap1MiB?: number;
}

const CONTENDERS: Contender[] = [
  {
    id: 'channel',
    label: 'zerocopy channel (event mode)',
    kind: 'zerocopy',
    across: ['threads', 'processes'],
  },
  {
    id: 'channel-spin',
    label: 'zerocopy channel (spin 200 µs, then sleep)',
    kind: 'zerocopy',
    across: ['threads', 'processes'],
  },
  {
    id: 'channel-batch',
    label: 'zerocopy channel (send() copies in, receiveBatch())',
    kind: 'zerocopy',
    across: ['threads', 'processes'],
    sizes: [64, 4096],
  },
  { id: 'post-clone', label: 'postMessage (structured clone)', kind: 'node', across: ['threads'] },
  { id: 'sab-ring', label: 'SharedArrayBuffer ring (Atomics.waitAsync/notify)', kind: 'node', across: ['threads'] },
  { id: 'post-transfer', label: 'postMessage (transfer list)', kind: 'node', across: ['threads'] },
  { id: 'ipc-json', label: "child_process IPC (serialization: 'json')", kind: 'node', across: ['processes'] },
  { id: 'ipc-advanced', label: "child_process IPC (serialization: 'advanced')", kind: 'node', across: ['processes'] },
  { id: 'unix-frames', label: 'length-prefixed frames over a Unix socket', kind: 'node', across: ['processes'] },
  { id: 'zeromq', label: 'zeromq 6 (push/pull over ipc://)', kind: 'peer', across: ['processes'] },
  {
    id: 'node-ipc',
    label: 'node-ipc 9 (JSON events over a Unix socket)',
    kind: 'peer',
    across: ['processes'],
    cap1MiB: 20,
  },
  { id: 'c-ring-spin', label: 'C memfd ring (spin)', kind: 'c', across: ['threads', 'processes'], native: 'ring' },
  {
    id: 'c-ring-futex',
    label: 'C memfd ring (futex wake)',
    kind: 'c',
    across: ['threads', 'processes'],
    native: 'ring',
  },
  {
    id: 'c-ring-eventfd',
    label: 'C memfd ring (eventfd + epoll wake)',
    kind: 'c',
    across: ['threads', 'processes'],
    native: 'ring',
  },
  {
    id: 'iceoryx-poll',
    label: 'iceoryx 2.0 C binding (busy poll)',
    kind: 'c',
    across: ['processes'],
    native: 'iceoryx',
  },
  {
    id: 'iceoryx-waitset',
    label: 'iceoryx 2.0 C binding (WaitSet)',
    kind: 'c',
    across: ['processes'],
    native: 'iceoryx',
  },
];

const BASELINE: Record<IpcTrial['across'], Transport> = { threads: 'post-clone', processes: 'ipc-advanced' };

const THROUGHPUT: Metric[] = [
  { key: 'msgsPerS', label: 'Messages per second (pipelined)', unit: 'msg/s', better: 'higher', chart: true },
  { key: 'mbPerS', label: 'Payload throughput', unit: 'MB/s', better: 'higher' },
  { key: 'cpuUsPerMsg', label: 'CPU per message (both ends)', unit: 'µs', better: 'lower' },
];

const LATENCY: Metric[] = [
  { key: 'p50Us', label: 'One-way latency p50 (round trip / 2)', unit: 'µs', better: 'lower', chart: true },
  { key: 'p99Us', label: 'One-way latency p99', unit: 'µs', better: 'lower' },
  { key: 'p999Us', label: 'One-way latency p99.9', unit: 'µs', better: 'lower' },
  { key: 'maxUs', label: 'One-way latency max', unit: 'µs', better: 'lower' },
  { key: 'cpuUsPerMsg', label: 'CPU per message (both ends)', unit: 'µs', better: 'lower' },
];

function counts(size: number, measure: IpcTrial['measure'], quick: boolean, cap1MiB = Infinity): number {
  const full = measure === 'throughput' ? (size <= 4096 ? 100_000 : 400) : size <= 4096 ? 10_000 : 200;
  const count = quick ? Math.max(20, Math.floor(full / 20)) : full;
  return size >= 1 << 20 ? Math.min(count, quick ? Math.ceil(cap1MiB / 5) : cap1MiB) : count;
}

async function trial(spec: IpcTrial): Promise<Sample> {
  const result = await run(process.execPath, [join(WORKERS_DIR, 'ipc.js'), JSON.stringify(spec)], {
    timeoutMs: 120_000,
  });
  const json = lastJson(result.stdout);
  if (result.timedOut) throw new Error('timed out after 120 s');
  if (result.code !== 0 || json === null) {
    throw new Error(`exit ${result.code ?? result.signal}: ${(result.stderr || result.stdout).trim().slice(-300)}`);
  }
  const sample: Sample = {};
  for (const [key, value] of Object.entries(json)) if (typeof value === 'number') sample[key] = value;
  return sample;
}

export const ipc: Scenario = {
  id: 'ipc',
  title: '7. Messages between threads and processes',
  description:
    'One producer, one consumer, 64 B / 4 KiB / 1 MiB messages written by the sender (Buffer.fill) and read by the ' +
    'receiver (a scan of every byte). Pipelined messages/s (the consumer acknowledges the last one) and one-way ' +
    'latency as round trip / 2 (ping-pong, a tenth discarded as warm-up). CPU per message is user+sys of both ends. ' +
    'Event mode: the consumer awaits on its event loop, woken through libuv; spin mode busy-waits 200 µs first. ' +
    'The batch row (64 B and 4 KiB) copies each message in with send() and takes every ready one per receiveBatch(). ' +
    'References: a C memfd ring with the same slots (spin, futex or eventfd+epoll wake; memset and memchr over the ' +
    'payload), Eclipse iceoryx 2.0 through its C binding (loaned chunks, busy poll or WaitSet, its RouDi daemon ' +
    'started by the bench), zeromq push/pull over ipc:// and node-ipc (JSON events, at most 20 messages at 1 MiB).',
  async run(ctx: Context) {
    const { quick } = ctx.options;
    const sizes = [64, 4096, 1 << 20];
    const repeats = quick ? 1 : 5;
    const skipped: Skip[] = [];
    const notes: string[] = [];
    // The native references: built (and iceoryx installed) here; skipped with the reason otherwise.
    const binaries: Partial<Record<'ring' | 'iceoryx', string>> = {};
    const ring = await buildRing();
    if (typeof ring === 'string') binaries.ring = ring;
    else skipped.push({ contender: 'C memfd ring (spin, futex, eventfd)', reason: ring.reason });
    const iceoryx = await prepareIceoryx((message) => ctx.progress.log(message));
    let roudi: Roudi | undefined;
    if ('peer' in iceoryx) {
      try {
        roudi = await startRoudi(iceoryx.roudi);
        binaries.iceoryx = iceoryx.peer;
      } catch (error) {
        skipped.push({ contender: 'Eclipse iceoryx 2.0 (C binding)', reason: (error as Error).message });
      }
    } else {
      skipped.push({ contender: 'Eclipse iceoryx 2.0 (C binding)', reason: iceoryx.reason });
    }
    const missing = ['zeromq', 'node-ipc'].filter((name) => !existsSync(join(BENCH_DIR, 'node_modules', name)));
    for (const name of missing) skipped.push({ contender: name, reason: 'not installed (npm install --prefix bench)' });
    const contenders = CONTENDERS.filter(
      (c) => (c.native === undefined || binaries[c.native] !== undefined) && !missing.includes(c.id),
    );
    const plan: (IpcTrial & { contender: Contender })[] = [];
    for (const across of ['threads', 'processes'] as const) {
      for (const measure of ['throughput', 'latency'] as const) {
        for (const size of sizes) {
          for (const contender of contenders) {
            if (!contender.across.includes(across)) continue;
            if (contender.sizes !== undefined && !contender.sizes.includes(size)) continue;
            const count = counts(size, measure, quick, contender.cap1MiB);
            plan.push({ transport: contender.id as Transport, across, measure, size, count, contender });
          }
        }
      }
    }
    ctx.progress.plan(plan.length * repeats);
    const samples = new Map<string, Sample[]>();
    const key = (t: IpcTrial) => `${t.across}/${t.measure}/${t.size}/${t.transport}`;
    const stalled = new Set<'ring' | 'iceoryx'>();
    try {
      for (let repeat = 0; repeat < repeats; repeat++) {
        for (const { contender, ...spec } of plan) {
          ctx.progress.step(
            `${spec.transport}, ${spec.across}, ${spec.measure}, ${formatBytes(spec.size)} (${repeat + 1}/${repeats})`,
          );
          const family = contender.native;
          if (family !== undefined && stalled.has(family)) continue;
          try {
            const binary = family === undefined ? undefined : binaries[family];
            const sample =
              binary === undefined
                ? await trial(spec)
                : await nativeTrial(binary, { ...spec, id: contender.id as NativeId }, quick ? 30_000 : 120_000);
            samples.set(key(spec), [...(samples.get(key(spec)) ?? []), sample]);
          } catch (error) {
            const message = (error as Error).message;
            notes.push(`${spec.transport} ${spec.across} ${spec.measure} ${formatBytes(spec.size)}: ${message}`);
            // A native reference that hangs once (RouDi gone, say) would hang every trial after it.
            if (family !== undefined && message.startsWith('timed out')) {
              stalled.add(family);
              notes.push(`${family}: its remaining trials were not run after one timed out`);
            }
          }
        }
      }
    } finally {
      await roudi?.stop();
    }
    // post(value) of a 1 KiB object against postMessage of the same object, between threads.
    const objectSize = 1024;
    const objectTrials: IpcTrial[] = (['channel-post', 'post-object'] as const).map((transport) => ({
      transport,
      across: 'threads',
      measure: 'throughput',
      size: objectSize,
      count: counts(64, 'throughput', quick),
    }));
    ctx.progress.plan(objectTrials.length * repeats);
    for (let repeat = 0; repeat < repeats; repeat++) {
      for (const spec of objectTrials) {
        ctx.progress.step(`${spec.transport}, a 1 KiB object (${repeat + 1}/${repeats})`);
        try {
          const sample = await trial(spec);
          samples.set(key(spec), [...(samples.get(key(spec)) ?? []), sample]);
        } catch (error) {
          notes.push(`${spec.transport} 1 KiB object: ${(error as Error).message}`);
        }
      }
    }
    const groups: Group[] = [
      buildGroup(
        'ipc-threads-post-object',
        'Two threads, pipelined, a 1 KiB object: channel post(value) against postMessage(value)',
        'post-object',
        THROUGHPUT.filter((m) => m.key !== 'mbPerS'),
        [
          { id: 'channel-post', label: 'zerocopy channel post(value) (v8.serialize into the slot)', kind: 'zerocopy' },
          { id: 'post-object', label: 'postMessage(value) (structured clone)', kind: 'node' },
        ].map((c) => ({
          ...c,
          kind: c.kind as Row['kind'],
          samples: samples.get(`threads/throughput/${objectSize}/${c.id}`) ?? [],
        })),
      ),
    ];
    for (const across of ['threads', 'processes'] as const) {
      for (const measure of ['throughput', 'latency'] as const) {
        for (const size of sizes) {
          const inGroup = contenders.filter(
            (c) => c.across.includes(across) && (c.sizes === undefined || c.sizes.includes(size)),
          );
          groups.push(
            buildGroup(
              `ipc-${across}-${measure}-${size}`,
              `${across === 'threads' ? 'Two threads' : 'Two processes'}, ${measure === 'throughput' ? 'pipelined' : 'ping-pong'}, ${formatBytes(size)}`,
              BASELINE[across],
              measure === 'throughput' ? THROUGHPUT : LATENCY,
              inGroup.map((c) => ({
                id: c.id,
                label: c.label,
                kind: c.kind,
                samples: samples.get(`${across}/${measure}/${size}/${c.id}`) ?? [],
              })),
            ),
          );
        }
      }
    }
    const headline = groups
      .filter((g) => g.rows.some((r) => r.id === 'channel'))
      .map((g) => {
        const metric = g.id.includes('throughput') ? 'msgsPerS' : 'p50Us';
        const ours = median(g, 'channel', metric);
        const base = median(g, g.baseline, metric);
        const unit = metric === 'msgsPerS' ? 'msg/s' : 'µs p50';
        return `${g.title}: channel ${fmt(ours)} ${unit}, ${g.baseline} ${fmt(base)} ${unit}`;
      });
    return { groups, skipped, notes, headline };
  },
};
