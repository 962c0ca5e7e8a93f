// The one place where a response body leaves for the client. Everything above it is HTTP;
// everything in here is moving bytes from a file to a socket.
import type { FileHandle } from 'node:fs/promises';
import type { ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { TLSSocket } from 'node:tls';

import { addonStatus } from '../binding/load.js';
import { bodyFailed, bodyFileTruncated } from '../errors.js';
import { descriptorIfOpen, setTcpCork, socketDescriptor } from '../primitives/socket.js';
import { transfer } from '../transfer/index.js';

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
 * cannot wait on Nagle or a delayed ACK; below about 16 KiB sendfile loses to a plain write anyway.
 * (The crossover should come from bench/; 64 KiB is where the loopback measurements put it.)
 */
export const SMALL_BODY_BYTES = 64 * 1024;

function bodyError(message: string, code: string, bytesTransferred: number, cause?: unknown): BodyError {
  const error = new Error(message, cause === undefined ? undefined : { cause }) as BodyError;
  error.code = code;
  error.bytesTransferred = bytesTransferred;
  return error;
}

function aborted(bytesTransferred: number, reason: unknown): BodyError {
  return bodyError('the response was aborted (client went away)', 'ABORT_ERR', bytesTransferred, reason);
}

/** Reads exactly `length` bytes at `position`; a short read can only mean the file shrank. */
export async function readExactly(
  file: FileHandle,
  length: number,
  position: number,
  sentSoFar: number,
): Promise<Buffer> {
  const buffer = Buffer.allocUnsafe(length);
  let filled = 0;
  // Each pass makes progress or throws, so this ends within `length` passes.
  while (filled < length) {
    const { bytesRead } = await file.read(buffer, filled, length - filled, position + filled);
    if (bytesRead === 0) throw bodyFileTruncated(position + filled, sentSoFar);
    filled += bytesRead;
  }
  return buffer;
}

/**
 * A pipelined request's response gets the connection only when the responses before it
 * are done (Node emits 'socket' then); until then its writes are queued in memory and there
 * is no descriptor to send from. If the connection closes first, node:http emits nothing on
 * the queued response (neither 'socket' nor 'close'): the connection's own 'close' must end
 * the wait, or the whole chain, with the caller's open FileHandle, is left for the garbage
 * collector to find (DEP0137).
 */
function socketWhenItsTurn(res: ServerResponse, signal: AbortSignal): Promise<Socket> {
  const connection = res.req?.socket ?? null;
  return new Promise((resolve, reject) => {
    const settle = () => {
      res.off('socket', settle);
      res.off('close', settle);
      connection?.off('close', settle);
      signal.removeEventListener('abort', settle);
      if (res.socket !== null && !res.destroyed && !signal.aborted) resolve(res.socket);
      else reject(aborted(0, signal.reason));
    };
    if (connection?.destroyed === true) {
      settle();
      return;
    }
    res.once('socket', settle);
    res.once('close', settle);
    connection?.once('close', settle);
    signal.addEventListener('abort', settle, { once: true });
  });
}

/**
 * TCP_CORK while the headers and the first body bytes go out, as nginx does: the header
 * write and the kernel's first segments leave as full packets instead of a small header
 * packet followed by the body. Returns the uncork step. The descriptor is Node's, so it is
 * only touched while the socket still holds it (a closed socket's number can be reused).
 */
function corkWhileSending(res: ServerResponse): () => void {
  const socket = res.socket;
  if (socket === null || socket instanceof TLSSocket || !addonStatus().available) return () => {};
  let fd: number;
  try {
    fd = socketDescriptor(socket);
    setTcpCork(fd, true);
  } catch {
    return () => {}; // not TCP (a Unix socket) or already closed: nothing to cork
  }
  return () => {
    if (!socket.destroyed && descriptorIfOpen(socket) === fd) setTcpCork(fd, false);
  };
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
    const socket = res.socket ?? (await socketWhenItsTurn(res, signal));
    if (res.destroyed) throw aborted(0, signal.reason);
    const uncork = corkWhileSending(res);
    try {
      // transfer() waits until Node has handed the headers to the kernel, then sends the
      // body by sendfile (or copies through the TLS socket, saying why).
      res.flushHeaders();
      const report = await transfer(file, socket, { offset: start, length, signal });
      return report.fallback === undefined
        ? { bytes: report.bytes, method: report.method }
        : { bytes: report.bytes, method: report.method, fallback: report.fallback };
    } finally {
      uncork();
    }
  } catch (error) {
    const failure =
      typeof (error as Partial<BodyError>).bytesTransferred === 'number' ? (error as BodyError) : bodyFailed(error);
    res.destroy();
    throw failure;
  }
}
