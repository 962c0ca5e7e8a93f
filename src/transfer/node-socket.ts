// Taking a socket from Node for the length of a transfer, and handing it back.
import type { Socket } from 'node:net';

import { abortError } from '../engine/abort.js';
import { destinationClosed } from '../errors.js';

interface StreamHandle {
  fd?: number;
  reading?: boolean;
  readStart?: () => number;
  readStop?: () => number;
  writeQueueSize?: number;
}

const handleOf = (socket: Socket) => (socket as unknown as { _handle?: StreamHandle | null })._handle ?? undefined;

const EMPTY = Buffer.alloc(0);

/**
 * Waits until everything Node has queued for `socket` (HTTP headers written by
 * res.writeHead, say) is in the kernel, so that bytes written on the descriptor next come
 * after them. An empty write's callback runs once every earlier write has completed.
 */
export async function flushNodeWrites(socket: Socket, signal?: AbortSignal): Promise<void> {
  if (socket.destroyed || !socket.writable) throw destinationClosed();
  // Bytes held by cork() would otherwise come after ours.
  while (socket.writableCorked > 0) socket.uncork();
  if (socket.writableLength === 0 && (handleOf(socket)?.writeQueueSize ?? 0) === 0) return;
  // A peer that does not read keeps Node's queue full for as long as it likes: the wait
  // must end on abort like every other wait of a transfer.
  if (signal?.aborted) throw abortError(signal);
  await new Promise<void>((resolve, reject) => {
    const aborted = () => reject(abortError(signal as AbortSignal));
    signal?.addEventListener('abort', aborted, { once: true });
    socket.write(EMPTY, (error) => {
      signal?.removeEventListener('abort', aborted);
      if (error) reject(error);
      else resolve();
    });
  });
  if (socket.destroyed) throw destinationClosed();
}

export interface SourceLease {
  /** Bytes Node had already read from the socket: they go to the destination first. */
  buffered: Buffer[];
  /** Gives the socket back to Node: reading resumes if it was flowing; `ended` reports EOF to Node. */
  release(outcome: { ended: boolean; failed: boolean }): void;
}

/**
 * Stops Node reading `socket` (the kernel path reads it instead) and takes what Node had
 * already read but not delivered.
 */
export function leaseSource(socket: Socket): SourceLease {
  const wasFlowing = socket.readableFlowing === true;
  // Only a flowing socket needs pausing. pause() on one that never flowed (readableFlowing
  // null) would leave it paused for good: a 'data' listener added later would not start it.
  if (wasFlowing) socket.pause();
  const buffered: Buffer[] = [];
  for (let chunk = socket.read() as Buffer | null; chunk !== null; chunk = socket.read() as Buffer | null) {
    buffered.push(chunk);
  }
  // read() above may have asked libuv to read again; nothing is delivered until the next
  // turn of the event loop, so stopping now loses nothing.
  const handle = handleOf(socket);
  if (handle?.readStop !== undefined) {
    handle.readStop();
    handle.reading = false;
  }
  return {
    buffered,
    release({ ended, failed }) {
      if (failed) {
        socket.destroy();
        return;
      }
      if (ended) {
        // Node may have seen the end itself before the lease (its buffer held the last bytes).
        if (!socketSawEnd(socket)) socket.push(null);
      } else {
        // The read() above may have left Node waiting for a read it asked libuv for (its
        // `reading` state stays set until something is pushed), so it would never ask again:
        // restart the handle ourselves. Node stops it again once its buffer is full.
        const current = handleOf(socket);
        if (current?.readStart !== undefined && current.reading !== true && !socket.destroyed) {
          current.readStart();
          current.reading = true;
        }
      }
      if (wasFlowing) socket.resume();
      else if (ended) socket.read(0);
    },
  };
}

/** Whether Node's readable side has already received the end of the stream (EOF pushed). */
function socketSawEnd(socket: Socket): boolean {
  const state = (socket as unknown as { _readableState?: { ended?: boolean } })._readableState;
  return state?.ended === true || socket.readableEnded;
}
