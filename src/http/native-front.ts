// The native front of a node:http server that serves files (`zerocopy serve` uses it, and
// createNativeFront() gives it to anyone's server). Every connection starts in native/front/
// (front.cc is its Node-API glue), which answers complete, plain GET/HEAD requests for files
// in the file cache without a JavaScript call per request: with the file, a 304 for
// If-None-Match or If-Modified-Since, or a 206 of one range. The first request it cannot
// answer (a miss it cannot fill, several ranges, If-Match, anything unusual, anything after
// a request that closes) hands the connection, with that request and those before it in the
// same read still unread in the socket, to the node:http server, which then owns it for
// good and answers exactly as it would have alone.
import { maxHeaderSize as defaultMaxHeaderSize, type Server as HttpServer } from 'node:http';
import { Server as HttpsServer } from 'node:https';
import { type AddressInfo, createServer, type ListenOptions, type Server as NetServer, type Socket } from 'node:net';
import { performance } from 'node:perf_hooks';

import { addonStatus, binding } from '../binding/load.js';
import type {
  FrontBinding,
  FrontEntry,
  FrontLayout,
  FrontLogField,
  FrontStats,
  NativeLogValue,
} from '../binding/native.js';
import { TURN_SLICE_MS } from '../engine/pacer.js';
import { invalidArgType, invalidArgValue, unsupported } from '../errors.js';
import { descriptorIfOpen } from '../primitives/socket.js';
import { SMALL_TRANSFER_BYTES } from '../transfer/strategy.js';
import { readWhole } from './compressed-variant.js';
import {
  type FrontEngineChoice,
  type ResolvedFrontEngine,
  resolveFrontEngine,
  ringErrorReason,
} from './front-engine.js';
import { FIELDS_NOT_IN_304 } from './headers.js';
import { requestPath } from './resolve-path.js';
import type { StaticHandler } from './serve-static.js';
import { timeoutCheckInterval } from './timeout-check.js';

export interface NativeFrontOptions {
  /** An idle keep-alive connection is closed after this long. Default: the server's keepAliveTimeout. */
  keepAliveTimeoutMs?: number;
  /** A response that makes no progress for this long is aborted; 0 never. Default: the server's timeout. */
  idleTimeoutMs?: number;
  /** Longer request heads go to node:http, which refuses them. Default: the server's maxHeaderSize. */
  maxHeaderSize?: number;
  /**
   * A connection that sent nothing this long is answered 408 and closed, as node:http does.
   * Default: the server's headersTimeout.
   */
  headersTimeoutMs?: number;
  /**
   * Requests the native front must never answer, however they map to files: they always reach
   * the server's own request handler. Everything that must see a request first
   * (authentication, rewrites, routes that shadow files) belongs here. Called with the path
   * as files are looked up (requestPath(): decoded, no empty or '.' segments, no query), so
   * that '/%70rivate/x' and '//private/x' are '/private/x'; and with the target as sent. Either
   * returning true reserves the request. Match your own routes on requestPath(req.url) too.
   */
  reserved?: (path: string) => boolean;
  /**
   * Told, once per event-loop turn, about the responses the native side finished (all
   * bytes taken by the socket, or the connection failed first). 'full' adds User-Agent and
   * Referer. Unset: nothing is recorded per response.
   */
  onResponses?: { detail: 'basic' | 'full'; listener: (responses: FrontResponse[]) => void };
  /**
   * How connections are waited on and written to: 'epoll' (the default), 'io_uring', or 'auto'
   * (io_uring where the kernel allows it). Where io_uring cannot run, the front runs on epoll
   * and `engine.fallback` says why (docs/engines.md).
   */
  engine?: FrontEngineChoice;
}

type ResolvedFrontOptions = NativeFrontOptions & {
  keepAliveTimeoutMs: number;
  idleTimeoutMs: number;
  maxHeaderSize: number;
  headersTimeoutMs: number;
  /**
   * The server's maxRequestsPerSocket: the front counts the requests it answers the same way
   * and refuses those past the limit with node:http's 503 (HTTP/1.0 ones, and any it does not
   * answer itself, are node:http's). node:http keeps its count to itself, so a
   * connection handed to it after the front answered some requests starts a count afresh.
   */
  maxRequestsPerSocket: number;
  /** Header fields node:http keeps per request; requests with more are its own. 0: no limit. */
  maxHeaderFields: number;
};

/** node:http keeps this many header fields of a request when the server sets no maxHeadersCount. */
const NODE_DEFAULT_HEADER_FIELDS = 1000;

/** One response of the native front, for an access log. */
export interface FrontResponse {
  remote: string | undefined;
  /** 503: a request past the server's maxRequestsPerSocket. */
  status: 200 | 206 | 304 | 503;
  method: 'GET' | 'HEAD';
  url: string;
  httpVersion: '1.0' | '1.1';
  /** Body bytes taken by the socket. */
  bytes: number;
  /** From the response being queued to its last byte taken by the socket. */
  durationMs: number;
  transfer: 'memory' | 'sendfile' | 'none';
  encoding?: string;
  /** Why the response was cut short: an errno name, ETIMEDOUT for a stalled reader, or ERR_ZEROCOPY_SOURCE_TRUNCATED. */
  error?: string;
  userAgent?: string;
  referer?: string;
}

/**
 * Cached bodies from this size on are kept in a sealed memfd and leave by sendfile (no copy
 * on the way out); smaller ones go out with their head in one sendmsg. transfer()'s own
 * crossover, measured by `npm run bench -- small`.
 */
const SENDFILE_MIN_BYTES = SMALL_TRANSFER_BYTES;

/**
 * Disk reads the native front keeps on libuv's thread pool at once: half of it, so that the
 * file operations of JavaScript (which run there too) always find a thread.
 */
const DISK_READS_IN_FLIGHT = Math.max(1, Math.floor((Number(process.env.UV_THREADPOOL_SIZE) || 4) / 2));

const validFor = (validUntil: number) => Math.floor(validUntil - performance.now());

/** Whether the native front can run here (the addon loaded and has it). */
export function nativeFrontAvailable(): boolean {
  return addonStatus().available && typeof binding().NativeFront === 'function';
}

const NOT_IN_304 = new Set(FIELDS_NOT_IN_304.map((name) => name.toLowerCase()));
const NOT_IN_206 = new Set(['content-length']);

/** The head node:http writes with this status and these fields (less `omitted`), up to the Date it adds itself. */
function headOf(status: string, fields: readonly string[], omitted: ReadonlySet<string> = new Set()): Buffer {
  let head = `HTTP/1.1 ${status}\r\n`;
  for (let i = 0; i + 1 < fields.length; i += 2) {
    if (!omitted.has(fields[i]!.toLowerCase())) head += `${fields[i]}: ${fields[i + 1]}\r\n`;
  }
  return Buffer.from(head, 'latin1');
}

/** What the native side answers a 200, 206 or 304 from, given the 200's header fields and its body. */
function frontEntry(
  fields: readonly string[],
  encoding: string | undefined,
  fileKey: string,
  body: { body: Buffer } | { fileFd: number; fileSize: number },
): FrontEntry {
  const field = (name: string) => {
    for (let i = 0; i + 1 < fields.length; i += 2) if (fields[i]!.toLowerCase() === name) return fields[i + 1];
    return undefined;
  };
  const lastModified = Date.parse(field('last-modified') ?? '');
  return {
    head: headOf('200 OK', fields),
    headNotModified: headOf('304 Not Modified', fields, NOT_IN_304),
    headPartial: headOf('206 Partial Content', fields, NOT_IN_206),
    etag: field('etag'),
    lastModifiedMs: Number.isNaN(lastModified) ? undefined : lastModified,
    acceptRanges: field('accept-ranges') === 'bytes',
    encoding,
    fileKey,
    ...body,
  };
}

export class NativeFront {
  /** Accepts the connections; the node:http server never listens itself. */
  readonly listener: NetServer;
  readonly #http: HttpServer;
  readonly #handler: StaticHandler;
  readonly #front: FrontBinding;
  /**
   * The sockets the native side holds, by its id, with the peer's address read at adoption:
   * by the time a response is logged the peer may have closed, and getpeername() then fails.
   */
  readonly #sockets = new Map<number, { socket: Socket; remote: string | undefined }>();
  readonly #reserved: (target: string) => boolean;
  readonly #validityMs: number;
  readonly #sweep: NodeJS.Timeout;
  readonly #layout: FrontLayout;
  /** The engine the front runs on, and why not io_uring when that was asked for and is not used. */
  readonly engine: ResolvedFrontEngine;

  /** Use createNativeFront(), which checks its arguments and fills in the defaults. */
  constructor(http: HttpServer, handler: StaticHandler, options: ResolvedFrontOptions) {
    const cache = handler.cache;
    if (cache === undefined) throw new Error('the native front answers from the file cache, which is off');
    this.#http = http;
    this.#handler = handler;
    this.#reserved = options.reserved ?? (() => false);
    this.#validityMs = cache.limits.validityMs;
    const { NativeFront: NativeFrontBinding } = binding();
    this.#layout = NativeFrontBinding.layout;
    const wanted = resolveFrontEngine(options.engine);
    this.#front = new NativeFrontBinding(
      {
        keepAliveTimeoutMs: options.keepAliveTimeoutMs,
        maxHeaderSize: options.maxHeaderSize,
        varyOnAcceptEncoding: true,
        sendfileMinBytes: SENDFILE_MIN_BYTES,
        maxEntries: cache.limits.maxEntries * this.#layout.keysPerFile,
        maxBytes: cache.limits.maxBytes,
        turnSliceMs: TURN_SLICE_MS,
        diskReadsInFlight: DISK_READS_IN_FLIGHT,
        log: options.onResponses === undefined ? 0 : options.onResponses.detail === 'full' ? 2 : 1,
        maxRequestsPerSocket: options.maxRequestsPerSocket,
        maxHeaderFields: options.maxHeaderFields,
        handOverWithOrigin: handler.variesByOrigin === true,
        engine: wanted.engine,
      },
      (fills, handOvers, closes, log) => {
        // Before the closes: a finished response's socket is still known, for its address.
        if (log !== undefined) options.onResponses?.listener(this.#responsesOf(log));
        this.#onEvents(fills, handOvers, closes);
      },
    );
    const running = this.#front.engine();
    this.engine =
      running.engine === wanted.engine
        ? wanted
        : { engine: running.engine, fallback: wanted.fallback ?? ringErrorReason(running.errno) };
    this.listener = createServer({ pauseOnConnect: true, noDelay: true }, (socket) => this.#adopt(socket));
    // 0 means "never", as for node:http's timeout.
    const stalledMs = options.idleTimeoutMs === 0 ? Number.MAX_SAFE_INTEGER : options.idleTimeoutMs;
    // 0 turns node:http's header timeout off too. The sweep also lets go of expired answers
    // (and the descriptors of files deleted since).
    const headersMs = options.headersTimeoutMs === 0 ? Number.MAX_SAFE_INTEGER : options.headersTimeoutMs;
    this.#sweep = setInterval(
      () => this.#front.sweep(options.keepAliveTimeoutMs, stalledMs, headersMs),
      Math.min(
        timeoutCheckInterval(options.keepAliveTimeoutMs, options.idleTimeoutMs, options.headersTimeoutMs),
        Math.max(100, this.#validityMs),
      ),
    );
    this.#sweep.unref();
  }

  /**
   * Listens in the server's place. node:http starts tracking connections (header and request
   * timeouts, closeIdleConnections) on its 'listening' event, which it gets from here.
   * `reusePort` gives this process a listening socket of its own on a shared port (SO_REUSEPORT).
   */
  listen(port: number, host?: string, reusePort = false): Promise<AddressInfo> {
    return new Promise((resolve, reject) => {
      const failed = (error: Error) => reject(error);
      this.listener.once('error', failed);
      // Node's ListenOptions types (20.x) predate reusePort; Node 22.12+ reads it.
      const options: ListenOptions & { reusePort?: boolean } = reusePort ? { port, host, reusePort } : { port, host };
      this.listener.listen(options, () => {
        this.listener.off('error', failed);
        // Later failures are the server's, as if it were listening itself.
        this.listener.on('error', (error) => this.#http.emit('error', error));
        this.#http.emit('listening');
        resolve(this.listener.address() as AddressInfo);
      });
    });
  }

  /** What the native side answered (for the status page). */
  stats(): FrontStats {
    return this.#front.stats();
  }

  /** Graceful shutdown: stop accepting; idle connections close, ones with a request waiting go to node:http. */
  close(onClosed?: () => void): void {
    clearInterval(this.#sweep);
    this.listener.close(onClosed);
    this.#front.drain();
  }

  #adopt(socket: Socket): void {
    const fd = descriptorIfOpen(socket);
    const id = fd === undefined ? -1 : this.#front.adopt(fd);
    if (id < 0) {
      this.#toHttp(socket);
      return;
    }
    this.#sockets.set(id, { socket, remote: socket.remoteAddress });
    // Nothing reads this socket while the native side has it, so nothing can fail on it
    // unnoticed; a socket destroyed from outside is forgotten.
    socket.once('close', () => this.#sockets.delete(id));
  }

  #responsesOf(log: NativeLogValue[]): FrontResponse[] {
    const { logFields, logField, logFlag } = this.#layout;
    const responses: FrontResponse[] = [];
    for (let i = 0; i + logFields <= log.length; i += logFields) {
      const field = (name: FrontLogField) => log[i + logField[name]];
      const flags = field('flags') as number;
      const status = field('status') as FrontResponse['status'];
      const head = (flags & logFlag.head) !== 0;
      const response: FrontResponse = {
        remote: this.#sockets.get(field('connection') as number)?.remote,
        status,
        method: head ? 'HEAD' : 'GET',
        url: field('target') as string,
        httpVersion: (flags & logFlag.http10) !== 0 ? '1.0' : '1.1',
        bytes: field('bodyBytes') as number,
        durationMs: field('durationMs') as number,
        transfer:
          head || status === 304 || status === 503 ? 'none' : field('sendfile') === true ? 'sendfile' : 'memory',
      };
      const encoding = field('encoding');
      const error = field('error');
      const userAgent = field('userAgent');
      const referer = field('referer');
      if (typeof encoding === 'string') response.encoding = encoding;
      if (typeof error === 'string') response.error = error;
      if (typeof userAgent === 'string') response.userAgent = userAgent;
      if (typeof referer === 'string') response.referer = referer;
      responses.push(response);
    }
    return responses;
  }

  #toHttp(socket: Socket): void {
    this.#http.emit('connection', socket);
    socket.resume();
  }

  #onEvents(fills: Array<string | null>, handOvers: number[], closes: number[]): void {
    for (const id of closes) {
      const socket = this.#sockets.get(id)?.socket;
      this.#sockets.delete(id);
      socket?.destroy();
    }
    for (const id of handOvers) {
      const socket = this.#sockets.get(id)?.socket;
      this.#sockets.delete(id);
      if (socket !== undefined && !socket.destroyed) this.#toHttp(socket);
    }
    const { fillFields, fillField } = this.#layout;
    for (let i = 0; i + fillFields <= fills.length; i += fillFields) {
      const key = fills[i + fillField.key] as string;
      this.#fill(key, fills[i + fillField.target] as string, fills[i + fillField.acceptEncoding] ?? undefined);
    }
  }

  /** Asks the file cache for `target` as a request would, and gives the answer to the native side. */
  #fill(key: string, target: string, acceptEncoding: string | undefined): void {
    const handOver = (validForMs: number) => this.#front.complete(key, null, validForMs);
    // A target no file lookup accepts is never answered here either.
    const path = requestPath(target);
    if (path === undefined || this.#reserved(path) || this.#reserved(target)) {
      handOver(this.#validityMs);
      return;
    }
    // The native copy expires with the JavaScript entry; one about to expire is revalidated
    // at once rather than handed over with no time left.
    this.#handler.frontAnswer(target, acceptEncoding, this.#validityMs / 10).then(
      async (answer) => {
        if (answer === undefined) {
          handOver(this.#validityMs);
          return;
        }
        if (answer.kind === 'cached') {
          const { entry } = answer;
          const native = frontEntry(entry.headers200, entry.encoding, answer.fileKey, { body: entry.body });
          this.#front.complete(key, native, validFor(entry.validUntil));
          return;
        }
        if (answer.kind === 'variant') {
          // A small variant goes out with its head in one write, as any small cached body; a
          // larger one by sendfile from the sealed memfd, of which the native side keeps a dup.
          try {
            const body =
              answer.size < SENDFILE_MIN_BYTES
                ? { body: readWhole(answer.fd, answer.size) }
                : { fileFd: answer.fd, fileSize: answer.size };
            const native = frontEntry(answer.headers, answer.encoding, answer.fileKey, body);
            this.#front.complete(key, native, validFor(answer.validUntil));
          } catch {
            handOver(0);
          } finally {
            answer.release();
          }
          return;
        }
        // The native side keeps its own dup of the descriptor.
        try {
          const native = frontEntry(answer.headers, answer.encoding, answer.fileKey, {
            fileFd: answer.file.fd,
            fileSize: answer.size,
          });
          this.#front.complete(key, native, validFor(answer.validUntil));
        } finally {
          await answer.file.close().catch(() => undefined);
        }
      },
      // The full path meets the same failure and answers it properly.
      () => handOver(0),
    );
  }
}

/**
 * Puts a native front before `server`, a node:http server whose requests `handler` (a
 * serveStatic() with its file cache on) serves, alone or behind routes of your own: the
 * front answers plain GET/HEAD requests for cached files itself and hands every other
 * connection, untouched, to `server`. Listen with the front's listen(), not the server's.
 * Requests the front answers never reach your code: list targets that must (routes that
 * shadow files, anything behind authentication) in `reserved`. Linux only; where the addon
 * cannot run it, throws ERR_ZEROCOPY_UNSUPPORTED (check nativeFrontAvailable() first).
 * The server's limits (maxHeaderSize, headersTimeout, maxRequestsPerSocket, maxHeadersCount)
 * are read here, once: set them before.
 */
export function createNativeFront(
  server: HttpServer,
  handler: StaticHandler,
  options: NativeFrontOptions = {},
): NativeFront {
  if (server instanceof HttpsServer)
    throw invalidArgValue('server', server, 'must be a plain node:http server (the native front speaks no TLS)');
  if (typeof handler !== 'function' || typeof handler.frontAnswer !== 'function')
    throw invalidArgType('handler', 'a serveStatic() handler', handler);
  if (handler.cache === undefined)
    throw invalidArgValue('handler', handler, 'must keep its file cache on (cacheValidity > 0)');
  if (!nativeFrontAvailable()) throw unsupported('the native front', 'needs the addon on Linux');
  return new NativeFront(server, handler, {
    ...options,
    keepAliveTimeoutMs: options.keepAliveTimeoutMs ?? server.keepAliveTimeout,
    idleTimeoutMs: options.idleTimeoutMs ?? server.timeout,
    // The server's own limits, as node:http applies them to the connections handed to it.
    maxHeaderSize:
      options.maxHeaderSize ?? (server as { maxHeaderSize?: number }).maxHeaderSize ?? defaultMaxHeaderSize,
    headersTimeoutMs: options.headersTimeoutMs ?? server.headersTimeout,
    maxRequestsPerSocket: server.maxRequestsPerSocket ?? 0,
    maxHeaderFields:
      typeof server.maxHeadersCount === 'number' ? Math.max(0, server.maxHeadersCount) : NODE_DEFAULT_HEADER_FIELDS,
  });
}
