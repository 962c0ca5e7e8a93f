// Reading the fan-out's source into its pipe: spliced where the kernel can, copied where not.

import { read as readCallback, writeSync } from 'node:fs';
import type { Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { EAGAIN, EINTR } from '../binding/errno.js';
import { binding } from '../binding/load.js';
import { ResidencyWindow } from '../engine/page-cache.js';
import { readiness } from '../engine/readiness.js';
import { systemError } from '../errors.js';
import type { Endpoint } from '../transfer/endpoints.js';
import type { SourceLease } from '../transfer/node-socket.js';
import type { PooledPipe } from '../transfer/pipe-pool.js';
import type { FanoutMethod } from './types.js';

const readFile = promisify(readCallback);
/** Without the addon a descriptor cannot be polled: a non-blocking one that said EAGAIN is tried again after this long. */
const RETRY_MS = 5;

/** Thrown into a wait on the source by end(): the reader stops as if the source had ended. */
export class EndOfInput extends Error {}

const EMPTY = Buffer.alloc(0);

export class SourceReader {
  syscalls = 0;
  /** Next byte of a file source to read. */
  offset: number;
  /** Bytes still to read; Infinity for a stream, or a followed file. */
  remaining: number;
  readonly method: FanoutMethod;
  readonly fallback: string | undefined;
  #waitingOn: number | undefined;
  #cancelSleep: AbortController | undefined;
  #ended = false;
  #scratch: Buffer | undefined;
  /** Copy mode: a chunk a short read left mostly empty, kept for the next read. */
  #spare: Buffer | undefined;
  /** Copy mode: a read on the thread pool still under way (it cannot be cancelled). */
  #reading: Promise<unknown> | undefined;
  #cancelRead: (() => void) | undefined;
  readonly #residency: ResidencyWindow | undefined;

  constructor(
    readonly endpoint: Endpoint,
    offset: number,
    remaining: number,
    private readonly follow: { intervalMs: number } | undefined,
    /** Bytes Node had read from a source socket before the lease: they come first. */
    private readonly lease: SourceLease | undefined,
    /** No pipes to fill (no addon): read() hands out chunks instead of fill(). */
    readonly chunked = false,
  ) {
    this.offset = offset;
    this.remaining = remaining;
    const copy = endpoint.fd < 0 || endpoint.unusable !== undefined;
    this.method = copy ? 'copy' : 'splice';
    this.fallback = copy ? (endpoint.unusable ?? 'no descriptor') : undefined;
    this.#residency = endpoint.kind === 'file' && !chunked ? new ResidencyWindow(endpoint.fd) : undefined;
  }

  /** Settles once no read of the descriptor is under way: closing it before would free its number for reuse mid-read. */
  get idle(): Promise<unknown> {
    return this.#reading ?? Promise.resolve();
  }

  /** A read of the descriptor is under way. */
  get reading(): boolean {
    return this.#reading !== undefined;
  }

  /** Stops reading: a pending wait ends, and the next fill() says the source ended. */
  end(reason: Error): void {
    this.#ended = true;
    if (this.#waitingOn !== undefined) readiness.cancel(this.#waitingOn, reason);
    this.#cancelSleep?.abort();
    this.#cancelRead?.();
  }

  /**
   * Copy mode: the next chunk of at most `max` bytes, a Buffer of its own that nothing
   * writes to again (every destination shares it); empty once the source has ended.
   */
  async read(max: number): Promise<Buffer> {
    for (;;) {
      if (this.#ended || this.remaining <= 0) return EMPTY;
      const buffered = this.lease?.buffered;
      const fromLease = buffered !== undefined && buffered.length > 0;
      let chunk: Buffer | undefined;
      if (fromLease) chunk = buffered.shift() as Buffer;
      else if (this.endpoint.fd < 0) chunk = await this.#chunkFromNodeStream(max);
      else chunk = await this.#chunkFromDescriptor(Math.min(max, this.remaining));
      if (chunk === undefined) {
        await this.#sleep(RETRY_MS);
        continue;
      }
      if (chunk.byteLength > this.remaining) {
        if (fromLease) buffered.unshift(chunk.subarray(this.remaining));
        chunk = chunk.subarray(0, this.remaining);
      }
      if (chunk.byteLength > 0) {
        this.remaining -= chunk.byteLength;
        if (this.endpoint.kind === 'file') this.offset += chunk.byteLength;
        return chunk;
      }
      if (this.follow === undefined || this.#ended) return EMPTY;
      await this.#sleep(this.follow.intervalMs);
    }
  }

  /** A read on the thread pool into a fresh Buffer; undefined on EAGAIN (a raw descriptor left non-blocking). */
  async #chunkFromDescriptor(want: number): Promise<Buffer | undefined> {
    const buffer = this.#spare !== undefined && this.#spare.byteLength >= want ? this.#spare : Buffer.allocUnsafe(want);
    this.#spare = undefined;
    const position = this.endpoint.kind === 'file' ? this.offset : null;
    const reading = readFile(this.endpoint.fd, buffer, 0, want, position);
    const tracked: Promise<void> = reading.then(
      () => {
        if (this.#reading === tracked) this.#reading = undefined;
      },
      () => {
        if (this.#reading === tracked) this.#reading = undefined;
      },
    );
    this.#reading = tracked;
    const cancelled = new Promise<undefined>((resolve) => {
      this.#cancelRead = () => resolve(undefined);
    });
    let bytesRead: number;
    try {
      const result = await Promise.race([reading, cancelled]);
      // end() or abort while the read waits: what it brings is not part of the stream.
      if (result === undefined) return EMPTY;
      bytesRead = result.bytesRead;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'EAGAIN') return undefined;
      throw error;
    } finally {
      this.#cancelRead = undefined;
    }
    this.syscalls++;
    // Queued bytes are counted, not the Buffer around them: a short read gets a Buffer of its own size.
    if (bytesRead * 2 < buffer.byteLength) {
      this.#spare = buffer;
      return Buffer.from(buffer.subarray(0, bytesRead));
    }
    return buffer.subarray(0, bytesRead);
  }

  async #chunkFromNodeStream(max: number): Promise<Buffer> {
    const socket = this.endpoint.socket as Socket;
    for (;;) {
      const chunk = socket.read() as Buffer | null;
      if (chunk !== null) {
        this.syscalls++;
        if (chunk.byteLength > max) socket.unshift(chunk.subarray(max));
        return chunk.subarray(0, max);
      }
      if (socket.readableEnded || socket.destroyed || this.#ended) return EMPTY;
      await this.#readable(socket);
    }
  }

  /**
   * Puts up to `pipe.capacity` bytes into the empty `pipe`; returns how many, 0 once the
   * source has ended. Waits (without blocking the loop) while the source has nothing.
   */
  async fill(pipe: PooledPipe): Promise<number> {
    for (;;) {
      if (this.#ended || this.remaining <= 0) return 0;
      const buffered = this.lease?.buffered;
      if (buffered !== undefined && buffered.length > 0) return this.#fromBuffered(pipe, buffered);
      const want = Math.min(pipe.capacity, this.remaining);
      const result =
        this.endpoint.fd < 0
          ? await this.#fromNodeStream(pipe, want)
          : this.method === 'copy'
            ? await this.#fromDescriptor(pipe, want)
            : await this.#splice(pipe, want);
      if (result > 0) {
        this.remaining -= result;
        if (this.endpoint.kind === 'file') this.offset += result;
        return result;
      }
      if (result === 0) {
        if (this.follow === undefined || this.#ended) return 0;
        await this.#sleep(this.follow.intervalMs);
        continue;
      }
      if (result === EAGAIN) await this.#waitReadable();
      else if (result !== EINTR) throw systemError(result, 'splice');
    }
  }

  #fromBuffered(pipe: PooledPipe, buffered: Buffer[]): number {
    const chunk = buffered[0] as Buffer;
    const take = Math.min(chunk.byteLength, pipe.capacity, this.remaining);
    const written = writeSync(pipe.writeFd, chunk, 0, take, null);
    this.syscalls++;
    if (written === chunk.byteLength) buffered.shift();
    else buffered[0] = chunk.subarray(written);
    this.remaining -= written;
    return written;
  }

  async #splice(pipe: PooledPipe, want: number): Promise<number> {
    const native = binding();
    const { fd, kind, blocking } = this.endpoint;
    const flags = native.constants.SPLICE_F_NONBLOCK;
    const offset = kind === 'file' ? this.offset : -1;
    let inline = want;
    // A cold file would make the call wait for the disk, and a blocking socket ignores
    // SPLICE_F_NONBLOCK (a blocking pipe does not: the flag covers both pipes of a splice).
    // A followed file is read at its growing end, where a residency window means little.
    if (this.#residency !== undefined)
      inline = this.follow === undefined ? this.#residency.inlineBytes(offset, want, offset + this.remaining) : 0;
    else if (blocking && kind !== 'pipe') inline = 0;
    this.syscalls++;
    return inline === 0
      ? await native.spliceInPool(fd, offset, pipe.writeFd, -1, want, flags)
      : native.splice(fd, offset, pipe.writeFd, -1, inline, flags);
  }

  /** A descriptor splice cannot read (a terminal, a character device): read on the thread pool, written into the pipe. */
  async #fromDescriptor(pipe: PooledPipe, want: number): Promise<number> {
    this.#scratch ??= Buffer.allocUnsafe(pipe.capacity);
    const scratch = this.#scratch;
    const position = this.endpoint.kind === 'file' ? this.offset : null;
    const { bytesRead } = await readFile(this.endpoint.fd, scratch, 0, Math.min(want, scratch.byteLength), position);
    this.syscalls++;
    if (bytesRead === 0) return 0;
    // The pipe is empty and holds its capacity: one write takes it all.
    return writeSync(pipe.writeFd, scratch, 0, bytesRead, null);
  }

  /** A source the kernel cannot be given (TLS): read through Node, written into the pipe. */
  async #fromNodeStream(pipe: PooledPipe, want: number): Promise<number> {
    const socket = this.endpoint.socket as Socket;
    for (;;) {
      const chunk = socket.read() as Buffer | null;
      if (chunk !== null) {
        if (chunk.byteLength > want) socket.unshift(chunk.subarray(want));
        const bytes = chunk.subarray(0, want);
        const written = writeSync(pipe.writeFd, bytes, 0, bytes.byteLength, null);
        this.syscalls++;
        if (written < bytes.byteLength) socket.unshift(bytes.subarray(written));
        return written;
      }
      if (socket.readableEnded || socket.destroyed || this.#ended) return 0;
      await this.#readable(socket);
    }
  }

  #readable(socket: Socket): Promise<void> {
    return new Promise<void>((resolve) => {
      const done = () => {
        socket.off('readable', done);
        socket.off('end', done);
        socket.off('close', done);
        this.#cancelSleep = undefined;
        resolve();
      };
      socket.once('readable', done);
      socket.once('end', done);
      socket.once('close', done);
      const cancel = new AbortController();
      cancel.signal.addEventListener('abort', done, { once: true });
      this.#cancelSleep = cancel;
    });
  }

  async #waitReadable(): Promise<void> {
    const fd = this.endpoint.fd;
    this.#waitingOn = fd;
    try {
      await readiness.wait(fd, 'readable');
    } catch (error) {
      if (!(error instanceof EndOfInput)) throw error;
    } finally {
      this.#waitingOn = undefined;
    }
  }

  async #sleep(ms: number): Promise<void> {
    const cancel = new AbortController();
    this.#cancelSleep = cancel;
    try {
      await sleep(ms, undefined, { signal: cancel.signal });
    } catch {
      // end() or abort: the loop checks why.
    } finally {
      this.#cancelSleep = undefined;
    }
  }
}
