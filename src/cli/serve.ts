// zerocopy serve: a static file server on serveStatic, with an access log, a status endpoint,
// timeouts, several workers and a graceful shutdown.
import cluster from 'node:cluster';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo, ListenOptions } from 'node:net';
import { availableParallelism } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';

import { probeCapabilities } from '../doctor/probe.js';
import { type CountersSnapshot, ServeCounters } from '../http/counters.js';
import { DEFAULT_FRONT_ENGINE, FRONT_ENGINES, type FrontEngineChoice } from '../http/front-engine.js';
import { createNativeFront, type NativeFront, nativeFrontAvailable } from '../http/native-front.js';
import { type DotfilesPolicy, requestPath } from '../http/resolve-path.js';
import { type ServeExtras, serveStatic } from '../http/serve-static.js';
import { timeoutCheckInterval } from '../http/timeout-check.js';
import { formatAccessLog, type LogFormat, recordOfFrontResponse, recordOfRequest } from './access-log.js';
import { type ListenTarget, parseListen, urlsFor } from './listen.js';
import { readServeJson } from './serve-json.js';
import {
  announceListening,
  type Balance,
  parseBalance,
  resolveBalance,
  superviseWorkers,
  workerListen,
} from './workers.js';

/** Many short connections: no hop through the primary per connection (shared when Node lacks it). */
const SERVE_BALANCE: Balance = 'reuseport';

export const SERVE_USAGE = `Usage: zerocopy serve [dir] [options]

Serves the files under dir (default: the current directory) over HTTP.

Options:
  --port N               port to listen on (default 8080; 0 picks a free one)
  --host ADDR            address to listen on (default 127.0.0.1)
  -l, --listen URI       where to listen, as serve takes it: a port, host:port,
                         tcp://host:port ([::1]:8080 for IPv6) or unix:/path/to.sock
  --no-listing           no directory listings (by default a directory without an index
                         file answers its listing: HTML, or JSON for Accept: application/json)
  --listing-limit N      entries a listing shows at most (default 10000)
  -s, --single           single-page app: paths that name no file and accept HTML get /index.html
  -C, --cors [ORIGINS]   CORS: any origin, or only these (comma-separated https://a.example,...)
  --clean-urls           /about.html redirects to /about, which serves about.html
  --trailing-slash       /about redirects to /about/ (--no-trailing-slash: /about/ to /about)
  --config FILE          serve.json to read (default: serve.json in dir, if there)
  --workers N|auto       processes serving the port (cluster); auto = one per core (default 1)
  --balance rr|shared|reuseport  how workers share connections: reuseport (default where Node
                         has it, 22.12+; shared elsewhere): a socket per worker, the kernel spreads;
                         rr: the primary hands each connection round; shared: one socket, whoever
                         wakes first
  --cert FILE --key FILE serve HTTPS (the body is copied: no kernel TLS)
  --log off|dev|combined|json   access log on stdout (default dev)
  --status PATH          JSON counters at PATH (default /_zerocopy/status); --no-status to turn off
  --max-age DURATION     Cache-Control max-age, e.g. 0, 1h, 7d (default 0)
  --dotfiles ignore|deny|allow  (default ignore: 404)
  --follow-symlinks      follow symlinks that lead outside dir (default: 403)
  --no-precompressed     do not serve .br/.gz siblings
  --no-compress          do not compress text files (by default brotli or gzip, as Accept-Encoding
                         asks, computed once per file off the event loop and kept in memory)
  --compress-max-bytes B memory for compressed variants (default 33554432)
  --no-native-front      answer every request in JavaScript (by default, with the cache on and
                         plain HTTP, cached files are answered by the native front, no JS per
                         request); --no-fast-path is the same flag under its older name
  --engine epoll|io_uring|auto  how the native front waits and writes (default epoll; auto:
                         io_uring where the kernel allows it; where it does not, epoll, and why)
  --cache-validity MS    keep files up to --cache-max-file bytes in memory and answer them without
                         touching the disk for up to MS ms after the last check; a change on disk
                         can be seen this late (default 1000; 0 turns the cache off)
  --cache-max-file B     largest file kept in memory (default 262144)
  --cache-max-bytes B    memory for cached files (default 67108864)
  --header-timeout MS    time to receive request headers (default 10000)
  --idle-timeout MS      close connections idle this long (default 30000)
  --max-header-size B    largest request head accepted (default 16384)
  --shutdown-timeout MS  on SIGTERM or SIGINT, how long in-flight responses may take (default 10000)
`;

interface ServeConfig {
  dir: string;
  port: number;
  host: string;
  /** Where to listen: TCP at host:port, or a unix socket. */
  listen: ListenTarget;
  /** Listings, SPA fallback, CORS, clean URLs, serve.json's rules. */
  extras: ServeExtras;
  etag: boolean;
  workers: number;
  balance: Balance | undefined;
  tls: { cert: Buffer; key: Buffer } | undefined;
  log: LogFormat;
  statusPath: string | undefined;
  maxAge: string;
  dotfiles: DotfilesPolicy;
  followSymlinks: boolean;
  precompressed: boolean;
  compress: boolean;
  compressMaxBytes: number;
  nativeFront: boolean;
  engine: FrontEngineChoice;
  cacheValidityMs: number;
  cacheMaxFileBytes: number;
  cacheMaxBytes: number;
  headerTimeoutMs: number;
  idleTimeoutMs: number;
  maxHeaderSize: number;
  shutdownTimeoutMs: number;
}

function integer(value: string | undefined, name: string, fallback: number, min: number, max: number): number {
  if (value === undefined) return fallback;
  const parsed = Number(value);
  if (!Number.isInteger(parsed) || parsed < min || parsed > max) {
    throw new Error(`--${name} must be an integer from ${min} to ${max}, not '${value}'`);
  }
  return parsed;
}

function oneOf<T extends string>(value: string | undefined, name: string, allowed: readonly T[], fallback: T): T {
  if (value === undefined) return fallback;
  if (!(allowed as readonly string[]).includes(value))
    throw new Error(`--${name} must be one of ${allowed.join(', ')}`);
  return value as T;
}

/** `--cors` alone means any origin; followed by an origin list, those origins (parseArgs has no optional values). */
function withCorsValue(args: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === '--cors' || arg === '-C') {
      const next = args[i + 1];
      if (next !== undefined && (next === '*' || /^https?:\/\//i.test(next))) {
        out.push(`--cors=${next}`);
        i++;
      } else {
        out.push('--cors=*');
      }
    } else {
      out.push(arg);
    }
  }
  return out;
}

export function parseServeArgs(args: string[]): ServeConfig {
  const { values, positionals } = parseArgs({
    args: withCorsValue(args),
    allowPositionals: true,
    strict: true,
    options: {
      port: { type: 'string' },
      host: { type: 'string' },
      listen: { type: 'string', short: 'l', multiple: true },
      'no-listing': { type: 'boolean' },
      'listing-limit': { type: 'string' },
      single: { type: 'boolean', short: 's' },
      cors: { type: 'string' },
      'clean-urls': { type: 'boolean' },
      'trailing-slash': { type: 'boolean' },
      'no-trailing-slash': { type: 'boolean' },
      config: { type: 'string' },
      workers: { type: 'string' },
      balance: { type: 'string' },
      cert: { type: 'string' },
      key: { type: 'string' },
      log: { type: 'string' },
      status: { type: 'string' },
      'no-status': { type: 'boolean' },
      'max-age': { type: 'string' },
      dotfiles: { type: 'string' },
      'follow-symlinks': { type: 'boolean' },
      'no-precompressed': { type: 'boolean' },
      compress: { type: 'boolean' },
      'no-compress': { type: 'boolean' },
      'compress-max-bytes': { type: 'string' },
      'no-native-front': { type: 'boolean' },
      'no-fast-path': { type: 'boolean' },
      engine: { type: 'string' },
      'cache-validity': { type: 'string' },
      'cache-max-file': { type: 'string' },
      'cache-max-bytes': { type: 'string' },
      'header-timeout': { type: 'string' },
      'idle-timeout': { type: 'string' },
      'max-header-size': { type: 'string' },
      'shutdown-timeout': { type: 'string' },
    },
  });
  if (positionals.length > 1) throw new Error(`serve takes one directory, got ${positionals.length}`);
  const given = resolve(positionals[0] ?? '.');
  if (!existsSync(given) || !statSync(given).isDirectory()) throw new Error(`'${given}' is not a directory`);
  const json =
    values.config === undefined
      ? readServeJson(join(given, 'serve.json'), true)
      : readServeJson(resolve(values.config), false);
  const dir = json?.dir ?? given;
  if (!existsSync(dir) || !statSync(dir).isDirectory())
    throw new Error(`'${dir}' ('public' of ${json?.file}) is not a directory`);
  if (values.listen !== undefined && values.listen.length > 1) {
    throw new Error('--listen: one address per process (serve takes several; run one zerocopy serve per address)');
  }
  const listenSpec = values.listen?.[0];
  if (listenSpec !== undefined && (values.port !== undefined || values.host !== undefined)) {
    throw new Error('--listen takes the place of --port and --host: give one or the other');
  }
  const host = values.host ?? '127.0.0.1';
  const listen: ListenTarget =
    listenSpec === undefined
      ? { kind: 'tcp', host, port: integer(values.port, 'port', 8080, 0, 65535) }
      : parseListen(listenSpec, host);
  const extras: ServeExtras = {
    ...json?.extras,
    listing: values['no-listing'] === true ? false : (json?.extras.listing ?? true),
    listingLimit: integer(values['listing-limit'], 'listing-limit', 10_000, 1, 1_000_000),
  };
  if (values.single === true) extras.single = true;
  if (values.cors !== undefined) extras.cors = values.cors;
  if (values['clean-urls'] === true) extras.cleanUrls = true;
  if (values['trailing-slash'] === true) extras.trailingSlash = true;
  if (values['no-trailing-slash'] === true) extras.trailingSlash = false;
  if ((values.cert === undefined) !== (values.key === undefined)) throw new Error('--cert and --key go together');
  const workers =
    values.workers === 'auto' || values.workers === '0'
      ? availableParallelism()
      : integer(values.workers, 'workers', 1, 1, 256);
  const statusPath = values['no-status'] === true ? undefined : (values.status ?? '/_zerocopy/status');
  if (statusPath !== undefined && !statusPath.startsWith('/'))
    throw new Error('--status must be a path starting with /');
  return {
    dir,
    port: listen.kind === 'tcp' ? listen.port : 0,
    host: listen.kind === 'tcp' ? listen.host : host,
    listen,
    extras,
    etag: json?.etag ?? true,
    workers,
    balance: parseBalance(values.balance),
    tls:
      values.cert === undefined || values.key === undefined
        ? undefined
        : { cert: readFileSync(values.cert), key: readFileSync(values.key) },
    log: oneOf(values.log, 'log', ['off', 'dev', 'combined', 'json'] as const, 'dev'),
    statusPath,
    maxAge: values['max-age'] ?? '0',
    dotfiles: oneOf(values.dotfiles, 'dotfiles', ['ignore', 'deny', 'allow'] as const, 'ignore'),
    followSymlinks: values['follow-symlinks'] === true || json?.followSymlinks === true,
    precompressed: values['no-precompressed'] !== true,
    compress: values['no-compress'] !== true,
    compressMaxBytes: integer(values['compress-max-bytes'], 'compress-max-bytes', 32 << 20, 0, 2 ** 40),
    nativeFront: values['no-native-front'] !== true && values['no-fast-path'] !== true,
    engine: oneOf(values.engine, 'engine', FRONT_ENGINES, DEFAULT_FRONT_ENGINE),
    cacheValidityMs: integer(values['cache-validity'], 'cache-validity', 1000, 0, 3_600_000),
    cacheMaxFileBytes: integer(values['cache-max-file'], 'cache-max-file', 256 * 1024, 0, 1 << 30),
    cacheMaxBytes: integer(values['cache-max-bytes'], 'cache-max-bytes', 64 << 20, 0, 2 ** 40),
    headerTimeoutMs: integer(values['header-timeout'], 'header-timeout', 10_000, 1, 600_000),
    idleTimeoutMs: integer(values['idle-timeout'], 'idle-timeout', 30_000, 1, 3_600_000),
    maxHeaderSize: integer(values['max-header-size'], 'max-header-size', 16_384, 1024, 1_048_576),
    shutdownTimeoutMs: integer(values['shutdown-timeout'], 'shutdown-timeout', 10_000, 0, 600_000),
  };
}

function kernelSummary(): string {
  try {
    const caps = probeCapabilities();
    const flag = (name: string, available: boolean) => `${name} ${available ? 'yes' : 'no'}`;
    return [
      flag('sendfile', caps.syscalls.sendfile.available),
      flag('splice', caps.syscalls.splice.available),
      flag('copy_file_range', caps.syscalls.copy_file_range.available),
      flag('io_uring', caps.ioUring.available),
      flag('kernel TLS', caps.kernelTls.available),
      caps.addon.available ? '' : `(native addon: ${caps.addon.detail})`,
    ]
      .filter((part) => part !== '')
      .join(', ');
  } catch (error) {
    return `probe failed: ${(error as Error).message}`;
  }
}

type WorkerMessage = { zerocopy: 'counters'; snapshot: CountersSnapshot };
type PrimaryMessage = { zerocopy: 'all-counters'; snapshot: CountersSnapshot; workers: number };

/** The servers of one process: node:http, and the native front listening for it when it runs. */
interface Running {
  http: Server;
  front: NativeFront | undefined;
}

/** The native front answers cache hits without JavaScript; it runs for plain HTTP with the file cache on. */
function useNativeFront(config: ServeConfig): boolean {
  return (
    config.nativeFront &&
    config.tls === undefined &&
    config.listen.kind === 'tcp' &&
    config.cacheValidityMs > 0 &&
    nativeFrontAvailable()
  );
}

/** The HTTP(S) server of one process. */
function startServer(config: ServeConfig, onListening: (address: AddressInfo) => void): Running {
  const counters = new ServeCounters();
  let front: NativeFront | undefined;
  let allWorkers: PrimaryMessage | undefined;
  const handler = serveStatic(config.dir, {
    maxAge: config.maxAge,
    dotfiles: config.dotfiles,
    allowSymlinksOutsideRoot: config.followSymlinks,
    precompressed: config.precompressed,
    compress: config.compress,
    compressMaxBytes: config.compressMaxBytes,
    cacheValidity: config.cacheValidityMs,
    cacheMaxFileSize: config.cacheMaxFileBytes,
    cacheMaxBytes: config.cacheMaxBytes,
    extensions: ['html'],
    etag: config.etag,
    ...config.extras,
    // With the log off (as benchmarks run), a response costs one counter update and nothing else.
    onResponse:
      config.log === 'off'
        ? (result) => counters.record(result)
        : (result, req) => {
            counters.record(result);
            const line = formatAccessLog(config.log, recordOfRequest(req, result));
            if (line !== undefined) process.stdout.write(`${line}\n`);
          },
  });

  const status = (res: ServerResponse, head: boolean) => {
    const body = Buffer.from(
      `${JSON.stringify(
        {
          pid: process.pid,
          uptimeSeconds: Math.round(process.uptime()),
          root: config.dir,
          worker: counters.snapshot(front?.stats()),
          nativeFront:
            front === undefined ? { enabled: false } : { enabled: true, engine: front.engine, ...front.stats() },
          fileCache:
            handler.cache === undefined
              ? { enabled: false }
              : {
                  enabled: true,
                  validityMs: handler.cache.limits.validityMs,
                  entries: handler.cache.entries,
                  bytes: handler.cache.bytes,
                },
          compression:
            handler.variants === undefined ? { enabled: false } : { enabled: true, ...handler.variants.stats() },
          ...(allWorkers === undefined ? {} : { allWorkers: allWorkers.snapshot, workers: allWorkers.workers }),
        },
        null,
        2,
      )}\n`,
    );
    res.writeHead(200, {
      'Content-Type': 'application/json; charset=utf-8',
      'Content-Length': body.length,
      'Cache-Control': 'no-store',
    });
    res.end(head ? undefined : body);
  };

  // The status page is the request path, as files are looked up (decoded, no empty or '.'
  // segments, no query), equal to statusPath: every spelling of it is the page, never a file.
  // (A statusPath with a '?' in it can never be a request path.)
  const statusPath = config.statusPath?.includes('?') === false ? requestPath(config.statusPath) : undefined;
  const isStatus = (path: string | undefined): boolean => statusPath !== undefined && path === statusPath;
  const onRequest = (req: IncomingMessage, res: ServerResponse) => {
    if (isStatus(requestPath(req.url)) && (req.method === 'GET' || req.method === 'HEAD')) {
      status(res, req.method === 'HEAD');
      return;
    }
    handler(req, res);
  };

  const options = {
    maxHeaderSize: config.maxHeaderSize,
    headersTimeout: config.headerTimeoutMs,
    // The whole request (we take no bodies) must arrive within this; responses are not limited by it.
    requestTimeout: config.headerTimeoutMs * 2,
    keepAliveTimeout: Math.min(5_000, config.idleTimeoutMs),
    noDelay: true,
    // node:http looks for expired header and request timeouts this often (30 s by default,
    // which let a slow sender keep its connection for up to 30 s past --header-timeout).
    connectionsCheckingInterval: timeoutCheckInterval(config.headerTimeoutMs),
  };
  const server =
    config.tls === undefined
      ? createServer(options, onRequest)
      : createHttpsServer({ ...options, ...config.tls }, onRequest);
  // A connection with no traffic either way for this long is closed (slow readers included).
  server.timeout = config.idleTimeoutMs;

  if (cluster.isWorker) {
    // Every second: our counters to the primary; the primary answers with everyone's.
    const timer = setInterval(() => {
      process.send?.({ zerocopy: 'counters', snapshot: counters.snapshot(front?.stats()) } satisfies WorkerMessage);
    }, 1000);
    timer.unref();
    process.on('message', (message: PrimaryMessage) => {
      if (message?.zerocopy === 'all-counters') allWorkers = message;
    });
  }

  const listen = workerListen(
    config.port,
    resolveBalance(config.balance, SERVE_BALANCE, config.listen.kind === 'unix').balance,
  );
  if (useNativeFront(config)) {
    front = createNativeFront(server, handler, {
      keepAliveTimeoutMs: options.keepAliveTimeout,
      idleTimeoutMs: config.idleTimeoutMs,
      maxHeaderSize: config.maxHeaderSize,
      reserved: isStatus,
      engine: config.engine,
      ...(config.log === 'off'
        ? {}
        : {
            onResponses: {
              // Only the combined format prints User-Agent and Referer.
              detail: config.log === 'combined' ? ('full' as const) : ('basic' as const),
              listener: (responses) => {
                // One write for all the responses of an event-loop turn.
                const now = new Date();
                let lines = '';
                for (const response of responses) {
                  const line = formatAccessLog(config.log, recordOfFrontResponse(response), now);
                  if (line !== undefined) lines += `${line}\n`;
                }
                if (lines !== '') process.stdout.write(lines);
              },
            },
          }),
    });
    // Asked for and not available: said once per process, and the front runs on epoll.
    if (front.engine.fallback !== undefined)
      process.stderr.write(`zerocopy serve: --engine ${config.engine}: using epoll: ${front.engine.fallback}\n`);
    front
      .listen(listen.port, config.host, listen.reusePort === true)
      .then(onListening, (error: Error) => server.emit('error', error));
  } else if (config.listen.kind === 'unix') {
    const path = config.listen.path;
    server.listen(path, () => onListening({ address: path, family: 'unix', port: 0 }));
  } else {
    // Node's ListenOptions types (20.x) predate reusePort; Node 22.12+ reads it.
    server.listen({ ...listen, host: config.host } as ListenOptions, () =>
      onListening(server.address() as AddressInfo),
    );
  }
  return { http: server, front };
}

function urlOf(config: ServeConfig, address: AddressInfo): string {
  if (address.family === 'unix') return `unix:${address.address}`;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return `${config.tls === undefined ? 'http' : 'https'}://${host}:${address.port}/`;
}

/** The other URLs the server answers at, when it listens on every address; one line each. */
function printOtherUrls(config: ServeConfig, address: AddressInfo): void {
  if (address.family === 'unix') return;
  const scheme = config.tls === undefined ? 'http' : 'https';
  for (const url of urlsFor(scheme, address.address, address.port)) {
    if (url !== urlOf(config, address)) process.stdout.write(`zerocopy serve:   also at ${url}\n`);
  }
}

/** On SIGTERM/SIGINT: stop accepting, let in-flight responses finish until the deadline, then close the rest. */
function shutdownOnSignal({ http: server, front }: Running, deadlineMs: number): void {
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    process.stderr.write(`zerocopy serve: ${signal}, finishing in-flight responses (up to ${deadlineMs} ms)\n`);
    if (front === undefined) {
      server.close(() => process.exit(0));
    } else {
      // The front's listener counts every connection it accepted, handed over or not.
      front.close(() => process.exit(0));
      server.close();
    }
    server.closeIdleConnections();
    // Keep-alive connections that finish a response go idle: close those as they do.
    const sweep = setInterval(() => server.closeIdleConnections(), 100);
    sweep.unref();
    setTimeout(() => {
      process.stderr.write('zerocopy serve: deadline reached, closing remaining connections\n');
      server.closeAllConnections();
      process.exit(0);
    }, deadlineMs).unref();
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

function runPrimary(config: ServeConfig): void {
  process.stdout.write(`zerocopy serve: kernel: ${kernelSummary()}\n`);
  const snapshots = new Map<number, CountersSnapshot>();
  const { balance, note } = resolveBalance(config.balance, SERVE_BALANCE, config.listen.kind === 'unix');
  if (note !== undefined) process.stderr.write(`zerocopy serve: ${note}\n`);
  cluster.on('message', (worker, message: WorkerMessage) => {
    // Every worker gets the sum, so any of them can answer the status page (at most ~1 s old).
    if (message?.zerocopy !== 'counters') return;
    snapshots.set(worker.id, message.snapshot);
    const total = ServeCounters.merge([...snapshots.values()]);
    for (const each of Object.values(cluster.workers ?? {})) {
      if (each?.isConnected()) {
        each.send({ zerocopy: 'all-counters', snapshot: total, workers: snapshots.size } satisfies PrimaryMessage);
      }
    }
  });
  superviseWorkers('serve', config.workers, config.shutdownTimeoutMs, {
    balance,
    port: config.port,
    onWorkerExit: (worker) => snapshots.delete(worker.id),
    onListening: (address) => {
      const host = address.address ?? config.host;
      const info = (
        config.listen.kind === 'unix'
          ? { address: config.listen.path, port: 0, family: 'unix' }
          : { address: host, port: address.port, family: host.includes(':') ? 'IPv6' : 'IPv4' }
      ) as AddressInfo;
      process.stdout.write(
        `zerocopy serve: ${config.dir} at ${urlOf(config, info)} (${config.workers} workers, ${balance})\n`,
      );
      printOtherUrls(config, info);
    },
  });
}

/** `zerocopy serve`; returns the exit code for argument errors, otherwise runs until a signal. */
export function serve(args: string[]): number {
  if (args.includes('-h') || args.includes('--help')) {
    process.stdout.write(SERVE_USAGE);
    return 0;
  }
  if (cluster.isWorker) {
    const config = parseServeArgs(args);
    shutdownOnSignal(startServer(config, announceListening), config.shutdownTimeoutMs);
    return 0;
  }
  const config = parseServeArgs(args);
  if (config.workers > 1) {
    runPrimary(config);
    return 0;
  }
  const running = startServer(config, (address) => {
    process.stdout.write(`zerocopy serve: kernel: ${kernelSummary()}\n`);
    process.stdout.write(`zerocopy serve: ${config.dir} at ${urlOf(config, address)} (pid ${process.pid})\n`);
    printOtherUrls(config, address);
  });
  running.http.on('error', (error) => {
    process.stderr.write(`zerocopy serve: ${error.message}\n`);
    process.exit(1);
  });
  shutdownOnSignal(running, config.shutdownTimeoutMs);
  return 0;
}
