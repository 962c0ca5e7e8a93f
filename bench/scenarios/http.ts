import { statSync } from 'node:fs';

import { formatBytes, testFile, warmPageCache } from '../lib/files.js';
import { buildGroup, fmt, median, times } from '../lib/group.js';
import { freePort } from '../lib/proc.js';
import type { Context, Group, Metric, Sample, Scenario, Skip } from '../lib/types.js';
import {
  availableServers,
  HTTP_BASELINE,
  type HttpLoad,
  loadTrial,
  type ServerSpec,
  statusOf,
  ZEROCOPY_SERVE_IO_URING,
  ZEROCOPY_SERVE_JS,
} from './servers.js';

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
  /** The status every answer must have (checked once per server); a server that answers otherwise is skipped. */
  status?: number;
  /** The targets: ratios to nginx (sendfile on) and to express.static. */
  targets?: { nginx: number; express: number };
  /** The row ratios are taken against, when not the plain stream server (which knows no Range or condition). */
  baseline?: string;
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
    'node:http createReadStream().pipe(res) server, Bun and zerocopy serve (with its native front, and with ' +
    '--no-native-front, every request answered in JavaScript), each in its own process on 127.0.0.1, ' +
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
      targets: { nginx: 1.1, express: 2.5 },
    }));
    const small: Workload[] = smallSizes.map((size) => ({
      id: `small-${size}`,
      title: `${formatBytes(size)} file, 64 connections (wrk -t1 -c64)`,
      size,
      load: { paths: [`/small-${size}.bin`], connections: 64, threads: 1, durationS: smallS },
      metrics: SMALL,
      targets: { nginx: 1.1, express: 16 },
    }));
    // What browsers and video players send most after plain GETs: revalidations and ranges.
    const smallest = small[0]!;
    const largest = large[0]!;
    const smallestDate = new Date(statSync(testFile(root, smallest.load.paths[0]!.slice(1), smallest.size)).mtimeMs);
    const rangeStart = Math.min(1 << 20, largest.size - (64 << 10));
    const conditional: Workload[] = [
      {
        id: `not-modified-${smallest.size}`,
        // nginx's default (`if_modified_since exact`) answers 304 only to the exact date.
        title: `${formatBytes(smallest.size)} file revalidated (If-Modified-Since: its date) to 304, 64 connections (wrk -t1 -c64)`,
        size: smallest.size,
        load: { ...smallest.load, headers: { 'If-Modified-Since': smallestDate.toUTCString() } },
        metrics: SMALL,
        status: 304,
        baseline: 'express',
      },
      {
        id: `range-${largest.size}`,
        title: `64 KiB range of the ${formatBytes(largest.size)} file, 64 connections (wrk -t1 -c64)`,
        size: largest.size,
        load: {
          ...smallest.load,
          paths: largest.load.paths,
          headers: { Range: `bytes=${rangeStart}-${rangeStart + (64 << 10) - 1}` },
        },
        metrics: SMALL,
        status: 206,
        baseline: 'express',
      },
    ];
    // wrk's one thread copies every byte it reads and fills its core near 2.4 GB/s: on one
    // connection, and with 64 KiB files, it is the bottleneck rather than the servers.
    const withSender = (list: Workload[]) => (ctx.tools.sender === null ? [] : list.map(serverBound));
    const workloads: Workload[] = [
      ...large,
      ...withSender(large.slice(0, 1)),
      ...small,
      ...withSender(small.filter((w) => w.size >= 64 << 10)),
      ...conditional,
      ...withSender(conditional.filter((w) => w.status === 206)),
    ];
    for (const w of workloads) warmPageCache(testFile(root, w.load.paths[0]!.slice(1), w.size));
    // A server that keeps whole files in memory is given the small ones only.
    const runs = (spec: ServerSpec, w: Workload) => spec.smallFilesOnly !== true || w.size <= 64 << 10;
    ctx.progress.plan(repeats * servers.reduce((sum, s) => sum + workloads.filter((w) => runs(s, w)).length, 0));
    // Workloads a server answers with another status than asked for (it ignores Range or conditions).
    const wrongStatus = new Set<string>();

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
            if (!runs(spec, w)) continue;
            ctx.progress.step(`${spec.label}: ${w.title} (repeat ${repeat + 1}/${repeats})`);
            const key = `${w.id}/${spec.id}`;
            if (wrongStatus.has(key)) continue;
            try {
              if (w.status !== undefined && repeat === 0) {
                const status = await statusOf(server, w.load);
                if (status !== w.status) {
                  wrongStatus.add(key);
                  skipped.push({
                    contender: `${spec.label}, ${w.title}`,
                    reason: `answers ${status}, not ${w.status}`,
                  });
                  continue;
                }
              }
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
        w.baseline ?? HTTP_BASELINE,
        w.metrics,
        servers.map((s) => ({ id: s.id, label: s.label, kind: s.kind, samples: samples.get(`${w.id}/${s.id}`) ?? [] })),
        [
          w.baseline === undefined
            ? 'Ratios against the plain node:http createReadStream().pipe(res) server (>1 is better).'
            : `Ratios against ${servers.find((s) => s.id === w.baseline)?.label ?? w.baseline} (>1 is better).`,
        ],
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
    // The io_uring engine's target: on small files, ≥ 1.25x the epoll front's requests/s at
    // ≤ 0.8x its server CPU per request.
    const engineLine = (g: Group): string | undefined => {
      const rate = (id: string, key: string) => median(g, id, key);
      const ring = rate(ZEROCOPY_SERVE_IO_URING, 'reqPerS');
      const epoll = rate('zerocopy-serve', 'reqPerS');
      if (ring === undefined || epoll === undefined || epoll <= 0) return undefined;
      const ringCpu = rate(ZEROCOPY_SERVE_IO_URING, 'serverCpuUsPerReq');
      const epollCpu = rate('zerocopy-serve', 'serverCpuUsPerReq');
      const cpu = ringCpu !== undefined && epollCpu !== undefined && epollCpu > 0 ? ringCpu / epollCpu : undefined;
      const nginx = rate('nginx-sendfile', 'reqPerS');
      return (
        `${g.title}: --engine io_uring ${fmt(ring)} req/s, ${times(ring / epoll)} the epoll front ` +
        `(target ≥ 1.25x: ${verdict(ring / epoll, (v) => v >= 1.25)}), CPU per request ${times(cpu)} its ` +
        `(target ≤ 0.8x: ${verdict(cpu, (v) => v <= 0.8)})` +
        (nginx === undefined || nginx <= 0 ? '' : `, ${times(ring / nginx)} nginx`)
      );
    };
    const headline = groups.map((g, index) => {
      const workload = workloads[index]!;
      const large = workload.metrics === LARGE;
      const metric = g.metrics[0]!;
      const vsNginx = ratio(g, metric.key, 'nginx-sendfile');
      const vsExpress = ratio(g, metric.key, 'express');
      const ours = median(g, 'zerocopy-serve', metric.key);
      if (ours === undefined) return `${g.title}: zerocopy serve did not run`;
      const target = (value: number | undefined, wanted: number | undefined) =>
        wanted === undefined ? '' : ` (target ≥ ${wanted}x: ${verdict(value, (v) => v >= wanted)})`;
      const vsJs = ratio(g, metric.key, ZEROCOPY_SERVE_JS);
      const base =
        `${g.title}: zerocopy serve ${fmt(ours)} ${metric.unit}, ${times(vsNginx)} nginx` +
        `${target(vsNginx, workload.targets?.nginx)}, ${times(vsExpress)} express.static` +
        target(vsExpress, workload.targets?.express) +
        (vsJs === undefined ? '' : `, ${times(vsJs)} its JavaScript path (--no-native-front)`);
      if (!large) {
        const ceiling = ratio(g, metric.key, 'node-memory');
        return ceiling === undefined ? base : `${base}; ${times(ceiling)} a node:http server answering from memory`;
      }
      const cpu = ratio(g, 'serverCpuSPerGB', 'nginx-sendfile');
      return `${base}; server CPU per GB ${times(cpu)} nginx's (target ≤ 0.9x: ${verdict(cpu, (v) => v <= 0.9)})`;
    });
    for (const g of groups) {
      const line = engineLine(g);
      if (line !== undefined) headline.push(line);
    }
    return { groups, skipped, notes, headline };
  },
};
