// The one place where a response body leaves for the client. Everything above it is HTTP;
// everything in here is moving bytes from a file to a socket.
import type { FileHandle } from 'node:fs/promises';
import type { ServerResponse } from 'node:http';
import { TLSSocket } from 'node:tls';

export interface BodyReport {
  bytes: number;
  /** How the bytes left: 'write' (one buffered write), 'copy' (read/write loop), or the kernel path transfer() took. */
  method: string;
  fallback?: { reason: string; errno?: string };
}

/** An error that says how far the body got; the connection has already been destroyed. */
export interface BodyError extends Error {
  code: string;
  bytesTransferred: number;
}

/**
 * Bodies up to this size are read into memory and written with the headers in one write:
 * Node sends headers and the first chunk together, so a small response is one segment and
 * cannot wait on Nagle or a delayed ACK. DESIGN.md: sendfile loses on small transfers.
 * (The crossover should come from bench/; 64 KiB is where the loopback measurements put it.)
 */
export const SMALL_BODY_BYTES = 64 * 1024;
const COPY_CHUNK_BYTES = 256 * 1024;

function bodyError(message: string, code: string, bytesTransferred: number, cause?: unknown): BodyError {
  const error = new Error(message, cause === undefined ? undefined : { cause }) as BodyError;
  error.code = code;
  error.bytesTransferred = bytesTransferred;
  return error;
}

function truncated(position: number, bytesTransferred: number): BodyError {
  return bodyError(
    `the file ended at byte ${position} while it was being sent (it shrank)`,
    'ERR_ZEROCOPY_SOURCE_TRUNCATED',
    bytesTransferred,
  );
}

function aborted(bytesTransferred: number, reason: unknown): BodyError {
  return bodyError('the response was aborted (client went away)', 'ABORT_ERR', bytesTransferred, reason);
}

/** Reads exactly `length` bytes at `position`; a short read can only mean the file shrank. */
async function readExactly(file: FileHandle, length: number, position: number, sentSoFar: number): Promise<Buffer> {
  const buffer = Buffer.allocUnsafe(length);
  let filled = 0;
  // Each pass makes progress or throws, so this ends within `length` passes.
  while (filled < length) {
    const { bytesRead } = await file.read(buffer, filled, length - filled, position + filled);
    if (bytesRead === 0) throw truncated(position + filled, sentSoFar);
    filled += bytesRead;
  }
  return buffer;
}

function waitForDrain(res: ServerResponse, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const done = () => {
      res.off('drain', done);
      res.off('close', done);
      signal.removeEventListener('abort', done);
      if (signal.aborted || res.destroyed) reject(signal.reason ?? new Error('response closed'));
      else resolve();
    };
    res.on('drain', done);
    res.on('close', done);
    signal.addEventListener('abort', done);
  });
}

/**
 * The stand-in for the kernel path: read into a Buffer, res.write(), respect backpressure.
 * Correct for every socket kind (TLS included); costs two copies per byte.
 */
async function copyBody(
  res: ServerResponse,
  file: FileHandle,
  start: number,
  length: number,
  signal: AbortSignal,
): Promise<BodyReport> {
  let sent = 0;
  // Bounded: every pass sends at least one byte or throws.
  while (sent < length) {
    if (signal.aborted || res.destroyed) throw aborted(sent, signal.reason);
    const chunk = await readExactly(file, Math.min(COPY_CHUNK_BYTES, length - sent), start + sent, sent);
    if (signal.aborted || res.destroyed) throw aborted(sent, signal.reason);
    const writable = res.write(chunk);
    sent += chunk.length;
    if (!writable && sent < length) {
      try {
        await waitForDrain(res, signal);
      } catch (reason) {
        throw aborted(sent, reason);
      }
    }
  }
  const fallbackReason =
    res.socket instanceof TLSSocket ? 'TLS socket: bytes must pass through OpenSSL' : 'kernel path not wired in yet';
  return { bytes: sent, method: 'copy', fallback: { reason: fallbackReason } };
}

/**
 * Writes bytes [start, start + length) of `file` as (part of) the body of `res`.
 *
 * Call after res.writeHead() and before res.end(); the headers may still be unsent, and
 * this function decides how they leave: with a small body in one write, or flushed ahead
 * of the kernel path. Several calls with res.write() between them are fine (multipart).
 *
 * On any failure (file shrank, read error, client gone) the connection is destroyed before
 * this rejects: a keep-alive connection must never carry a short body followed by the next
 * response. The error has `code` ('ERR_ZEROCOPY_SOURCE_TRUNCATED', 'ABORT_ERR', or the
 * system error's) and `bytesTransferred`. The caller keeps `file` open until this settles.
 */
export async function writeBody(
  res: ServerResponse,
  file: FileHandle,
  start: number,
  length: number,
  signal: AbortSignal,
): Promise<BodyReport> {
  if (length === 0) return { bytes: 0, method: 'none' };
  try {
    if (length <= SMALL_BODY_BYTES) {
      const bytes = await readExactly(file, length, start, 0);
      if (signal.aborted || res.destroyed) throw aborted(0, signal.reason);
      res.write(bytes);
      return { bytes: length, method: 'write' };
    }
    // The kernel path goes here: res.flushHeaders(), then transfer(file, res.socket,
    // { offset: start, length, signal }) once src/transfer/ lands; TLS falls back inside it.
    return await copyBody(res, file, start, length, signal);
  } catch (error) {
    const failure =
      typeof (error as Partial<BodyError>).bytesTransferred === 'number'
        ? (error as BodyError)
        : bodyError(
            `reading the file failed: ${(error as Error).message}`,
            (error as NodeJS.ErrnoException).code ?? 'ERR_ZEROCOPY_BODY',
            0,
            error,
          );
    res.destroy();
    throw failure;
  }
}
