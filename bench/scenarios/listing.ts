import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { buildGroup, fmt, median, times } from '../lib/group.js';
import { BENCH_DIR, CLI_MAIN } from '../lib/paths.js';
import { freePort, startServer } from '../lib/proc.js';
import type { Context, Metric, Sample, Scenario, Skip } from '../lib/types.js';
import { type HttpLoad, loadTrial, statusOf } from './servers.js';

const METRICS: Metric[] = [
  { key: 'reqPerS', label: 'Requests/s', unit: '/s', better: 'higher', chart: true },
  { key: 'p99Ms', label: 'p99 latency', unit: 'ms', better: 'lower' },
  { key: 'serverCpuUsPerReq', label: 'Server CPU per request', unit: 'µs', better: 'lower', chart: true },
];

const ENTRIES = 1000;
const SERVE_MAIN = join(BENCH_DIR, 'node_modules', 'serve', 'build', 'main.js');

interface ListingServer {
  id: string;
  label: string;
  kind: 'zerocopy' | 'peer';
  args(root: string, port: number): string[];
}

const SERVERS: ListingServer[] = [
  {
    id: 'zerocopy-serve',
    label: 'zerocopy serve',
    kind: 'zerocopy',
    args: (root, port) => [CLI_MAIN, 'serve', root, '--port', String(port), '--host', '127.0.0.1', '--log', 'off'],
  },
  {
    id: 'serve',
    label: 'serve (npm, serve-handler)',
    kind: 'peer',
    // No request log, no clipboard; compression stays on as users run it (wrk asks for none).
    args: (root, port) => [SERVE_MAIN, root, '-l', `tcp://127.0.0.1:${port}`, '-L', '-n'],
  },
];

/** A directory of ENTRIES files with ordinary names and sizes, as a build output folder has. */
function listingDir(dataDir: string): string {
  const dir = join(dataDir, 'listing', 'files');
  mkdirSync(dir, { recursive: true });
  for (let i = 0; i < ENTRIES; i++) writeFileSync(join(dir, `asset-${String(i).padStart(4, '0')}.js`), 'x'.repeat(i));
  return join(dataDir, 'listing');
}

export const listing: Scenario = {
  id: 'listing',
  title: '8. Directory listing of 1,000 entries',
  description:
    `The HTML listing of a directory of ${ENTRIES.toLocaleString('en-US')} files, as zerocopy serve (on by default ` +
    'where there is no index file) and serve (npm) answer it, 16 connections (wrk -t1 -c16): requests/s, p99 latency ' +
    'and server CPU per request (utime+stime of the server’s process tree from /proc).',
  async run(ctx: Context) {
    const { quick } = ctx.options;
    const skipped: Skip[] = [];
    const notes: string[] = [];
    if (ctx.tools.wrk === null) {
      skipped.push({ contender: 'every server (wrk is the load tool)', reason: ctx.tools.missing.wrk ?? 'no wrk' });
      return { groups: [], skipped, notes };
    }
    const root = listingDir(ctx.dataDir);
    const load: HttpLoad = { paths: ['/files/'], connections: 16, threads: 1, durationS: quick ? 1 : 5 };
    const repeats = quick ? 1 : 3;
    if (quick) notes.push('--quick: 1 s per wrk run, one repeat, no warm-up run.');
    ctx.progress.plan(repeats * SERVERS.length);
    const samples = new Map<string, Sample[]>();
    const failed = new Set<string>();
    for (let repeat = 0; repeat < repeats; repeat++) {
      for (const spec of SERVERS.filter((s) => !failed.has(s.id))) {
        ctx.progress.step(`${spec.label}: listing of ${ENTRIES} entries (repeat ${repeat + 1}/${repeats})`);
        let server: Awaited<ReturnType<typeof startServer>>;
        try {
          const port = await freePort();
          server = await startServer(process.execPath, spec.args(root, port), port, {
            env: { ...process.env, NODE_ENV: 'production' },
          });
        } catch (error) {
          failed.add(spec.id);
          skipped.push({ contender: spec.label, reason: `did not start: ${(error as Error).message}` });
          continue;
        }
        try {
          const status = await statusOf(server, load);
          if (status !== 200) throw new Error(`answers ${status} to GET /files/`);
          if (!quick) await loadTrial(ctx, server, { ...load, durationS: 1 }).catch(() => undefined);
          samples.set(spec.id, [...(samples.get(spec.id) ?? []), await loadTrial(ctx, server, load)]);
        } catch (error) {
          failed.add(spec.id);
          notes.push(`${spec.label}: ${(error as Error).message}`);
        } finally {
          await server.stop();
        }
      }
    }
    const group = buildGroup(
      'listing-1000',
      `Listing of ${ENTRIES.toLocaleString('en-US')} entries, 16 connections (wrk -t1 -c16)`,
      'serve',
      METRICS,
      SERVERS.map((s) => ({ id: s.id, label: s.label, kind: s.kind, samples: samples.get(s.id) ?? [] })),
      ['Ratios against serve (>1 is better).'],
    );
    const ours = median(group, 'zerocopy-serve', 'reqPerS');
    const theirs = median(group, 'serve', 'reqPerS');
    const ratio = ours !== undefined && theirs !== undefined && theirs > 0 ? ours / theirs : undefined;
    const met = ratio === undefined ? 'n/a' : ratio >= 3 ? 'met' : 'NOT met';
    const headline = [
      ours === undefined
        ? 'zerocopy serve did not run'
        : `Listing of ${ENTRIES} entries: zerocopy serve ${fmt(ours)} requests/s, ${times(ratio)} serve (target ≥ 3x: ${met})`,
    ];
    return { groups: [group], skipped, notes, headline };
  },
};
