// file -> socket (or pipe) by sendfile(2).
import { EAGAIN, EINTR } from '../../binding/errno.js';
import { binding } from '../../binding/load.js';
import { ResidencyWindow } from '../../engine/page-cache.js';
import { systemError } from '../../errors.js';
import type { TransferContext } from '../context.js';

/** The most one call asks for: bounds the work done before the loop looks at the signal again. */
const MAX_CALL = 16 * 1024 * 1024;

/** Moves `context.remaining` bytes; returns false if the source ended first. */
export async function sendfileLoop(context: TransferContext): Promise<boolean> {
  const native = binding();
  const { source, destination } = context;
  const residency = new ResidencyWindow(source.fd);
  while (context.remaining > 0) {
    context.throwIfAborted();
    const offset = context.offset;
    const wanted = Math.min(context.remaining, MAX_CALL);
    // A page-cached range and a non-blocking socket: the call cannot sleep, run it here.
    const inline = destination.blocking ? 0 : residency.inlineBytes(offset, wanted, offset + context.remaining);
    const offload = inline === 0;
    const count = offload ? wanted : inline;
    let result: number;
    if (offload) {
      result = await native.sendfileInPool(destination.fd, source.fd, offset, count);
      context.ranInPool();
    } else {
      if (context.pacer.due()) await context.pacer.yieldNow();
      result = native.sendfile(destination.fd, source.fd, offset, count);
    }
    context.moved(result);
    if (result > 0) {
      context.offset += result;
      // A short count from a non-blocking socket means its buffer is full: wait now rather
      // than spend a call on the EAGAIN that would follow (nginx does the same).
      if (result < count && context.remaining > 0 && !destination.blocking)
        await context.waitFor(destination, 'writable');
    } else if (result === 0) {
      return false;
    } else if (result === EAGAIN) {
      await context.waitFor(destination, 'writable');
    } else if (result !== EINTR) {
      throw systemError(result, 'sendfile');
    }
  }
  return true;
}
