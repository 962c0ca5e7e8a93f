// Messages between two threads and between two processes: the shared-memory channel
// against what Node offers (postMessage clone and transfer, child_process IPC json and
// advanced, length-prefixed frames over a Unix socket). Every trial is a fresh process
// (bench/workers/ipc.ts); the payload is written by the sender and read by the receiver.
import { join } from 'node:path';

import { formatBytes } from '../lib/files.js';
import { buildGroup, fmt, median } from '../lib/group.js';
import { WORKERS_DIR } from '../lib/paths.js';
import { lastJson, run } from '../lib/proc.js';
import type { Context, Group, Metric, Row, Sample, Scenario, Skip } from '../lib/types.js';
import type { IpcTrial, Transport } from '../workers/ipc.js';

interface Contender {
  id: Transport;
  label: string;
  kind: Row['kind'];
  across: IpcTrial['across'][];
  /** Only these message sizes (default: all). */
  sizes?: number[];
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

function counts(size: number, measure: IpcTrial['measure'], quick: boolean): number {
  const full = measure === 'throughput' ? (size <= 4096 ? 100_000 : 400) : size <= 4096 ? 10_000 : 200;
  return quick ? Math.max(20, Math.floor(full / 20)) : full;
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
    'The batch row (64 B and 4 KiB) copies each message in with send() and takes every ready one per receiveBatch().',
  async run(ctx: Context) {
    const { quick } = ctx.options;
    const sizes = [64, 4096, 1 << 20];
    const repeats = quick ? 1 : 5;
    const skipped: Skip[] = [
      { contender: 'zeromq (push/pull over ipc://), node-ipc', reason: 'not in bench/package.json yet' },
      { contender: 'C memfd ring (spin, futex, eventfd)', reason: 'not written yet' },
      { contender: 'Eclipse iceoryx (C binding)', reason: 'not installed by the bench yet' },
    ];
    const notes: string[] = [];
    const plan: IpcTrial[] = [];
    for (const across of ['threads', 'processes'] as const) {
      for (const measure of ['throughput', 'latency'] as const) {
        for (const size of sizes) {
          for (const contender of CONTENDERS) {
            if (!contender.across.includes(across)) continue;
            if (contender.sizes !== undefined && !contender.sizes.includes(size)) continue;
            plan.push({ transport: contender.id, across, measure, size, count: counts(size, measure, quick) });
          }
        }
      }
    }
    ctx.progress.plan(plan.length * repeats);
    const samples = new Map<string, Sample[]>();
    const key = (t: IpcTrial) => `${t.across}/${t.measure}/${t.size}/${t.transport}`;
    for (let repeat = 0; repeat < repeats; repeat++) {
      for (const spec of plan) {
        ctx.progress.step(
          `${spec.transport}, ${spec.across}, ${spec.measure}, ${formatBytes(spec.size)} (${repeat + 1}/${repeats})`,
        );
        try {
          const sample = await trial(spec);
          samples.set(key(spec), [...(samples.get(key(spec)) ?? []), sample]);
        } catch (error) {
          notes.push(
            `${spec.transport} ${spec.across} ${spec.measure} ${formatBytes(spec.size)}: ${(error as Error).message}`,
          );
        }
      }
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
          const contenders = CONTENDERS.filter(
            (c) => c.across.includes(across) && (c.sizes === undefined || c.sizes.includes(size)),
          );
          groups.push(
            buildGroup(
              `ipc-${across}-${measure}-${size}`,
              `${across === 'threads' ? 'Two threads' : 'Two processes'}, ${measure === 'throughput' ? 'pipelined' : 'ping-pong'}, ${formatBytes(size)}`,
              BASELINE[across],
              measure === 'throughput' ? THROUGHPUT : LATENCY,
              contenders.map((c) => ({
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
