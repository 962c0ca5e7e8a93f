// A web app's assets served compressed: what a browser asks of a static server most.
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { brotliCompressSync, gzipSync, constants as zlib } from 'node:zlib';

import { buildGroup, fmt, median, times } from '../lib/group.js';
import { BENCH_DIR, CLI_MAIN, PEERS_DIR, ROOT } from '../lib/paths.js';
import { freePort, type Server, startServer } from '../lib/proc.js';
import type { Context, Group, Metric, Sample, Scenario, Skip } from '../lib/types.js';
import { type HttpLoad, loadTrial, statusOf } from './servers.js';

const METRICS: Metric[] = [
  { key: 'reqPerS', label: 'Requests/s', unit: '/s', better: 'higher', chart: true },
  { key: 'bytesPerReq', label: 'Bytes on the wire per request', unit: 'B', better: 'lower', chart: true },
  { key: 'serverCpuUsPerReq', label: 'Server CPU per request', unit: 'µs', better: 'lower', chart: true },
  { key: 'p99Ms', label: 'p99 latency', unit: 'ms', better: 'lower' },
];

const ASSETS = { js: 300 * 1024, css: 40 * 1024 };
const PATHS = ['/app.js', '/app.css', '/index.html'];
const ACCEPT_ENCODING = 'br, gzip';
const BASELINE = 'serve';

/** Up to `size` bytes of real JavaScript: this project's own compiled modules, concatenated. */
function bundle(size: number): string {
  const parts: string[] = [];
  let total = 0;
  const walk = (dir: string) => {
    for (const name of readdirSync(dir).sort()) {
      if (total >= size) return;
      const path = join(dir, name);
      if (statSync(path).isDirectory()) walk(path);
      else if (name.endsWith('.js')) {
        const text = `// ${name}\n${readFileSync(path, 'utf8')}\n`;
        parts.push(text);
        total += text.length;
      }
    }
  };
  while (total < size) {
    const before = total;
    walk(join(ROOT, 'dist', 'src'));
    if (total === before) throw new Error('no compiled JavaScript under dist/src to make a bundle of');
  }
  return parts.join('').slice(0, size);
}

/** A stylesheet of `size` bytes: the rules of a component library, one block per component. */
function stylesheet(size: number): string {
  const properties = [
    'display: flex',
    'align-items: center',
    'margin: 0 auto',
    'padding: 0.5rem 1rem',
    'border-radius: 4px',
    'color: var(--fg)',
    'background: var(--bg-muted)',
    'font: 500 14px/1.4 system-ui, sans-serif',
    'transition: opacity 120ms ease-in-out',
  ];
  let css = ':root { --fg: #1b1f24; --bg-muted: #f6f8fa; --accent: #0969da; }\n';
  for (let i = 0; css.length < size; i++) {
    const picked = properties.filter((_, p) => (i * 7 + p * 3) % 4 !== 0);
    css += `.c-${i.toString(36)}__item--${['primary', 'muted', 'danger', 'ghost'][i % 4]}:hover { ${picked.join('; ')}; }\n`;
  }
  return css.slice(0, size);
}

function page(): string {
  let rows = '';
  for (let i = 0; i < 60; i++)
    rows += `<li class="c-${i.toString(36)}__item--primary"><a href="/item/${i}">Item ${i}</a></li>\n`;
  return `<!doctype html>\n<html lang="en"><head><meta charset="utf-8"><title>App</title>\n<link rel="stylesheet" href="/app.css"><script type="module" src="/app.js"></script></head>\n<body><main><ul>\n${rows}</ul></main></body></html>\n`;
}

/** The site, with the .gz and .br files a build step writes (served by http-server and gzip_static only). */
function makeSite(dir: string): void {
  mkdirSync(dir, { recursive: true, mode: 0o755 });
  const files: Record<string, string> = {
    'app.js': bundle(ASSETS.js),
    'app.css': stylesheet(ASSETS.css),
    'index.html': page(),
  };
  for (const [name, text] of Object.entries(files)) {
    const path = join(dir, name);
    if (existsSync(path) && existsSync(`${path}.br`) && readFileSync(path, 'utf8') === text) continue;
    writeFileSync(path, text, { mode: 0o644 });
    writeFileSync(`${path}.gz`, gzipSync(text, { level: 9 }), { mode: 0o644 });
    writeFileSync(`${path}.br`, brotliCompressSync(text, { params: { [zlib.BROTLI_PARAM_QUALITY]: 11 } }), {
      mode: 0o644,
    });
  }
}

interface Contender {
  id: string;
  label: string;
  kind: 'zerocopy' | 'peer';
  /** Serves from this directory: the site with its precompressed files, or without them. */
  precompressed: boolean;
  start(root: string, port: number): Promise<Server>;
}

function nginxWeb(binary: string, workDir: string, name: string, gzip: string) {
  return (root: string, port: number) => {
    const dir = join(workDir, `nginx-web-${name}-${port}`);
    mkdirSync(dir, { recursive: true });
    const config = readFileSync(join(PEERS_DIR, 'nginx-web.conf.template'), 'utf8')
      .replaceAll('{{DIR}}', dir)
      .replaceAll('{{ROOT}}', root)
      .replaceAll('{{PORT}}', String(port))
      .replaceAll('{{GZIP}}', gzip);
    writeFileSync(join(dir, 'nginx.conf'), config);
    return startServer(binary, ['-c', join(dir, 'nginx.conf'), '-p', dir, '-e', join(dir, 'error.log')], port);
  };
}

function contenders(ctx: Context, skipped: Skip[]): Contender[] {
  const out: Contender[] = [
    {
      id: 'zerocopy-serve',
      label: 'zerocopy serve (--compress, the default)',
      kind: 'zerocopy',
      precompressed: false,
      start: (root, port) =>
        startServer(
          process.execPath,
          [CLI_MAIN, 'serve', root, '--port', String(port), '--host', '127.0.0.1', '--log', 'off'],
          port,
        ),
    },
  ];
  const bin = (name: string) => join(BENCH_DIR, 'node_modules', '.bin', name);
  if (existsSync(bin('serve'))) {
    out.push({
      id: BASELINE,
      label: 'serve (npm; compresses every response)',
      kind: 'peer',
      precompressed: false,
      start: (root, port) =>
        startServer(bin('serve'), ['-L', '-n', '--no-port-switching', '-l', `tcp://127.0.0.1:${port}`, root], port, {
          env: { ...process.env, NODE_ENV: 'production' },
        }),
    });
  } else skipped.push({ contender: 'serve (npm)', reason: 'not installed under bench/node_modules' });
  if (existsSync(bin('http-server'))) {
    out.push({
      id: 'http-server',
      label: 'http-server -g -b (npm; precompressed files)',
      kind: 'peer',
      precompressed: true,
      start: (root, port) =>
        startServer(bin('http-server'), [root, '-p', String(port), '-a', '127.0.0.1', '-g', '-b', '-s', '-c-1'], port),
    });
  } else skipped.push({ contender: 'http-server (npm)', reason: 'not installed under bench/node_modules' });
  if (ctx.tools.nginx !== null) {
    const nginx = ctx.tools.nginx;
    const types = 'gzip_types text/css application/javascript;';
    for (const level of [1, 6]) {
      out.push({
        id: `nginx-gzip-${level}`,
        label: `nginx (gzip on, level ${level})`,
        kind: 'peer',
        precompressed: false,
        start: nginxWeb(nginx, ctx.workDir, `gzip${level}`, `gzip on; gzip_comp_level ${level}; ${types}`),
      });
    }
    out.push({
      id: 'nginx-gzip-static',
      label: 'nginx (gzip_static on; precompressed .gz)',
      kind: 'peer',
      precompressed: true,
      start: nginxWeb(nginx, ctx.workDir, 'static', 'gzip_static on;'),
    });
  } else skipped.push({ contender: 'nginx', reason: ctx.tools.missing.nginx ?? 'not installed' });
  return out;
}

export const web: Scenario = {
  id: 'web',
  title: '3b. HTTP: a web app’s assets, compressed',
  description:
    `A web app’s assets (a ${ASSETS.js >> 10} KiB JavaScript bundle made of this project’s own compiled modules, ` +
    `a ${ASSETS.css >> 10} KiB stylesheet, an HTML page) requested in turn with Accept-Encoding: ${ACCEPT_ENCODING} ` +
    'over 64 connections (wrk -t1 -c64): zerocopy serve compressing once per file (brotli 5, kept in memfds), ' +
    '`serve` (compresses every response with the compression middleware), `http-server -g -b` and nginx ' +
    '`gzip_static on` sending the .gz/.br files a build step wrote (gzip 9, brotli 11), nginx `gzip on` at levels ' +
    '1 and 6 compressing every response. Requests/s, bytes on the wire per request (headers included: each ' +
    'server’s own encoding and ratio) and server CPU per request (utime+stime of the process tree).',
  async run(ctx: Context) {
    const { quick } = ctx.options;
    const skipped: Skip[] = [];
    const notes: string[] = [];
    if (ctx.tools.wrk === null) {
      skipped.push({ contender: 'every server (wrk is the load tool)', reason: ctx.tools.missing.wrk ?? 'no wrk' });
      return { groups: [], skipped, notes };
    }
    // Under the data directory, which nginx's workers (another user) can read, as the http scenario's files.
    const plain = join(ctx.dataDir, 'web-plain');
    const built = join(ctx.dataDir, 'web-built');
    makeSite(built);
    mkdirSync(plain, { recursive: true, mode: 0o755 });
    for (const dir of [plain, built]) chmodSync(dir, 0o755);
    for (const name of ['app.js', 'app.css', 'index.html']) {
      const text = readFileSync(join(built, name));
      const copy = join(plain, name);
      if (!existsSync(copy) || !readFileSync(copy).equals(text)) writeFileSync(copy, text, { mode: 0o644 });
    }
    // zerocopy serve computes no variant of a file changed within the last second.
    await new Promise((resolve) => setTimeout(resolve, 1100));

    const durationS = quick ? 1 : 5;
    const repeats = quick ? 1 : 3;
    if (quick) notes.push('--quick: 1 s per wrk run after a 1 s warm-up, one repeat.');
    const load: HttpLoad = {
      paths: PATHS,
      connections: 64,
      threads: 1,
      durationS,
      headers: { 'Accept-Encoding': ACCEPT_ENCODING },
    };
    const servers = contenders(ctx, skipped);
    ctx.progress.plan(repeats * servers.length);
    const samples = new Map<string, Sample[]>();
    for (let repeat = 0; repeat < repeats; repeat++) {
      for (const spec of servers) {
        ctx.progress.step(`${spec.label} (repeat ${repeat + 1}/${repeats})`);
        let server: Server;
        try {
          server = await spec.start(spec.precompressed ? built : plain, await freePort());
        } catch (error) {
          skipped.push({ contender: spec.label, reason: `did not start: ${(error as Error).message}` });
          continue;
        }
        try {
          if ((await statusOf(server, load)) !== 200) throw new Error('does not answer 200');
          // Also what lets zerocopy serve build its variants: its first answers are identity.
          await loadTrial(ctx, server, { ...load, durationS: 1 }).catch(() => undefined);
          const sample = await loadTrial(ctx, server, load);
          sample.bytesPerReq = (sample.bytes ?? 0) / (sample.requests ?? 1);
          samples.set(spec.id, [...(samples.get(spec.id) ?? []), sample]);
        } catch (error) {
          notes.push(`${spec.label}: ${(error as Error).message}`);
        } finally {
          await server.stop();
        }
      }
    }
    const group: Group = buildGroup(
      'web-assets',
      `JS ${ASSETS.js >> 10} KiB + CSS ${ASSETS.css >> 10} KiB + HTML, Accept-Encoding: ${ACCEPT_ENCODING}, 64 connections (wrk -t1 -c64)`,
      BASELINE,
      METRICS,
      servers.map((s) => ({ id: s.id, label: s.label, kind: s.kind, samples: samples.get(s.id) ?? [] })),
      ['Ratios against `serve` (>1 is better).'],
    );
    const ratio = (id: string) => {
      const ours = median(group, 'zerocopy-serve', 'reqPerS');
      const theirs = median(group, id, 'reqPerS');
      return ours !== undefined && theirs !== undefined && theirs > 0 ? ours / theirs : undefined;
    };
    const target = (id: string, label: string, wanted: number) => {
      const value = ratio(id);
      const verdict = value === undefined ? 'n/a' : value >= wanted ? 'met' : 'NOT met';
      return `${times(value)} ${label} (target ≥ ${wanted}x: ${verdict})`;
    };
    const ours = median(group, 'zerocopy-serve', 'reqPerS');
    const headline = [
      ours === undefined
        ? `${group.title}: zerocopy serve did not run`
        : `${group.title}: zerocopy serve ${fmt(ours)} req/s at ${fmt(median(group, 'zerocopy-serve', 'bytesPerReq'), 0)} B/request; ` +
          [
            target(BASELINE, 'serve', 5),
            target('nginx-gzip-6', 'nginx gzip level 6', 1.5),
            target('nginx-gzip-static', 'nginx gzip_static', 0.9),
          ].join(', '),
    ];
    return { groups: [group], skipped, notes, headline };
  },
};
