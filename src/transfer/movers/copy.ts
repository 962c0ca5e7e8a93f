// The read/write loop every other path falls back to: bytes pass through one Buffer.
import { read as readCallback, readSync, write as writeCallback, writeSync } from 'node:fs';
import type { Socket } from 'node:net';
import { promisify } from 'node:util';

import { abortError } from '../../engine/abort.js';
import { isResident } from '../../engine/page-cache.js';
import { destinationClosed } from '../../errors.js';
import type { TransferContext } from '../context.js';
import type { Endpoint } from '../endpoints.js';

const readFile = promisify(readCallback);
const writeFile = promisify(writeCallback);

/** 1 MiB: on this kind of machine a 1 MiB read/write loop beat 64 KiB by 1.7x. */
const CHUNK = 1024 * 1024;

function isEagain(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException).code;
  return code === 'EAGAIN' || code === 'EWOULDBLOCK';
}

/** Resolves when `socket` emits one of `events` (or rejects on abort). */
function nextEvent(socket: Socket, events: string[], signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    const done = () => {
      for (const event of events) socket.off(event, done);
      signal?.removeEventListener('abort', aborted);
      resolve();
    };
    const aborted = () => {
      for (const event of events) socket.off(event, done);
      reject(abortError(signal as AbortSignal));
    };
    for (const event of events) socket.once(event, done);
    signal?.addEventListener('abort', aborted, { once: true });
  });
}

/** Reads at most `max` bytes into `scratch` (or returns a view of a Buffer source); an empty result is the end. */
async function readSome(context: TransferContext, scratch: Buffer, max: number): Promise<Uint8Array> {
  const source: Endpoint = context.source;
  if (source.kind === 'buffer') {
    const bytes = source.bytes as Uint8Array;
    return bytes.subarray(context.bytes, context.bytes + max);
  }
  if (source.fd < 0) return readNodeStream(source.socket as Socket, max, context);
  if (source.kind === 'file' && isResident(source.fd, context.offset, max)) {
    // In the page cache: the read cannot wait for the disk, so a thread-pool hop would only add latency.
    return scratch.subarray(0, readSync(source.fd, scratch, 0, max, context.offset));
  }
  if (source.kind === 'file' || source.blocking) {
    context.offloaded++;
    const position = source.kind === 'file' ? context.offset : null;
    const { bytesRead } = await readFile(source.fd, scratch, 0, max, position);
    return scratch.subarray(0, bytesRead);
  }
  for (;;) {
    try {
      return scratch.subarray(0, readSync(source.fd, scratch, 0, max, null));
    } catch (error) {
      if (!isEagain(error)) throw error;
      await context.waitFor(source, 'readable');
    }
  }
}

async function readNodeStream(socket: Socket, max: number, context: TransferContext): Promise<Uint8Array> {
  for (;;) {
    context.throwIfAborted();
    const chunk = socket.read() as Buffer | null;
    if (chunk !== null) {
      if (chunk.byteLength > max) socket.unshift(chunk.subarray(max));
      return chunk.subarray(0, max);
    }
    if (socket.readableEnded || socket.destroyed) return new Uint8Array(0);
    await nextEvent(socket, ['readable', 'end', 'close'], context.signal);
  }
}

async function writeAll(context: TransferContext, bytes: Uint8Array): Promise<void> {
  const destination = context.destination;
  let written = 0;
  while (written < bytes.byteLength) {
    context.throwIfAborted();
    const rest = bytes.subarray(written);
    let count: number;
    if (destination.fd < 0) {
      const socket = destination.socket as Socket;
      if (socket.destroyed || !socket.writable) throw destinationClosed();
      // Node keeps a reference to what it is given; the scratch buffer is reused, so copy.
      if (!socket.write(Buffer.from(rest))) await nextEvent(socket, ['drain', 'close'], context.signal);
      count = rest.byteLength;
    } else if (destination.kind === 'file' || destination.blocking) {
      context.offloaded++;
      count = (await writeFile(destination.fd, rest, 0, rest.byteLength, null)).bytesWritten;
    } else {
      try {
        count = writeSync(destination.fd, rest, 0, rest.byteLength, null);
      } catch (error) {
        if (!isEagain(error)) throw error;
        await context.waitFor(destination, 'writable');
        continue;
      }
    }
    context.moved(count);
    written += count;
  }
}

/** Moves `context.remaining` bytes (or until the source ends); returns false if the source ended first. */
export async function copyLoop(context: TransferContext): Promise<boolean> {
  const scratch =
    context.source.kind === 'buffer' ? Buffer.alloc(0) : Buffer.allocUnsafe(Math.min(CHUNK, context.remaining));
  while (context.remaining > 0) {
    context.throwIfAborted();
    const bytes = await readSome(context, scratch, Math.min(context.remaining, CHUNK));
    context.syscalls++;
    if (bytes.byteLength === 0) return false;
    if (context.source.kind === 'file') context.offset += bytes.byteLength;
    await writeAll(context, bytes);
    await context.pacer.maybeYield();
  }
  return true;
}
