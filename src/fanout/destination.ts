// One destination of a fan-out: its queue of pipes, and the loop that writes them out.
import { readSync, write as writeCallback, writeSync } from 'node:fs';
import type { Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { EAGAIN, EINTR } from '../binding/errno.js';
import { addonStatus, binding } from '../binding/load.js';
import { Pacer } from '../engine/pacer.js';
import { readiness } from '../engine/readiness.js';
import { systemError } from '../errors.js';
import type { Endpoint } from '../transfer/endpoints.js';
import { ChunkQueue } from './chunk-queue.js';
import type { NativeQueues } from './native-queues.js';
import { PipeQueue } from './pipe-queue.js';
import type { DestinationOutcome, DestinationReport, FanoutMethod, LagPolicy } from './types.js';

const writeFile = promisify(writeCallback);
/** Copy path: bytes read out of the pipe per write. */
const COPY_CHUNK = 256 * 1024;
/** Without the addon a descriptor cannot be polled: a non-blocking one that said EAGAIN is tried again after this long. */
const RETRY_MS = 5;

function isEagain(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException).code;
  return code === 'EAGAIN' || code === 'EWOULDBLOCK';
}

/** Why a destination stopped before the source ended: thrown into its loop. */
export class Stop extends Error {
  constructor(
    readonly outcome: DestinationOutcome,
    reason: string,
  ) {
    super(reason);
  }
}

function outcomeOf(error: unknown): DestinationOutcome {
  if (error instanceof Stop) return error.outcome;
  const code = (error as NodeJS.ErrnoException).code;
  return code === 'EPIPE' || code === 'ECONNRESET' ? 'closed' : 'failed';
}

/** Whether the kernel path can write to `endpoint`, and if not, why. */
function methodFor(endpoint: Endpoint): { method: FanoutMethod; reason?: string } {
  if (endpoint.unusable !== undefined || endpoint.fd < 0)
    return { method: 'copy', reason: endpoint.unusable ?? 'no descriptor' };
  if (endpoint.append) return { method: 'copy', reason: 'append-only destination' };
  return { method: 'splice' };
}

/**
 * Whether the native queues can write to `endpoint` from the event loop without blocking it:
 * a pipe or a non-blocking socket. Not a file: a write to it may wait for the disk (a regular
 * file is never "not ready", so SPLICE_F_NONBLOCK does not help), and this loop sends it to
 * the thread pool instead.
 */
function nativelyWritable(endpoint: Endpoint, method: FanoutMethod): boolean {
  if (method !== 'splice' || endpoint.fd < 0 || endpoint.kind === 'file') return false;
  return endpoint.kind === 'pipe' || !endpoint.blocking;
}

export class Destination {
  /**
   * Pipes sharing the source's pages, or (no addon) the source's chunks, shared by reference.
   * Empty for a destination whose queue is native (`nativeId`).
   */
  readonly queue: PipeQueue | ChunkQueue;
  #bytes = 0;
  syscalls = 0;
  /** Its queue in the native core, which tees and splices to it; undefined: this loop writes it. */
  readonly nativeId: number | undefined;
  #nativeEnd: ((error: unknown) => void) | undefined;
  readonly method: FanoutMethod;
  readonly fallback: string | undefined;
  outcome: DestinationOutcome | undefined;
  reason: string | undefined;
  error: Error | undefined;
  /** When it went past its lag limit under 'drop' (the fan-out's bookkeeping). */
  behindSince: number | undefined;
  /** Resolves when the loop is over (never rejects: the report says how it ended). */
  readonly finished: Promise<DestinationReport>;
  #stop: Stop | undefined;
  #sourceEnded = false;
  #wake: (() => void) | undefined;
  #waitingOn: number | undefined;
  readonly #pacer = new Pacer();

  constructor(
    readonly id: number,
    readonly endpoint: Endpoint,
    readonly joinedAt: number,
    readonly policy: LagPolicy,
    readonly lagLimit: number,
    /** Told after every write, so a source waiting for this destination can go on. */
    private readonly onProgress: () => void,
    /** No pipes (no addon): the fan-out hands it Buffers, and it writes them. */
    chunked = false,
    /** The fan-out's native queues, for a destination they can write to. */
    private readonly queues?: NativeQueues,
  ) {
    this.queue = chunked ? new ChunkQueue() : new PipeQueue();
    const { method, reason } = methodFor(endpoint);
    this.method = method;
    this.fallback = reason;
    let nativeId: number | undefined;
    if (queues !== undefined && !chunked && nativelyWritable(endpoint, method)) {
      const id = queues.add(endpoint.fd, true, {
        ended: (bytes, syscalls, error) => {
          this.#bytes = bytes;
          this.syscalls = syscalls;
          this.#nativeEnd?.(error);
        },
      });
      // No descriptor or epoll slot for it: this loop writes it instead.
      if (id > 0) nativeId = id;
    }
    this.nativeId = nativeId;
    this.finished = nativeId === undefined ? this.#run() : this.#runNative();
  }

  /** Bytes written to it so far. */
  get bytes(): number {
    if (this.nativeId === undefined || this.outcome !== undefined) return this.#bytes;
    return this.queues?.written(this.nativeId) ?? this.#bytes;
  }

  /** Bytes queued for it and not yet written. */
  get queued(): number {
    if (this.nativeId === undefined) return this.queue.bytes;
    return this.outcome === undefined ? (this.queues as NativeQueues).queued(this.nativeId) : 0;
  }

  get active(): boolean {
    return this.outcome === undefined && this.#stop === undefined;
  }

  /** Bytes are queued: wake the loop. */
  kick(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }

  /** The source has ended: finish once the queue is written. */
  sourceEnded(): void {
    this.#sourceEnded = true;
    if (this.nativeId !== undefined && this.active) this.queues?.finish(this.nativeId);
    this.kick();
  }

  /** Ends the destination at once with `stop`, whatever is queued. */
  stop(stop: Stop): void {
    if (!this.active) return;
    this.#stop = stop;
    if (this.nativeId !== undefined) {
      const counts = this.queues?.remove(this.nativeId);
      // Undefined: it ended in the core already, and its report is on the way.
      if (counts !== undefined) {
        [this.#bytes, this.syscalls] = counts;
        this.#nativeEnd?.(stop);
      }
    }
    if (this.#waitingOn !== undefined) readiness.cancel(this.#waitingOn, stop);
    this.kick();
  }

  report(): DestinationReport {
    const kind = this.endpoint.kind === 'buffer' ? 'stream' : this.endpoint.kind;
    const report: DestinationReport = {
      id: this.id,
      kind,
      bytes: this.bytes,
      joinedAt: this.joinedAt,
      method: this.method,
      outcome: this.outcome ?? 'finished',
    };
    if (this.fallback !== undefined) report.fallback = { reason: this.fallback };
    if (this.reason !== undefined) report.reason = this.reason;
    if (this.error !== undefined) report.error = this.error;
    return report;
  }

  /** A destination the native core writes: it ends when the core says so, or when stopped. */
  async #runNative(): Promise<DestinationReport> {
    try {
      const error = await new Promise<unknown>((resolve) => {
        this.#nativeEnd = resolve;
      });
      this.#nativeEnd = undefined;
      if (error !== undefined) throw error;
      this.outcome = 'finished';
    } catch (error) {
      this.#ended(error);
    } finally {
      await this.endpoint.close().catch(() => {});
      this.onProgress();
    }
    return this.report();
  }

  /** Says how it ended; a stream cut short on a socket is destroyed (the peer must see the connection end). */
  #ended(error: unknown): void {
    this.outcome = outcomeOf(error);
    if (error instanceof Stop) this.reason = error.message;
    else {
      this.error = error as Error;
      this.reason = (error as Error).message;
    }
    const socket = this.endpoint.socket;
    if (socket !== undefined && this.outcome !== 'left' && this.#bytes > 0) socket.destroy();
  }

  async #run(): Promise<DestinationReport> {
    // Nothing is queued yet: the first await lets the constructor return first.
    await Promise.resolve();
    const queue = this.queue;
    const scratch = this.method === 'copy' && queue instanceof PipeQueue ? Buffer.allocUnsafe(COPY_CHUNK) : undefined;
    try {
      for (;;) {
        if (this.#stop !== undefined) throw this.#stop;
        const head = queue.head();
        if (head === undefined) {
          if (this.#sourceEnded) break;
          await new Promise<void>((resolve) => {
            this.#wake = resolve;
          });
          continue;
        }
        if (this.#pacer.due()) await this.#pacer.yieldNow();
        if (!('pipe' in head)) await this.#writeOut(head, true);
        else if (scratch === undefined) await this.#spliceOut(head.pipe.readFd, head.bytes);
        else await this.#copyOut(head.pipe.readFd, head.bytes, scratch);
      }
      this.outcome = 'finished';
    } catch (error) {
      this.#ended(error);
    } finally {
      this.queue.release();
      await this.endpoint.close().catch(() => {});
      this.onProgress();
    }
    return this.report();
  }

  #wrote(count: number): void {
    this.#bytes += count;
    this.queue.consumed(count);
    this.onProgress();
  }

  async #waitWritable(): Promise<void> {
    const fd = this.endpoint.fd;
    this.#waitingOn = fd;
    try {
      await readiness.wait(fd, 'writable');
    } finally {
      this.#waitingOn = undefined;
    }
  }

  async #spliceOut(pipeFd: number, count: number): Promise<void> {
    const native = binding();
    const { fd, kind, blocking } = this.endpoint;
    const flags = native.constants.SPLICE_F_NONBLOCK;
    // A file may wait for the disk, and a blocking socket ignores SPLICE_F_NONBLOCK: the pool.
    const pooled = kind === 'file' || (blocking && kind !== 'pipe');
    const result = pooled
      ? await native.spliceInPool(pipeFd, -1, fd, -1, count, flags)
      : native.splice(pipeFd, -1, fd, -1, count, flags);
    this.syscalls++;
    if (result > 0) this.#wrote(result);
    else if (result === EAGAIN) await this.#waitWritable();
    else if (result !== EINTR) throw systemError(result === 0 ? -32 : result, 'splice');
  }

  async #copyOut(pipeFd: number, queued: number, scratch: Buffer): Promise<void> {
    // Our own pipe, O_NONBLOCK, and known to hold `queued` bytes: this read never waits.
    const count = readSync(pipeFd, scratch, 0, Math.min(queued, scratch.byteLength), null);
    this.syscalls++;
    if (count <= 0) throw systemError(-5, 'read');
    await this.#writeOut(scratch.subarray(0, count), false);
  }

  /** Writes all of `bytes`. `shared`: nothing writes to them again, so Node may keep them as they are. */
  async #writeOut(bytes: Buffer, shared: boolean): Promise<void> {
    const count = bytes.byteLength;
    const socket = this.endpoint.socket;
    if (this.endpoint.fd < 0) {
      const stream = socket as Socket;
      if (stream.destroyed || !stream.writable) throw new Stop('closed', 'the destination socket was closed');
      // Node keeps what it is given; a reused scratch buffer is handed over as a copy.
      // Every new chunk kicks the loop, and a kick ends the wait: wait again until drained or stopped.
      if (!stream.write(shared ? bytes : Buffer.from(bytes)))
        while (stream.writableNeedDrain && this.#stop === undefined) await this.#drained(stream);
      this.#wrote(count);
      return;
    }
    let written = 0;
    while (written < count) {
      if (this.#stop !== undefined) throw this.#stop;
      const rest = bytes.subarray(written, count);
      let moved: number;
      if (this.endpoint.kind === 'file' || this.endpoint.blocking) {
        try {
          moved = (await writeFile(this.endpoint.fd, rest, 0, rest.byteLength, null)).bytesWritten;
        } catch (error) {
          // A caller's descriptor taken as it is (no addon) may be non-blocking after all.
          if (!isEagain(error) || addonStatus().available) throw error;
          await sleep(RETRY_MS);
          continue;
        }
      } else {
        try {
          moved = writeSync(this.endpoint.fd, rest, 0, rest.byteLength, null);
        } catch (error) {
          if ((error as NodeJS.ErrnoException).code !== 'EAGAIN') throw error;
          await this.#waitWritable();
          continue;
        }
      }
      this.syscalls++;
      written += moved;
      this.#wrote(moved);
    }
  }

  #drained(stream: Socket): Promise<void> {
    return new Promise((resolve, reject) => {
      const done = () => {
        stream.off('drain', done);
        stream.off('close', closed);
        this.#wake = undefined;
        resolve();
      };
      const closed = () => {
        stream.off('drain', done);
        reject(new Stop('closed', 'the destination socket was closed'));
      };
      stream.once('drain', done);
      stream.once('close', closed);
      // stop() kicks: let it end the wait too.
      this.#wake = done;
    });
  }
}
