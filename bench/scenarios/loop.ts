import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

import { formatBytes, testFile, warmPageCache } from '../lib/files.js';
import { buildGroup, fmt } from '../lib/group.js';
import { freePort, run, type Server } from '../lib/proc.js';
import type { Context, Group, Metric, Sample, Scenario, Skip } from '../lib/types.js';
import { availableServers, HTTP_BASELINE, loadTrial } from './servers.js';

const METRICS: Metric[] = [
  { key: 'loopP99Ms', label: 'Event-loop delay p99', unit: 'ms', better: 'lower', chart: true },
  { key: 'loopP50Ms', label: 'Event-loop delay p50', unit: 'ms', better: 'lower' },
  { key: 'loopMaxMs', label: 'Event-loop delay max', unit: 'ms', better: 'lower' },
  { key: 'gbps', label: 'Throughput', unit: 'GB/s', better: 'higher', chart: true },
  { key: 'serverCpuSPerGB', label: 'Server CPU per GB', unit: 's/GB', better: 'lower' },
];

/** Asks the server for its loop-delay histogram since the last ask (SIGUSR2 -> a JSON file). */
async function loopDelay(server: Server, out: string): Promise<Record<string, number>> {
  rmSync(out, { force: true });
  process.kill(server.pid, 'SIGUSR2');
  for (let i = 0; i < 100 && !existsSync(out); i++) await sleep(20);
  await sleep(20);
  if (!existsSync(out)) throw new Error('the server did not report its event-loop delay');
  return JSON.parse(readFileSync(out, 'utf8')) as Record<string, number>;
}

async function dropCaches(): Promise<string | null> {
  await run('sync', [], { timeoutMs: 60_000 });
  try {
    writeFileSync('/proc/sys/vm/drop_caches', '3');
    return null;
  } catch (error) {
    return `cannot write /proc/sys/vm/drop_caches (${(error as NodeJS.ErrnoException).code ?? 'error'})`;
  }
}

export const loop: Scenario = {
  id: 'loop',
  title: '4. Event-loop health while serving large files',
  description:
    'Event-loop delay (perf_hooks monitorEventLoopDelay, loaded into the server process with --import) of the ' +
    'Node servers while 16 clients (wrk -t2 -c16) fetch 16 different large files, first from the page cache (hot), ' +
    'then right after `echo 3 > /proc/sys/vm/drop_caches` (cold). A server that reads the disk on its event-loop ' +
    'thread shows it here.',
  async run(ctx: Context) {
    const { quick } = ctx.options;
    const skipped: Skip[] = [];
    const notes: string[] = [];
    if (ctx.tools.wrk === null) {
      skipped.push({ contender: 'every server (wrk is the load tool)', reason: ctx.tools.missing.wrk ?? 'no wrk' });
      return { groups: [], skipped, notes };
    }
    const all = await availableServers(ctx, []);
    // The plain stream server always; zerocopy serve when it exists (its absence is reported by scenario 3 too).
    const servers = all.filter((s) => s.id === HTTP_BASELINE || s.id === 'zerocopy-serve');
    if (!servers.some((s) => s.id === 'zerocopy-serve')) {
      skipped.push({ contender: 'zerocopy serve', reason: '`zerocopy serve` is not available yet (see scenario 3)' });
    }
    const root = join(ctx.dataDir, 'loop');
    const size = quick ? 8 << 20 : 64 << 20;
    const files = 16;
    const paths = Array.from({ length: files }, (_, i) => `/loop-${size}-${i}.bin`);
    for (const p of paths) testFile(root, p.slice(1), size);
    const durationS = quick ? 1 : 4;
    const repeats = quick ? 1 : 3;
    const probe = await dropCaches();
    const modes: ('hot' | 'cold')[] = probe === null ? ['hot', 'cold'] : ['hot'];
    if (probe !== null) skipped.push({ contender: 'cold-cache runs', reason: probe });
    ctx.progress.plan(repeats * servers.length * modes.length);
    const out = join(ctx.workDir, 'loop-delay.json');
    const samples = new Map<string, Sample[]>();

    for (let repeat = 0; repeat < repeats; repeat++) {
      for (const spec of servers) {
        for (const mode of modes) {
          ctx.progress.step(`${spec.label}, ${mode} cache (repeat ${repeat + 1}/${repeats})`);
          if (mode === 'hot') for (const p of paths) warmPageCache(join(root, p.slice(1)));
          else await dropCaches();
          let server: Server;
          try {
            server = await spec.start(root, await freePort(), out);
          } catch (error) {
            notes.push(`${spec.label} did not start: ${(error as Error).message}`);
            continue;
          }
          try {
            await loopDelay(server, out);
            const sample = await loadTrial(ctx, server, { paths, connections: 16, threads: 2, durationS });
            const delay = await loopDelay(server, out);
            sample.loopP50Ms = delay.p50 ?? Number.NaN;
            sample.loopP99Ms = delay.p99 ?? Number.NaN;
            sample.loopMaxMs = delay.max ?? Number.NaN;
            const key = `${mode}/${spec.id}`;
            samples.set(key, [...(samples.get(key) ?? []), sample]);
          } catch (error) {
            notes.push(`${spec.label}, ${mode}: ${(error as Error).message}`);
          } finally {
            await server.stop();
          }
        }
      }
    }
    const groups: Group[] = modes.map((mode) =>
      buildGroup(
        `loop-${mode}`,
        `${mode === 'hot' ? 'Hot' : 'Cold'} cache: 16 clients, 16 files of ${formatBytes(size)}`,
        HTTP_BASELINE,
        METRICS,
        servers.map((s) => ({ id: s.id, label: s.label, kind: s.kind, samples: samples.get(`${mode}/${s.id}`) ?? [] })),
        ['monitorEventLoopDelay samples every 1 ms: figures include that interval, so an idle loop reads about 1 ms.'],
      ),
    );
    const headline = groups.map(
      (g) =>
        `${g.title}: ` +
        g.rows
          .map(
            (r) =>
              `${r.label} loop delay p50 ${fmt(r.summary.loopP50Ms?.median)} ms, p99 ${fmt(r.summary.loopP99Ms?.median)} ms, ` +
              `${fmt(r.summary.gbps?.median)} GB/s`,
          )
          .join('; '),
    );
    return { groups, skipped, notes, headline };
  },
};
