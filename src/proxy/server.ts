// A TCP / Unix-socket proxy on pipeSockets: connection limit, connect and idle timeouts,
// one log record per connection, counters, and a graceful close.
import { type AddressInfo, connect, createServer, type ListenOptions, type Server, type Socket } from 'node:net';

import { addonStatus } from '../binding/load.js';
import { invalidArgValue } from '../errors.js';
import { validateInt, validateObject } from '../primitives/validate.js';
import { type DirectionReport, type PipeOutcome, pipeSockets, type SpliceMode } from './pipe-sockets.js';

/** Where to listen or connect: a TCP host and port, or a Unix socket path. */
export type ProxyAddress = { host: string; port: number } | { path: string };

export interface ProxyOptions {
  /** The upstream every accepted connection is joined to. */
  to: ProxyAddress;
  /** Connections beyond this many at once are closed as soon as they are accepted. Default 10000. */
  maxConnections?: number;
  /** Give up on an upstream that does not accept within this long. Default 10000 ms. */
  connectTimeoutMs?: number;
  /** Close a connection with no traffic either way for this long. Default 0 (never). */
  idleTimeoutMs?: number;
  splice?: SpliceMode;
  spliceAfterLargeReads?: number;
  /** One record per connection, when it is over. */
  onConnection?: (record: ConnectionRecord) => void;
}

export type ConnectionOutcome = PipeOutcome | 'upstream-error' | 'over-limit' | 'client-gone';

export interface ConnectionRecord {
  id: number;
  client: string;
  outcome: ConnectionOutcome;
  /** Client -> upstream. */
  up: DirectionReport;
  /** Upstream -> client. */
  down: DirectionReport;
  durationMs: number;
  /** 'splice' if the kernel moved any of the bytes; otherwise 'copy' and why. */
  method: 'splice' | 'copy';
  reason?: string;
  error?: string;
}

export interface ProxyCounters {
  accepted: number;
  active: number;
  completed: number;
  failed: number;
  /** Closed on arrival because maxConnections were open. */
  overLimit: number;
  upstreamErrors: number;
  bytesUp: number;
  bytesDown: number;
  /** Connections where splice moved bytes in at least one direction. */
  spliced: number;
}

/** What #accept knows when a connection is over; #record turns it into a ConnectionRecord. */
interface FinishedConnection {
  id: number;
  client: string;
  outcome: ConnectionOutcome;
  started: number;
  up?: DirectionReport;
  down?: DirectionReport;
  error?: string;
}

const EMPTY_DIRECTION: DirectionReport = { bytes: 0, copiedBytes: 0, splicedBytes: 0, method: 'copy', ended: false };

export function describeAddress(address: ProxyAddress): string {
  return 'path' in address
    ? `unix:${address.path}`
    : `${address.host.includes(':') ? `[${address.host}]` : address.host}:${address.port}`;
}

function peerOf(socket: Socket): string {
  if (socket.remoteAddress === undefined) return 'unix';
  return `${socket.remoteFamily === 'IPv6' ? `[${socket.remoteAddress}]` : socket.remoteAddress}:${socket.remotePort}`;
}

function describeError(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const code = (error as NodeJS.ErrnoException).code;
  return code !== undefined && !error.message.startsWith(code) ? `${code}: ${error.message}` : error.message;
}

export class ProxyServer {
  readonly server: Server;
  readonly counters: ProxyCounters = {
    accepted: 0,
    active: 0,
    completed: 0,
    failed: 0,
    overLimit: 0,
    upstreamErrors: 0,
    bytesUp: 0,
    bytesDown: 0,
    spliced: 0,
  };
  readonly #options: Required<Omit<ProxyOptions, 'onConnection'>> & Pick<ProxyOptions, 'onConnection'>;
  /** Aborts each open connection, for close(). */
  readonly #open = new Set<AbortController>();
  readonly #idleWaiters: Array<() => void> = [];
  #nextId = 1;

  constructor(options: ProxyOptions) {
    const opts = validateObject(options, 'options') as unknown as ProxyOptions;
    const to = opts.to as ProxyAddress | undefined;
    if (
      to === undefined ||
      !(('path' in to && typeof to.path === 'string') || ('port' in to && typeof to.host === 'string'))
    )
      throw invalidArgValue('options.to', to, 'must be { host, port } or { path }');
    this.#options = {
      to,
      maxConnections:
        opts.maxConnections === undefined
          ? 10_000
          : validateInt(opts.maxConnections, 'options.maxConnections', 1, 10_000_000),
      connectTimeoutMs:
        opts.connectTimeoutMs === undefined
          ? 10_000
          : validateInt(opts.connectTimeoutMs, 'options.connectTimeoutMs', 1, 2 ** 31 - 1),
      idleTimeoutMs:
        opts.idleTimeoutMs === undefined ? 0 : validateInt(opts.idleTimeoutMs, 'options.idleTimeoutMs', 0, 2 ** 31 - 1),
      splice: opts.splice ?? 'auto',
      spliceAfterLargeReads: opts.spliceAfterLargeReads ?? 8,
      onConnection: opts.onConnection,
    };
    // pauseOnConnect: no byte is read by Node before pipeSockets decides how to move it.
    this.server = createServer({ allowHalfOpen: true, pauseOnConnect: true }, (client) => this.#accept(client));
  }

  /** Starts listening; resolves with the bound address (a path for Unix sockets). */
  listen(address: ProxyAddress, reusePort = false): Promise<AddressInfo | string> {
    // Load the addon now (node-gyp-build's lookup and dlopen take milliseconds) rather than
    // when the first connection switches to splice; a missing addon only means copying.
    if (this.#options.splice !== 'never') addonStatus();
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      const ready = () => {
        this.server.off('error', reject);
        resolve(this.server.address() as AddressInfo | string);
      };
      if ('path' in address) this.server.listen(address.path, ready);
      // Node's ListenOptions types (20.x) predate reusePort; Node 22.12+ reads it.
      else if (reusePort)
        this.server.listen({ port: address.port, host: address.host, reusePort } as ListenOptions, ready);
      else this.server.listen(address.port, address.host, ready);
    });
  }

  /**
   * Stops accepting, lets open connections finish for up to `graceMs`, then cuts the rest.
   * Resolves when every connection is gone.
   */
  async close(graceMs = 10_000): Promise<void> {
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    if (this.counters.active > 0) {
      const idle = new Promise<void>((resolve) => this.#idleWaiters.push(resolve));
      let timer: NodeJS.Timeout | undefined;
      const deadline = new Promise<void>((resolve) => {
        timer = setTimeout(resolve, graceMs);
      });
      await Promise.race([idle, deadline]);
      clearTimeout(timer);
      for (const controller of this.#open) controller.abort(new Error('proxy shutting down'));
      if (this.counters.active > 0) await new Promise<void>((resolve) => this.#idleWaiters.push(resolve));
    }
    await closed;
  }

  #accept(client: Socket): void {
    const id = this.#nextId++;
    const started = performance.now();
    this.counters.accepted++;
    client.on('error', () => {});
    const peer = peerOf(client);
    if (this.counters.active >= this.#options.maxConnections) {
      this.counters.overLimit++;
      client.destroy();
      this.#record({ id, client: peer, outcome: 'over-limit', started, error: 'connection limit reached' });
      return;
    }
    this.counters.active++;
    const controller = new AbortController();
    this.#open.add(controller);
    const finished = () => {
      this.#open.delete(controller);
      this.counters.active--;
      if (this.counters.active === 0) for (const wake of this.#idleWaiters.splice(0)) wake();
    };

    const target = this.#options.to;
    const upstream = connect({ ...target, allowHalfOpen: true });
    upstream.on('error', () => {});
    const timer = setTimeout(() => {
      upstream.destroy(Object.assign(new Error('upstream connect timed out'), { code: 'ETIMEDOUT' }));
    }, this.#options.connectTimeoutMs);
    const gaveUp = (outcome: ConnectionOutcome, error: string) => {
      clearTimeout(timer);
      client.destroy();
      upstream.destroy();
      if (outcome === 'upstream-error') this.counters.upstreamErrors++;
      this.counters.failed++;
      this.#record({ id, client: peer, outcome, started, error });
      finished();
    };
    const onConnectError = (error: Error) => gaveUp('upstream-error', describeError(error));
    const onClientGone = () => gaveUp('client-gone', 'client closed before the upstream accepted');
    const onAbort = () => gaveUp('aborted', 'proxy shutting down');
    upstream.once('error', onConnectError);
    client.once('close', onClientGone);
    controller.signal.addEventListener('abort', onAbort, { once: true });
    upstream.once('connect', () => {
      clearTimeout(timer);
      upstream.off('error', onConnectError);
      client.off('close', onClientGone);
      controller.signal.removeEventListener('abort', onAbort);
      // Request/response traffic must not wait for Nagle; bulk traffic is unaffected.
      client.setNoDelay(true);
      upstream.setNoDelay(true);
      void pipeSockets(client, upstream, {
        splice: this.#options.splice,
        spliceAfterLargeReads: this.#options.spliceAfterLargeReads,
        idleTimeoutMs: this.#options.idleTimeoutMs,
        signal: controller.signal,
      }).then((report) => {
        this.counters.bytesUp += report.aToB.bytes;
        this.counters.bytesDown += report.bToA.bytes;
        if (report.outcome === 'complete') this.counters.completed++;
        else this.counters.failed++;
        if (report.aToB.splicedBytes + report.bToA.splicedBytes > 0) this.counters.spliced++;
        const record: FinishedConnection = {
          id,
          client: peer,
          outcome: report.outcome,
          started,
          up: report.aToB,
          down: report.bToA,
        };
        if (report.error !== undefined) record.error = describeError(report.error);
        this.#record(record);
        finished();
      });
    });
  }

  #record(entry: FinishedConnection): void {
    const onConnection = this.#options.onConnection;
    if (onConnection === undefined) return;
    const up = entry.up ?? EMPTY_DIRECTION;
    const down = entry.down ?? EMPTY_DIRECTION;
    const spliced = up.splicedBytes + down.splicedBytes > 0;
    const record: ConnectionRecord = {
      id: entry.id,
      client: entry.client,
      outcome: entry.outcome,
      up,
      down,
      durationMs: performance.now() - entry.started,
      method: spliced ? 'splice' : 'copy',
    };
    const reason = spliced ? undefined : (up.reason ?? down.reason);
    if (reason !== undefined) record.reason = reason;
    if (entry.error !== undefined) record.error = entry.error;
    onConnection(record);
  }
}

/** A proxy from each accepted connection to `options.to`; call listen() on it. */
export function createProxy(options: ProxyOptions): ProxyServer {
  return new ProxyServer(options);
}

/**
 * Parses 'host:port', '[v6]:port', a bare port (127.0.0.1), 'unix:/path' or a path
 * containing a slash.
 */
export function parseAddress(text: string): ProxyAddress {
  if (text.startsWith('unix:')) return { path: text.slice('unix:'.length) };
  if (text.includes('/')) return { path: text };
  const match = /^(?:\[([^\]]+)\]|([^:]*)):(\d+)$/.exec(text) ?? /^()()(\d+)$/.exec(text);
  if (match === null) throw invalidArgValue('address', text, "must be 'host:port', a port, or 'unix:/path'");
  const port = Number(match[3]);
  if (port > 65535) throw invalidArgValue('address', text, 'has a port above 65535');
  const host = match[1] || match[2] || '127.0.0.1';
  return { host, port };
}
