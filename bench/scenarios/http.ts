import { formatBytes, testFile, warmPageCache } from '../lib/files.js';
import { buildGroup, fmt, median, times } from '../lib/group.js';
import { freePort } from '../lib/proc.js';
import type { Context, Group, Metric, Sample, Scenario, Skip } from '../lib/types.js';
import { availableServers, HTTP_BASELINE, type HttpLoad, loadTrial } from './servers.js';

const LARGE: Metric[] = [
  { key: 'gbps', label: 'Throughput', unit: 'GB/s', better: 'higher', chart: true },
  { key: 'serverCpuSPerGB', label: 'Server CPU per GB', unit: 's/GB', better: 'lower', chart: true },
  { key: 'serverUserS', label: 'Server user CPU', unit: 's', better: 'lower' },
  { key: 'serverSysS', label: 'Server sys CPU', unit: 's', better: 'lower' },
  { key: 'serverVoluntaryCtx', label: 'Server voluntary ctx', unit: '', better: 'lower' },
  { key: 'serverInvoluntaryCtx', label: 'Server involuntary ctx', unit: '', better: 'lower' },
];
const SMALL: Metric[] = [
  { key: 'reqPerS', label: 'Requests/s', unit: '/s', better: 'higher', chart: true },
  { key: 'p99Ms', label: 'p99 latency', unit: 'ms', better: 'lower', chart: true },
  { key: 'serverCpuUsPerReq', label: 'Server CPU per request', unit: 'µs', better: 'lower' },
  { key: 'serverVoluntaryCtx', label: 'Server voluntary ctx', unit: '', better: 'lower' },
  { key: 'serverInvoluntaryCtx', label: 'Server involuntary ctx', unit: '', better: 'lower' },
];

// The C client measures no latency.
const SMALL_SERVER_BOUND = SMALL.filter((m) => m.key !== 'p99Ms');

interface Workload {
  id: string;
  title: string;
  size: number;
  load: HttpLoad;
  metrics: Metric[];
}

/** The same workload with the C client that discards bodies in the kernel: the server is the bottleneck. */
function serverBound(workload: Workload): Workload {
  return {
    ...workload,
    id: `${workload.id}-discard`,
    title: workload.title.replace(/ \(wrk [^)]*\)$/, ', a client that discards in the kernel (server-bound)'),
    load: { ...workload.load, client: 'discard' },
    metrics: workload.metrics === SMALL ? SMALL_SERVER_BOUND : workload.metrics,
  };
}

export const http: Scenario = {
  id: 'http',
  title: '3. HTTP: large and small static files',
  description:
    'The same files served by nginx (sendfile on and off, one worker), express.static, @fastify/static, a plain ' +
    'node:http createReadStream().pipe(res) server, Bun and zerocopy serve, each in its own process on 127.0.0.1, ' +
    'loaded by wrk in the same run. Large files: one connection, throughput and server CPU-seconds per GB; the ' +
    'largest also with a C client that discards bodies in the kernel (recv with MSG_TRUNC), because wrk copies ' +
    'every byte and is the bottleneck on one connection whoever serves. ' +
    'Small files: 64 connections, requests/s, p99 latency and server CPU per request. Server CPU is utime+stime ' +
    'of the server’s process tree from /proc/<pid>/stat, context switches from /proc/<pid>/task/*/status.',
  async run(ctx: Context) {
    const { quick } = ctx.options;
    const skipped: Skip[] = [];
    const notes: string[] = [];
    if (ctx.tools.wrk === null) {
      skipped.push({
        contender: 'every HTTP server (wrk is the load tool)',
        reason: ctx.tools.missing.wrk ?? 'no wrk',
      });
      return { groups: [], skipped, notes };
    }
    const servers = await availableServers(ctx, skipped);
    const root = `${ctx.dataDir}/http`;
    const largeSizes = quick ? [32 << 20] : [1 << 30, 100 << 20];
    const smallSizes = quick ? [4 << 10] : [4 << 10, 64 << 10];
    const largeS = quick ? 1 : 4;
    const smallS = quick ? 1 : 3;
    const warmS = quick ? 0 : 1;
    const repeats = quick ? 1 : 3;
    if (quick) notes.push('--quick: one 32 MiB and one 4 KiB file, 1 s per wrk run, one repeat, no warm-up run.');
    const large: Workload[] = largeSizes.map((size) => ({
      id: `large-${size}`,
      title: `${formatBytes(size)} file, 1 connection (wrk -t1 -c1)`,
      size,
      load: { paths: [`/large-${size}.bin`], connections: 1, threads: 1, durationS: largeS },
      metrics: LARGE,
    }));
    const small: Workload[] = smallSizes.map((size) => ({
      id: `small-${size}`,
      title: `${formatBytes(size)} file, 64 connections (wrk -t1 -c64)`,
      size,
      load: { paths: [`/small-${size}.bin`], connections: 64, threads: 1, durationS: smallS },
      metrics: SMALL,
    }));
    // wrk's one thread copies every byte it reads and fills its core near 2.4 GB/s: on one
    // connection, and with 64 KiB files, it is the bottleneck rather than the servers.
    const withSender = (list: Workload[]) => (ctx.tools.sender === null ? [] : list.map(serverBound));
    const workloads: Workload[] = [
      ...large,
      ...withSender(large.slice(0, 1)),
      ...small,
      ...withSender(small.filter((w) => w.size >= 64 << 10)),
    ];
    for (const w of workloads) warmPageCache(testFile(root, w.load.paths[0]!.slice(1), w.size));
    const smallWorkloads = workloads.filter((w) => w.metrics !== LARGE).length;
    ctx.progress.plan(
      repeats * servers.reduce((sum, s) => sum + (s.smallFilesOnly === true ? smallWorkloads : workloads.length), 0),
    );

    const samples = new Map<string, Sample[]>();
    const failed = new Set<string>();
    // A fresh server process per repeat; servers take turns so drift hits them alike.
    for (let repeat = 0; repeat < repeats; repeat++) {
      for (const spec of servers.filter((s) => !failed.has(s.id))) {
        let server: Awaited<ReturnType<typeof spec.start>>;
        try {
          server = await spec.start(root, await freePort());
        } catch (error) {
          failed.add(spec.id);
          skipped.push({ contender: spec.label, reason: `did not start: ${(error as Error).message}` });
          continue;
        }
        try {
          for (const w of workloads) {
            if (spec.smallFilesOnly === true && w.metrics === LARGE) continue;
            ctx.progress.step(`${spec.label}: ${w.title} (repeat ${repeat + 1}/${repeats})`);
            const key = `${w.id}/${spec.id}`;
            try {
              // A warm-up too short to finish one large response still warms the server; ignore its figures.
              if (warmS > 0) await loadTrial(ctx, server, { ...w.load, durationS: warmS }).catch(() => undefined);
              const sample = await loadTrial(ctx, server, w.load);
              samples.set(key, [...(samples.get(key) ?? []), sample]);
            } catch (error) {
              notes.push(`${spec.label}, ${w.title}: ${(error as Error).message}`);
            }
          }
        } finally {
          await server.stop();
        }
      }
    }

    const groups: Group[] = workloads.map((w) =>
      buildGroup(
        `http-${w.id}`,
        w.title,
        HTTP_BASELINE,
        w.metrics,
        servers.map((s) => ({ id: s.id, label: s.label, kind: s.kind, samples: samples.get(`${w.id}/${s.id}`) ?? [] })),
        ['Ratios against the plain node:http createReadStream().pipe(res) server (>1 is better).'],
      ),
    );
    // The targets are ratios against nginx (sendfile on) and express.static in the same run.
    const ratio = (g: Group, key: string, id: string) => {
      const ours = median(g, 'zerocopy-serve', key);
      const theirs = median(g, id, key);
      return ours !== undefined && theirs !== undefined && theirs > 0 ? ours / theirs : undefined;
    };
    const verdict = (value: number | undefined, ok: (v: number) => boolean) =>
      value === undefined || !Number.isFinite(value) ? 'n/a' : ok(value) ? 'met' : 'NOT met';
    const headline = groups.map((g, index) => {
      const large = workloads[index]?.metrics === LARGE;
      const metric = g.metrics[0]!;
      const vsNginx = ratio(g, metric.key, 'nginx-sendfile');
      const vsExpress = ratio(g, metric.key, 'express');
      const ours = median(g, 'zerocopy-serve', metric.key);
      if (ours === undefined) return `${g.title}: zerocopy serve did not run`;
      const base =
        `${g.title}: zerocopy serve ${fmt(ours)} ${metric.unit}, ${times(vsNginx)} nginx ` +
        `(target ≥ 1.1x: ${verdict(vsNginx, (v) => v >= 1.1)}), ${times(vsExpress)} express.static ` +
        `(target ≥ ${large ? '2.5' : '16'}x: ${verdict(vsExpress, (v) => v >= (large ? 2.5 : 16))})`;
      if (!large) {
        const ceiling = ratio(g, metric.key, 'node-memory');
        return `${base}; ${times(ceiling)} a node:http server answering from memory`;
      }
      const cpu = ratio(g, 'serverCpuSPerGB', 'nginx-sendfile');
      return `${base}; server CPU per GB ${times(cpu)} nginx's (target ≤ 0.9x: ${verdict(cpu, (v) => v <= 0.9)})`;
    });
    return { groups, skipped, notes, headline };
  },
};
