// Scenario "workers": zerocopy serve and zerocopy proxy with --workers 2 under each --balance
// policy (cluster round-robin, one shared socket, SO_REUSEPORT), loaded by wrk: requests/s and
// how evenly the work spread over the workers.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { reusePortSupported } from '../../src/cli/workers.js';
import { formatBytes } from '../lib/files.js';
import { buildGroup, fmt, interleave, median } from '../lib/group.js';
import { CLI_MAIN } from '../lib/paths.js';
import { descendants, freePort, procUsage, type Server, startServer } from '../lib/proc.js';
import type { Context, Group, Metric, Sample, Scenario, Skip } from '../lib/types.js';
import { type HttpLoad, loadTrial } from './servers.js';

const METRICS: Metric[] = [
  { key: 'reqPerS', label: 'Requests/s', unit: 'req/s', better: 'higher', chart: true },
  { key: 'p99Ms', label: 'p99 latency', unit: 'ms', better: 'lower' },
  { key: 'busiestShare', label: 'Busiest worker share of worker CPU', unit: '%', better: 'lower' },
  { key: 'primaryCpuS', label: 'Primary CPU', unit: 's', better: 'lower' },
  { key: 'serverCpuUsPerReq', label: 'CPU per request (all processes)', unit: 'µs', better: 'lower' },
];

const WORKERS = 2;
const FILE_SIZE = 4096;

type Balance = 'rr' | 'shared' | 'reuseport';
const POLICIES: { id: Balance; label: string }[] = [
  { id: 'rr', label: 'rr: cluster round-robin (the primary accepts, hands out over IPC)' },
  { id: 'shared', label: 'shared: cluster SCHED_NONE (every worker accepts on one socket)' },
  { id: 'reuseport', label: 'reuseport: SO_REUSEPORT (a socket per worker, the kernel hashes)' },
];

interface Workload {
  id: string;
  title: string;
  load: HttpLoad;
}

/** CPU seconds of each worker (children of the primary) and of the primary alone. */
function cpuByProcess(primary: number): { primary: number; workers: Map<number, number> } {
  const cpu = (pid: number) => {
    const usage = procUsage(pid);
    return usage.userS + usage.sysS;
  };
  const workers = new Map<number, number>();
  let total = 0;
  for (const pid of descendants(primary)) {
    // Only direct workers: procUsage() of a worker already counts anything it started.
    try {
      const ppid = Number(readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ')[1]);
      if (ppid !== primary) continue;
    } catch {
      continue;
    }
    const used = cpu(pid);
    workers.set(pid, used);
    total += used;
  }
  return { primary: cpu(primary) - total, workers };
}

async function trial(ctx: Context, server: Server, load: HttpLoad): Promise<Sample> {
  const before = cpuByProcess(server.pid);
  const sample = await loadTrial(ctx, server, load);
  const after = cpuByProcess(server.pid);
  const used = [...after.workers].map(([pid, cpu]) => cpu - (before.workers.get(pid) ?? 0));
  const sum = used.reduce((a, b) => a + b, 0);
  return {
    ...sample,
    busiestShare: sum > 0 ? (100 * Math.max(...used)) / sum : Number.NaN,
    primaryCpuS: after.primary - before.primary,
  };
}

export const workers: Scenario = {
  id: 'workers',
  title: '9. Workers: how --workers 2 shares connections under each --balance',
  description:
    `zerocopy serve (a ${formatBytes(FILE_SIZE)} file) and zerocopy proxy (in front of one zerocopy serve) with ` +
    `--workers ${WORKERS} and --balance rr, shared and reuseport, loaded by wrk with 64 keep-alive connections and ` +
    'with a new connection per request (Connection: close), interleaved. The spread is the busiest worker’s share ' +
    'of the workers’ CPU over the run (50% is even); the primary’s CPU is what round-robin costs it. CPU from ' +
    '/proc/<pid>/stat.',
  async run(ctx: Context) {
    const { quick } = ctx.options;
    const skipped: Skip[] = [];
    const notes: string[] = [];
    if (ctx.tools.wrk === null) {
      skipped.push({
        contender: 'the whole scenario (wrk is the load tool)',
        reason: ctx.tools.missing.wrk ?? 'no wrk',
      });
      return { groups: [], skipped, notes };
    }
    const policies = POLICIES.filter((policy) => {
      if (policy.id !== 'reuseport' || reusePortSupported()) return true;
      skipped.push({
        contender: policy.label,
        reason: `Node ${process.version} has no listen({ reusePort }) (22.12+)`,
      });
      return false;
    });
    const durationS = quick ? 1 : 4;
    const repeats = quick ? 1 : 3;
    if (quick) notes.push('--quick: 1 s per wrk run, one repeat.');
    const workloads: Workload[] = [
      {
        id: 'keepalive',
        title: `64 keep-alive connections (wrk -t1 -c64)`,
        load: { paths: ['/small.bin'], connections: 64, threads: 1, durationS },
      },
      {
        id: 'close',
        title: `a new connection per request, 16 at once (wrk -t1 -c16, Connection: close)`,
        load: { paths: ['/small.bin'], connections: 16, threads: 1, durationS, headers: { Connection: 'close' } },
      },
    ];
    const commands = ['serve', 'proxy'] as const;
    ctx.progress.plan(commands.length * workloads.length * policies.length * repeats);

    const root = join(ctx.workDir, 'workers-root');
    mkdirSync(root, { recursive: true });
    writeFileSync(join(root, 'small.bin'), Buffer.alloc(FILE_SIZE, 5));
    const serveArgs = (port: number) => [CLI_MAIN, 'serve', root, '--port', String(port), '--log', 'off'];

    // The proxy's upstream: one zerocopy serve process, shared by every proxy row.
    const upstreamPort = await freePort();
    const upstream = await startServer(process.execPath, serveArgs(upstreamPort), upstreamPort);
    const groups: Group[] = [];
    try {
      for (const command of commands) {
        for (const workload of workloads) {
          const samples = new Map<Balance, Sample[]>();
          for (const { contender: policy, repeat } of interleave(policies, repeats)) {
            ctx.progress.step(`${command} ${workload.id} ${policy.id} (${repeat + 1}/${repeats})`);
            const port = await freePort();
            const extra = ['--workers', String(WORKERS), '--balance', policy.id];
            const server =
              command === 'serve'
                ? await startServer(process.execPath, [...serveArgs(port), ...extra], port)
                : await startServer(
                    process.execPath,
                    [
                      CLI_MAIN,
                      'proxy',
                      '--listen',
                      `127.0.0.1:${port}`,
                      '--to',
                      `127.0.0.1:${upstreamPort}`,
                      '--log',
                      'off',
                      ...extra,
                    ],
                    port,
                    { noConnect: true },
                  );
            try {
              // Every worker listens before the load starts (the first one answers the readiness check).
              await new Promise((resolve) => setTimeout(resolve, 500));
              const sample = await trial(ctx, server, workload.load);
              samples.set(policy.id, [...(samples.get(policy.id) ?? []), sample]);
            } catch (error) {
              notes.push(`${command} ${workload.id} ${policy.id}, repeat ${repeat + 1}: ${(error as Error).message}`);
            } finally {
              await server.stop();
            }
          }
          groups.push(
            buildGroup(
              `workers-${command}-${workload.id}`,
              `zerocopy ${command} --workers ${WORKERS}: ${workload.title}`,
              'rr',
              METRICS,
              policies.map((policy) => ({
                id: policy.id,
                label: policy.label,
                kind: 'zerocopy' as const,
                samples: samples.get(policy.id) ?? [],
              })),
              ['Ratios are medians against --balance rr in the same run (>1 is better).'],
            ),
          );
        }
      }
    } finally {
      await upstream.stop();
    }
    const headline = groups.map((group) => {
      const best = policies
        .map((policy) => ({ id: policy.id, rate: median(group, policy.id, 'reqPerS') }))
        .filter((row): row is { id: Balance; rate: number } => row.rate !== undefined)
        .sort((a, b) => b.rate - a.rate);
      const rows = best
        .map((row) => `${row.id} ${fmt(row.rate, 0)} req/s (busiest ${fmt(median(group, row.id, 'busiestShare'), 0)}%)`)
        .join(', ');
      return `${group.title}: ${rows}.`;
    });
    notes.push(
      'Defaults: serve --balance reuseport (rr where Node lacks listen({ reusePort })), proxy --balance rr. ' +
        'These rows are what would flip them.',
    );
    return { groups, skipped, notes, headline };
  },
};
