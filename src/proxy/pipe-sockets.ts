// Two connected sockets joined both ways: bytes from each go to the other until both
// sides are done. The native relay (native/relay/relay.cc) moves each direction by recv()/send()
// while it carries small exchanges and by splice() once it carries bulk data; Node's own
// streams copy where the addon or a descriptor is missing (TLS), and transfer() splices
// when asked to from the first byte ('always').
import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';

import { abortError } from '../engine/abort.js';
import { idleTimeout, invalidArgType, invalidArgValue, socketClosed, systemError } from '../errors.js';
import { descriptorIfOpen } from '../primitives/socket.js';
import { validateInt, validateObject, validateOneOf } from '../primitives/validate.js';
import { transfer } from '../transfer/index.js';
import { leaseSource } from '../transfer/node-socket.js';
import { LARGE_READ_BYTES, relayHub } from './native-relay.js';

export { LARGE_READ_BYTES };

/**
 * Consecutive large reads after which 'auto' hands a direction to splice (with the
 * defaults, 128 KiB or more of streaming). HAProxy's splice-auto likewise waits until
 * its buffers keep filling. Request/response traffic with messages under 16 KiB never
 * gets there and keeps the cheaper copy path; the `proxy` benchmark measures both sides.
 */
export const SPLICE_AFTER_LARGE_READS = 8;

export type SpliceMode = 'auto' | 'always' | 'never';

export interface PipeSocketsOptions {
  /**
   * 'auto' (default): each direction starts by copying (recv/send in the native relay) and
   * switches to splice once its reads keep coming in large (see LARGE_READ_BYTES).
   * 'always': splice from the first byte. 'never': copy only.
   */
  splice?: SpliceMode;
  /** 'auto' only: how many consecutive reads of LARGE_READ_BYTES or more switch a direction to splice. */
  spliceAfterLargeReads?: number;
  /** End both sockets when no byte has moved either way for this long. 0 (default): never. */
  idleTimeoutMs?: number;
  /** Destroys both sockets and ends the report with outcome 'aborted'. */
  signal?: AbortSignal;
  /** Called with the running totals whenever bytes move, for live counters. Keep it cheap. */
  onProgress?: (progress: { aToB: number; bToA: number }) => void;
}

export interface DirectionReport {
  /** Bytes delivered to the other socket. */
  bytes: number;
  /** Bytes copied through userspace (before a switch to splice, or all of them). */
  copiedBytes: number;
  /**
   * Who copied them: 'native' (recv/send in the addon, no JavaScript per message) or 'node'
   * (Node's streams: TLS sockets, or no addon). Absent when nothing was copied.
   */
  copiedBy?: 'native' | 'node';
  /** Bytes the kernel moved by splice. */
  splicedBytes: number;
  /** 'splice' when the kernel moved any of this direction's bytes. */
  method: 'splice' | 'copy';
  /** Why the bytes (or the first of them) went through Node. */
  reason?: string;
  /** The source sent its FIN and the FIN was passed on. */
  ended: boolean;
}

export type PipeOutcome = 'complete' | 'idle-timeout' | 'aborted' | 'error';

export interface PipeSocketsReport {
  aToB: DirectionReport;
  bToA: DirectionReport;
  durationMs: number;
  /** 'complete': both directions reached their end and were passed on. */
  outcome: PipeOutcome;
  /** What ended it early (a reset, a refused write, the idle timer, the signal). */
  error?: Error;
}

class Direction {
  /** Moved by Node's streams, or by transfer() (copying when it could not splice). */
  copiedBytes = 0;
  /** Spliced by transfer(). */
  splicedBytes = 0;
  /** What the native relay moved, and of that what it spliced (its counts are totals). */
  relayed = { bytes: 0, spliced: 0 };
  reason: string | undefined;
  ended = false;
  #largeReads = 0;
  /** Set when the native relay moves this direction; settles as copyPhase() would. */
  nativeCopy: Promise<'end' | 'switch'> | undefined;

  constructor(
    readonly from: Socket,
    readonly to: Socket,
    readonly mode: SpliceMode,
    readonly spliceAfterLargeReads: number,
    readonly link: Link,
  ) {}

  get bytes(): number {
    return this.copiedBytes + this.splicedBytes + this.relayed.bytes;
  }

  async run(): Promise<void> {
    if (this.mode !== 'always') {
      const phase = await (this.nativeCopy ?? this.copyPhase());
      if (phase === 'end') {
        this.reason ??=
          this.mode === 'never'
            ? 'splice disabled'
            : `small exchanges (no ${this.spliceAfterLargeReads} reads of ${LARGE_READ_BYTES / 1024} KiB in a row)`;
        return this.finish();
      }
    }
    await this.splicePhase();
    this.finish();
  }

  /** Passes the FIN on: the other direction keeps flowing (half-close). */
  finish(): void {
    this.ended = true;
    if (!this.to.destroyed && !this.to.writableEnded) this.to.end();
  }

  /** Node reads, we write; resolves 'end' at the source's FIN or 'switch' once reads keep filling. */
  copyPhase(): Promise<'end' | 'switch'> {
    const { from, to, link } = this;
    return new Promise((resolve, reject) => {
      const cleanup = () => {
        from.off('data', onData);
        from.off('end', onEnd);
        to.off('drain', onDrain);
        link.signal.removeEventListener('abort', onAbort);
      };
      const onData = (chunk: Buffer) => {
        this.copiedBytes += chunk.byteLength;
        link.moved();
        const accepted = to.write(chunk);
        if (this.mode === 'auto') {
          this.#largeReads = chunk.byteLength >= LARGE_READ_BYTES ? this.#largeReads + 1 : 0;
          if (this.#largeReads >= this.spliceAfterLargeReads) {
            // Stop Node's reading now; transfer() takes what it already buffered first.
            from.pause();
            cleanup();
            resolve('switch');
            return;
          }
        }
        if (!accepted) {
          from.pause();
          to.once('drain', onDrain);
        }
      };
      const onDrain = () => from.resume();
      const onEnd = () => {
        cleanup();
        resolve('end');
      };
      const onAbort = () => {
        cleanup();
        reject(abortError(link.signal));
      };
      if (link.signal.aborted) return onAbort();
      from.on('data', onData);
      from.once('end', onEnd);
      link.signal.addEventListener('abort', onAbort, { once: true });
      from.resume();
    });
  }

  async splicePhase(): Promise<void> {
    let counted = 0;
    const report = await transfer(this.from, this.to, {
      signal: this.link.signal,
      onProgress: (total) => {
        this.splicedBytes += total - counted;
        counted = total;
        this.link.moved();
      },
    });
    this.splicedBytes += report.bytes - counted;
    if (report.method !== 'splice') {
      // TLS or no addon: transfer() copied, and says why.
      this.copiedBytes += this.splicedBytes;
      this.splicedBytes = 0;
      this.reason ??= report.fallback?.reason ?? `transfer() chose ${report.method}`;
    }
  }

  report(): DirectionReport {
    const copiedBytes = this.copiedBytes + this.relayed.bytes - this.relayed.spliced;
    const splicedBytes = this.splicedBytes + this.relayed.spliced;
    const report: DirectionReport = {
      bytes: this.bytes,
      copiedBytes,
      splicedBytes,
      method: splicedBytes > 0 ? 'splice' : 'copy',
      ended: this.ended,
    };
    if (copiedBytes > 0) report.copiedBy = this.nativeCopy === undefined ? 'node' : 'native';
    if (this.reason !== undefined && splicedBytes === 0) report.reason = this.reason;
    return report;
  }
}

/** What both directions share: one abort for both, the idle clock, the first failure. */
class Link {
  readonly #controller = new AbortController();
  readonly signal = this.#controller.signal;
  lastActivity = performance.now();
  failure: { outcome: PipeOutcome; error: Error } | undefined;
  onMoved: (() => void) | undefined;
  /** Brings byte counts and lastActivity up to date where bytes move out of sight (the native relay). */
  refresh: (() => void) | undefined;

  moved(): void {
    this.lastActivity = performance.now();
    this.onMoved?.();
  }

  fail(outcome: PipeOutcome, error: Error, sockets: Socket[]): void {
    if (this.failure !== undefined) return;
    this.failure = { outcome, error };
    this.#controller.abort(error);
    for (const socket of sockets) socket.destroy();
  }
}

function checkConnected(socket: unknown, name: string): Socket {
  const candidate = socket as Socket | null;
  if (candidate === null || typeof candidate !== 'object' || typeof candidate.pause !== 'function')
    throw invalidArgType(name, 'a connected net.Socket', socket);
  if (candidate.destroyed || candidate.connecting || candidate.readyState === 'closed')
    throw invalidArgValue(name, socket, 'must be connected and not destroyed');
  return candidate;
}

/**
 * Joins two connected sockets both ways until both are done: each direction is moved by
 * splice through a pooled pipe once it carries bulk data (see `splice`), a FIN one way is
 * passed on without cutting the other way (half-close), each side is only read as fast as
 * the other side takes it, and an idle timeout ends a stalled pair.
 *
 * Resolves, never rejects (except for bad arguments), with what moved each way and how it
 * ended; on any failure both sockets are destroyed. Sets `allowHalfOpen` on both sockets:
 * without it Node would answer one side's FIN by closing that side for writing too.
 */
export async function pipeSockets(a: Socket, b: Socket, options?: PipeSocketsOptions): Promise<PipeSocketsReport> {
  const socketA = checkConnected(a, 'a');
  const socketB = checkConnected(b, 'b');
  if (socketA === socketB) throw invalidArgValue('b', b, 'must be a different socket from a');
  const opts = validateObject(options, 'options') as PipeSocketsOptions;
  const mode =
    opts.splice === undefined
      ? 'auto'
      : validateOneOf(opts.splice, 'options.splice', ['auto', 'always', 'never'] as const);
  const spliceAfter =
    opts.spliceAfterLargeReads === undefined
      ? SPLICE_AFTER_LARGE_READS
      : validateInt(opts.spliceAfterLargeReads, 'options.spliceAfterLargeReads', 1, 1_000_000);
  const idleMs =
    opts.idleTimeoutMs === undefined ? 0 : validateInt(opts.idleTimeoutMs, 'options.idleTimeoutMs', 0, 2 ** 31 - 1);
  if (opts.onProgress !== undefined && typeof opts.onProgress !== 'function')
    throw invalidArgType('options.onProgress', 'a function', opts.onProgress);

  const started = performance.now();
  const sockets = [socketA, socketB];
  const link = new Link();
  for (const socket of sockets) {
    socket.allowHalfOpen = true;
    socket.pause();
  }
  const aToB = new Direction(socketA, socketB, mode, spliceAfter, link);
  const bToA = new Direction(socketB, socketA, mode, spliceAfter, link);
  if (opts.onProgress !== undefined) {
    const onProgress = opts.onProgress;
    link.onMoved = () => onProgress({ aToB: aToB.bytes, bToA: bToA.bytes });
  }

  const onError = (error: Error) => link.fail('error', error, sockets);
  // A socket destroyed under us (by its owner, or after a reset) ends the pair.
  const onClose = () => {
    if (!(aToB.ended && bToA.ended)) link.fail('error', socketClosed(), sockets);
  };
  const onAbort = () => link.fail('aborted', abortError(opts.signal as AbortSignal), sockets);
  for (const socket of sockets) {
    socket.on('error', onError);
    socket.once('close', onClose);
  }
  if (opts.signal?.aborted) onAbort();
  else opts.signal?.addEventListener('abort', onAbort, { once: true });

  let idleTimer: NodeJS.Timeout | undefined;
  if (idleMs > 0) {
    const check = () => {
      link.refresh?.();
      const quiet = performance.now() - link.lastActivity;
      if (quiet >= idleMs) link.fail('idle-timeout', idleTimeout(idleMs), sockets);
      else idleTimer = setTimeout(check, idleMs - quiet + 1);
    };
    idleTimer = setTimeout(check, idleMs);
  }

  const stopRelay = link.signal.aborted
    ? undefined
    : copyNatively(aToB, bToA, link, mode === 'never' ? 0 : mode === 'auto' ? spliceAfter : undefined, {
        // Live progress costs a JavaScript call per turn of the event loop; without a
        // listener the counts are read when needed (idle checks, the end).
        reportMoves: opts.onProgress !== undefined,
      });
  const directions = [aToB, bToA].map((direction) =>
    direction.run().catch((error: unknown) => {
      const failure = error instanceof Error ? error : new Error(String(error));
      // An abort we caused ourselves is not a second failure.
      if (link.failure === undefined) link.fail('error', failure, sockets);
    }),
  );
  await Promise.all(directions);
  stopRelay?.();
  if (link.failure === undefined) await waitForFlush(sockets, link);
  if (idleTimer !== undefined) clearTimeout(idleTimer);
  opts.signal?.removeEventListener('abort', onAbort);
  for (const socket of sockets) {
    socket.off('close', onClose);
    // Later errors (a reset after both FINs) must not crash the process.
    socket.off('error', onError);
    socket.on('error', () => {});
    socket.destroy();
  }

  const report: PipeSocketsReport = {
    aToB: aToB.report(),
    bToA: bToA.report(),
    durationMs: performance.now() - started,
    outcome: link.failure?.outcome ?? 'complete',
  };
  if (link.failure !== undefined) report.error = link.failure.error;
  return report;
}

/**
 * Hands both directions to the native relay (copying, then splicing), when it can take them:
 * plain sockets with descriptors, nothing queued in Node to write. Bytes Node had already
 * read go first. Returns what lets the pair go once both directions are done, or undefined
 * when the relay did not take them (Node's streams copy then).
 * `spliceAfter`: large reads in a row that switch a direction to splice, 0 never, and
 * undefined when splice starts at once (no copy phase to hand over).
 */
function copyNatively(
  aToB: Direction,
  bToA: Direction,
  link: Link,
  spliceAfter: number | undefined,
  { reportMoves }: { reportMoves: boolean },
): (() => void) | undefined {
  if (spliceAfter === undefined) return undefined;
  const sockets = [aToB.from, bToA.from] as const;
  if (sockets.some((socket) => (socket as TLSSocket).encrypted === true || socket.writableLength > 0)) return undefined;
  const fdA = descriptorIfOpen(sockets[0]);
  const fdB = descriptorIfOpen(sockets[1]);
  const relay = relayHub();
  if (fdA === undefined || fdB === undefined || relay === undefined) return undefined;

  const leases = sockets.map((socket) => leaseSource(socket));
  const first = leases.map((lease) => (lease.buffered.length === 0 ? null : Buffer.concat(lease.buffered)));
  const settle: Array<{ resolve: (phase: 'end' | 'switch') => void; reject: (error: Error) => void }> = [];
  const phases = [0, 1].map(
    (i) =>
      new Promise<'end' | 'switch'>((resolve, reject) => {
        settle[i] = { resolve, reject };
      }),
  );
  const id = relay.add(fdA, fdB, spliceAfter, [first[0] ?? null, first[1] ?? null], reportMoves, {
    moved(aToBBytes, bToABytes) {
      aToB.relayed.bytes = aToBBytes;
      bToA.relayed.bytes = bToABytes;
      link.moved();
    },
    spliced(aToBBytes, bToABytes) {
      aToB.relayed.spliced = aToBBytes;
      bToA.relayed.spliced = bToABytes;
    },
    ended(direction) {
      // Node's side of the socket learns of the FIN too.
      leases[direction]?.release({ ended: true, failed: false });
      settle[direction]?.resolve('end');
    },
    switched(direction) {
      settle[direction]?.resolve('switch');
    },
    failed(direction, errno, syscall) {
      settle[direction]?.reject(systemError(-errno, syscall));
    },
  });
  if (id === undefined) {
    for (const lease of leases) lease.release({ ended: false, failed: false });
    return undefined;
  }
  link.refresh = () => {
    const counts = relay.counts(id);
    if (counts === undefined) return;
    aToB.relayed = { bytes: counts.aToB, spliced: counts.splicedAToB };
    bToA.relayed = { bytes: counts.bToA, spliced: counts.splicedBToA };
    link.lastActivity = Math.max(link.lastActivity, performance.now() - counts.quietMs);
  };
  // A failure anywhere (this pair's or the other direction's, a socket closed, the idle
  // timer, the caller's signal) stops the relay: it holds dups of both descriptors.
  link.signal.addEventListener(
    'abort',
    () => {
      link.refresh?.();
      relay.remove(id);
      for (const { reject } of settle) reject(abortError(link.signal));
    },
    { once: true },
  );
  aToB.nativeCopy = phases[0];
  bToA.nativeCopy = phases[1];
  return () => relay.remove(id);
}

/** Waits until Node has handed both FINs (and anything queued before them) to the kernel. */
async function waitForFlush(sockets: Socket[], link: Link): Promise<void> {
  await Promise.all(
    sockets.map(
      (socket) =>
        new Promise<void>((resolve) => {
          if (socket.writableFinished || socket.destroyed) return resolve();
          const done = () => {
            socket.off('finish', done);
            socket.off('close', done);
            link.signal.removeEventListener('abort', done);
            resolve();
          };
          socket.once('finish', done);
          socket.once('close', done);
          link.signal.addEventListener('abort', done, { once: true });
        }),
    ),
  );
}
