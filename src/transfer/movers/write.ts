// Bytes the caller already holds: vmsplice(2) into a pipe, or one plain write elsewhere.
import { write as writeCallback, writeSync } from 'node:fs';
import { promisify } from 'node:util';
import { EAGAIN, EINTR } from '../../binding/errno.js';
import { binding } from '../../binding/load.js';
import { systemError } from '../../errors.js';
import type { TransferContext } from '../context.js';

const writeFile = promisify(writeCallback);

/** At most this much per vmsplice: a pipe holds no more anyway. */
const MAX_CALL = 1024 * 1024;

function pending(context: TransferContext): Uint8Array {
  const bytes = context.source.bytes as Uint8Array;
  const limit = context.segmentation?.limit ?? context.datagramBytes ?? MAX_CALL;
  return bytes.subarray(context.bytes, context.bytes + Math.min(context.remaining, limit));
}

/** Buffer -> pipe: the pipe references the Buffer's pages (see vmsplice() for what that asks of the caller). */
export async function vmspliceLoop(context: TransferContext): Promise<boolean> {
  const native = binding();
  const { destination } = context;
  const { SPLICE_F_NONBLOCK } = native.constants;
  while (context.remaining > 0) {
    context.throwIfAborted();
    const chunk = pending(context);
    if (destination.blocking) {
      // vmsplice would block the event loop on a blocking pipe: write a copy from the thread pool.
      context.offloaded++;
      context.moved((await writeFile(destination.fd, chunk, 0, chunk.byteLength, null)).bytesWritten);
      continue;
    }
    const result = native.vmsplice(destination.fd, [chunk], SPLICE_F_NONBLOCK);
    context.moved(result);
    if (result === EAGAIN) await context.waitFor(destination, 'writable');
    else if (result < 0 && result !== EINTR) throw systemError(result, 'vmsplice');
    else if (result > 0) await context.pacer.maybeYield();
  }
  return true;
}

/**
 * Buffer -> socket, pipe or file, copied by the kernel as it is written: send(2) on a
 * non-blocking socket, write(2) on a non-blocking pipe, a thread-pool write(2) otherwise.
 */
export async function writeLoop(context: TransferContext): Promise<boolean> {
  const native = binding();
  const { destination } = context;
  const { MSG_DONTWAIT, MSG_NOSIGNAL } = native.constants;
  while (context.remaining > 0) {
    context.throwIfAborted();
    const chunk = pending(context);
    if (destination.kind === 'socket' && !destination.blocking) {
      const flags = MSG_DONTWAIT | MSG_NOSIGNAL;
      const { segmentation } = context;
      const result =
        segmentation === undefined
          ? native.send(destination.fd, chunk, flags)
          : segmentation.send(destination.fd, chunk, flags);
      context.moved(result);
      // Nothing went out: the same bytes go again, one datagram per send.
      if (segmentation?.refused(result, chunk.byteLength)) continue;
      if (result === EAGAIN) await context.waitFor(destination, 'writable');
      else if (result < 0 && result !== EINTR) throw systemError(result, 'send');
      else if (result > 0) await context.pacer.maybeYield();
      continue;
    }
    if (destination.kind === 'pipe' && !destination.blocking) {
      let count: number;
      try {
        count = writeSync(destination.fd, chunk, 0, chunk.byteLength, null);
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code;
        if (code === 'EAGAIN' || code === 'EWOULDBLOCK') {
          context.syscalls++;
          await context.waitFor(destination, 'writable');
          continue;
        }
        if (code === 'EINTR') continue;
        throw error;
      }
      context.moved(count);
      await context.pacer.maybeYield();
      continue;
    }
    context.offloaded++;
    const { bytesWritten } = await writeFile(destination.fd, chunk, 0, chunk.byteLength, null);
    context.moved(bytesWritten);
  }
  return true;
}
