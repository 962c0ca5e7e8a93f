import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { join } from 'node:path';

import { frontRingUnavailable } from '../../src/http/front-engine.js';
import { nativeFrontAvailable } from '../../src/http/native-front.js';
import { CLI_MAIN, PEERS_DIR } from '../lib/paths.js';
import { lastJson, procUsage, run, type Server, startServer, usageDelta } from '../lib/proc.js';
import type { Context, Row, Sample, Skip } from '../lib/types.js';

export interface ServerSpec {
  id: string;
  label: string;
  kind: Row['kind'];
  /** A Node process, so the loop-delay module can be loaded into it. */
  node: boolean;
  /** Runs the small-file workloads only (it keeps whole files in memory). */
  smallFilesOnly?: boolean;
  start(root: string, port: number, loopDelayOut?: string): Promise<Server>;
}

export const HTTP_BASELINE = 'node-stream';
/** zerocopy serve answering every request in JavaScript (no native front). */
export const ZEROCOPY_SERVE_JS = 'zerocopy-serve-js';
/** zerocopy serve with its native front on io_uring (--engine io_uring) rather than epoll. */
export const ZEROCOPY_SERVE_IO_URING = 'zerocopy-serve-io_uring';

function nodeServer(script: string, extra: string[] = []) {
  return (root: string, port: number, loopDelayOut?: string) =>
    startServer(
      process.execPath,
      [
        ...(loopDelayOut ? ['--import', join(PEERS_DIR, 'loop-delay.mjs')] : []),
        ...(script === CLI_MAIN
          ? // No access log: nginx runs with access_log off too.
            [script, 'serve', root, '--port', String(port), '--host', '127.0.0.1', '--log', 'off']
          : [script, root, String(port)]),
        ...extra,
      ],
      port,
      {
        env: {
          ...process.env,
          NODE_ENV: 'production',
          ...(loopDelayOut ? { ZC_BENCH_LOOP_DELAY_OUT: loopDelayOut } : {}),
        },
      },
    );
}

function nginx(binary: string, sendfile: boolean, workDir: string, openFileCache = false) {
  return (root: string, port: number) => {
    const dir = join(workDir, `nginx-${sendfile ? 'on' : 'off'}${openFileCache ? '-cache' : ''}-${port}`);
    mkdirSync(dir, { recursive: true });
    const config = readFileSync(join(PEERS_DIR, 'nginx.conf.template'), 'utf8')
      .replaceAll('{{DIR}}', dir)
      .replaceAll('{{ROOT}}', root)
      .replaceAll('{{PORT}}', String(port))
      .replaceAll('{{SENDFILE}}', sendfile ? 'on' : 'off')
      // Descriptors and metadata kept for a second, as zerocopy serve keeps small files.
      .replaceAll(
        '{{OPEN_FILE_CACHE}}',
        openFileCache ? 'open_file_cache max=1000 inactive=20s; open_file_cache_valid 1s;' : '',
      );
    writeFileSync(join(dir, 'nginx.conf'), config);
    return startServer(binary, ['-c', join(dir, 'nginx.conf'), '-p', dir, '-e', join(dir, 'error.log')], port);
  };
}

/** `zerocopy serve` exists when its --help runs; another engineer is building it. */
async function zerocopyServe(): Promise<string | null> {
  const help = await run(process.execPath, [CLI_MAIN, 'serve', '--help'], { timeoutMs: 15_000 });
  if (help.code === 0) return null;
  const why = (help.stderr || help.stdout).trim().split('\n')[0] ?? '';
  return `\`node dist/src/cli/main.js serve --help\` failed (exit ${help.code}): ${why.slice(0, 160)}`;
}

/** Every HTTP server that can run here; the rest go to `skipped` with the reason. */
export async function availableServers(ctx: Context, skipped: Skip[]): Promise<ServerSpec[]> {
  const { tools } = ctx;
  const out: ServerSpec[] = [];
  if (tools.nginx !== null) {
    out.push({
      id: 'nginx-sendfile',
      label: 'nginx (sendfile on)',
      kind: 'peer',
      node: false,
      start: nginx(tools.nginx, true, ctx.workDir),
    });
    out.push({
      id: 'nginx-sendfile-cache',
      label: 'nginx (sendfile on, open_file_cache)',
      kind: 'peer',
      node: false,
      start: nginx(tools.nginx, true, ctx.workDir, true),
    });
    out.push({
      id: 'nginx-copy',
      label: 'nginx (sendfile off)',
      kind: 'peer',
      node: false,
      start: nginx(tools.nginx, false, ctx.workDir),
    });
  } else {
    skipped.push({ contender: 'nginx', reason: tools.missing.nginx ?? 'not installed' });
  }
  out.push({
    id: HTTP_BASELINE,
    label: 'node:http createReadStream().pipe(res)',
    kind: 'node',
    node: true,
    start: nodeServer(join(PEERS_DIR, 'node-stream-server.mjs')),
  });
  out.push({
    id: 'node-memory',
    label: 'node:http from memory (the Node ceiling)',
    kind: 'node',
    node: true,
    smallFilesOnly: true,
    start: nodeServer(join(PEERS_DIR, 'node-memory-server.mjs')),
  });
  out.push({
    id: 'express',
    label: 'express.static',
    kind: 'peer',
    node: true,
    start: nodeServer(join(PEERS_DIR, 'express-server.mjs')),
  });
  out.push({
    id: 'fastify',
    label: '@fastify/static',
    kind: 'peer',
    node: true,
    start: nodeServer(join(PEERS_DIR, 'fastify-server.mjs')),
  });
  if (tools.bun !== null) {
    const bun = tools.bun;
    out.push({
      id: 'bun',
      label: 'Bun (Response(Bun.file))',
      kind: 'peer',
      node: false,
      start: (root, port) => startServer(bun, [join(PEERS_DIR, 'bun-server.mjs'), root, String(port)], port),
    });
  } else {
    skipped.push({ contender: 'Bun', reason: tools.missing.bun ?? 'not installed' });
  }
  const serveMissing = await zerocopyServe();
  if (serveMissing === null) {
    out.push({
      id: 'zerocopy-serve',
      label: 'zerocopy serve',
      kind: 'zerocopy',
      node: true,
      start: nodeServer(CLI_MAIN),
    });
    // The same server with every request answered in JavaScript: what the native front adds.
    out.push({
      id: ZEROCOPY_SERVE_JS,
      label: 'zerocopy serve --no-native-front',
      kind: 'zerocopy',
      node: true,
      start: nodeServer(CLI_MAIN, ['--no-native-front']),
    });
    // The native front on io_uring: small files and 304s, against the epoll front above.
    const ringMissing = nativeFrontAvailable() ? frontRingUnavailable() : 'no native front here';
    if (ringMissing === undefined) {
      out.push({
        id: ZEROCOPY_SERVE_IO_URING,
        label: 'zerocopy serve --engine io_uring',
        kind: 'zerocopy',
        node: true,
        smallFilesOnly: true,
        start: nodeServer(CLI_MAIN, ['--engine', 'io_uring']),
      });
    } else {
      skipped.push({ contender: 'zerocopy serve --engine io_uring', reason: ringMissing });
    }
  } else {
    skipped.push({ contender: 'zerocopy serve (with and without the native front)', reason: serveMissing });
  }
  return out;
}

export interface HttpLoad {
  paths: string[];
  connections: number;
  threads: number;
  durationS: number;
  /**
   * 'wrk' (default), or 'discard': the C client of peers/sender.c, which drops bodies in the
   * kernel (recv with MSG_TRUNC). wrk copies every byte it receives on one thread and tops out
   * near 2.5 GB/s whoever serves, large files or 64 KiB ones; the discarding client leaves the
   * server as the bottleneck, so the servers themselves are compared.
   */
  client?: 'wrk' | 'discard';
  /** Request header fields wrk adds to every request (Range, conditions). */
  headers?: Record<string, string>;
}

/** The load's client and its arguments: wrk, or the discarding C client (one path, `connections` at once). */
function clientCommand(ctx: Context, server: Server, load: HttpLoad): [name: string, program: string, args: string[]] {
  if (load.client === 'discard') {
    const args = ['get', String(server.port), load.paths[0]!, String(load.durationS), String(load.connections)];
    const fields = Object.entries(load.headers ?? {});
    if (fields.length > 1) throw new Error('sender get sends one extra header field at most');
    for (const [name, value] of fields) args.push(`${name}: ${value}`);
    return ['sender get', ctx.tools.sender!, args];
  }
  const wrkArgs = [`-t${load.threads}`, `-c${load.connections}`, `-d${load.durationS}s`, '--timeout', '30s'];
  for (const [name, value] of Object.entries(load.headers ?? {})) wrkArgs.push('-H', `${name}: ${value}`);
  const script = ['-s', join(PEERS_DIR, 'wrk-report.lua'), `http://127.0.0.1:${server.port}`, '--', ...load.paths];
  return ['wrk', ctx.tools.wrk!, [...wrkArgs, ...script]];
}

/** The status a server answers the load's first request with (its body is not read). */
export function statusOf(server: Server, load: HttpLoad): Promise<number> {
  return new Promise((resolve, reject) => {
    const request = httpRequest(
      { host: '127.0.0.1', port: server.port, path: load.paths[0], headers: load.headers, timeout: 10_000 },
      (response) => {
        resolve(response.statusCode ?? 0);
        request.destroy();
      },
    );
    request.on('timeout', () => request.destroy(new Error('no answer in 10 s')));
    request.on('error', reject);
    request.end();
  });
}

/**
 * One run of the load's client against a server, with the server's CPU and context
 * switches over the run from /proc (the whole process tree: nginx's worker, Node's thread pool).
 */
export async function loadTrial(ctx: Context, server: Server, load: HttpLoad): Promise<Sample> {
  const [name, program, args] = clientCommand(ctx, server, load);
  const before = procUsage(server.pid);
  const result = await run(program, args, { timeoutMs: (load.durationS + 60) * 1000 });
  const used = usageDelta(procUsage(server.pid), before);
  const json = lastJson(result.stdout);
  if (result.code !== 0 || json === null) {
    throw new Error(
      `${name} exit ${result.code ?? result.signal}: ${(result.stderr || result.stdout).trim().slice(-300)}`,
    );
  }
  const requests = Number(json.requests);
  const bytes = Number(json.bytes);
  const seconds = Number(json.durationUs) / 1e6;
  // Only wrk counts errors and latencies; the C client exits non-zero on any failure.
  const errors = (json.errors ?? {}) as Record<string, number>;
  const errorCount = Object.values(errors).reduce((a, b) => a + b, 0);
  if (requests === 0) throw new Error(`no request completed (errors: ${JSON.stringify(errors)})`);
  if ((errors.status ?? 0) > 0) throw new Error(`${errors.status} responses were not 2xx/3xx`);
  const latency = json.latencyUs as Record<string, number> | undefined;
  const cpuS = used.userS + used.sysS;
  return {
    requests,
    bytes,
    reqPerS: requests / seconds,
    gbps: bytes / seconds / 1e9,
    ...(latency === undefined
      ? {}
      : { p50Ms: (latency.p50 ?? Number.NaN) / 1000, p99Ms: (latency.p99 ?? Number.NaN) / 1000 }),
    serverCpuS: cpuS,
    serverUserS: used.userS,
    serverSysS: used.sysS,
    serverCpuSPerGB: cpuS / (bytes / 1e9),
    serverCpuUsPerReq: (cpuS * 1e6) / requests,
    serverVoluntaryCtx: used.voluntaryCtx,
    serverInvoluntaryCtx: used.involuntaryCtx,
    socketErrors: errorCount,
  };
}
