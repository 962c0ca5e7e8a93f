// Anything -> anything through splice(2), when one side is a socket or pipe.
import { EAGAIN, EINTR } from '../../binding/errno.js';
import { binding } from '../../binding/load.js';
import { ResidencyWindow } from '../../engine/page-cache.js';
import { systemError } from '../../errors.js';
import type { TransferContext } from '../context.js';
import type { Endpoint } from '../endpoints.js';
import { acquirePipe, releasePipe } from '../pipe-pool.js';

const MAX_CALL = 16 * 1024 * 1024;

function flags(): number {
  const { constants } = binding();
  return constants.SPLICE_F_NONBLOCK | constants.SPLICE_F_MOVE;
}

/** One splice on the thread pool. The inline case calls the binding directly: no promise, no closure. */
async function spliceInPool(context: TransferContext, fdIn: number, offIn: number, fdOut: number, length: number) {
  const result = await binding().spliceInPool(fdIn, offIn, fdOut, -1, length, flags());
  context.ranInPool();
  return result;
}

/**
 * A file on one side and a pipe on the other: one splice per step. EAGAIN can then only
 * come from the pipe (a file never says it), so it is clear what to wait for.
 */
async function spliceDirect(context: TransferContext): Promise<boolean> {
  const native = binding();
  const { source, destination } = context;
  const fileSource = source.kind === 'file';
  const pipeSide: Endpoint = fileSource ? destination : source;
  const residency = new ResidencyWindow(source.fd);
  while (context.remaining > 0) {
    context.throwIfAborted();
    if (context.pacer.due()) await context.pacer.yieldNow();
    const wanted = Math.min(context.remaining, MAX_CALL);
    const inOffset = fileSource ? context.offset : -1;
    // Reading a cold file, writing any file, or a blocking pipe: the call could sleep.
    const inline =
      pipeSide.blocking || !fileSource ? 0 : residency.inlineBytes(inOffset, wanted, inOffset + context.remaining);
    const offload = inline === 0;
    const count = offload ? wanted : inline;
    const result = offload
      ? await spliceInPool(context, source.fd, inOffset, destination.fd, count)
      : native.splice(source.fd, inOffset, destination.fd, -1, count, flags());
    context.moved(result);
    if (result > 0) {
      if (fileSource) context.offset += result;
    } else if (result === 0) {
      return false;
    } else if (result === EAGAIN) {
      await context.waitFor(pipeSide, fileSource ? 'writable' : 'readable');
    } else if (result !== EINTR) {
      throw systemError(result, 'splice');
    }
  }
  return true;
}

/**
 * Source -> pooled pipe -> destination. The pipe is emptied before it is filled again, so
 * an EAGAIN while filling means "the source has nothing now" and one while emptying means
 * "the destination is full": splice's ambiguous EAGAIN is never ambiguous here.
 *
 * A read that filled at least half the pipe is not taken as "the source ran dry": a socket
 * splice stops when the pipe runs out of slots (256 for 1 MiB, one per page fragment, so a
 * full pipe holds a little under its capacity in bytes), and while the pipe is being emptied
 * the sender keeps writing. The next read is tried at once then, as HAProxy does; waiting
 * for readiness there cost an event-loop turn (three epoll calls) per pipeful on a source
 * that was never empty. Only a small short read waits before the next call.
 */
async function spliceThroughPipe(context: TransferContext): Promise<boolean> {
  const native = binding();
  const { source, destination } = context;
  const pipe = acquirePipe();
  const residency = new ResidencyWindow(source.fd);
  const drainToFile = destination.blocking || destination.kind === 'file';
  const streamSource = source.kind !== 'file';
  const pacer = context.pacer;
  // Below this, a short read from a stream means it had no more (see above).
  const drainedBelow = pipe.capacity / 2;
  let buffered = 0;
  let ended = false;
  // A short read from a socket or pipe means it had no more: wait for it instead of
  // spending a call on the EAGAIN that would follow (and likewise for a short write).
  let sourceDrained = false;
  try {
    while (buffered > 0 || (context.remaining - buffered > 0 && !ended)) {
      context.throwIfAborted();
      // Before the call, not after: a loop woken from a wait must not add to a spent turn.
      if (pacer.due()) await pacer.yieldNow();
      if (buffered > 0) {
        const result = drainToFile
          ? await spliceInPool(context, pipe.readFd, -1, destination.fd, buffered)
          : native.splice(pipe.readFd, -1, destination.fd, -1, buffered, flags());
        context.moved(result);
        if (result > 0) {
          buffered -= result;
          if (buffered > 0 && !drainToFile) await context.waitFor(destination, 'writable');
        } else if (result === EAGAIN) await context.waitFor(destination, 'writable');
        else if (result !== EINTR) throw systemError(result === 0 ? -32 : result, 'splice');
        continue;
      }
      if (sourceDrained) {
        sourceDrained = false;
        await context.waitFor(source, 'readable');
      }
      const wanted = Math.min(context.remaining - buffered, pipe.capacity);
      const inOffset = streamSource ? -1 : context.offset;
      const inline = source.blocking
        ? 0
        : streamSource
          ? wanted
          : residency.inlineBytes(inOffset, wanted, inOffset + context.remaining - buffered);
      const offload = inline === 0;
      const count = offload ? wanted : inline;
      const result = offload
        ? await spliceInPool(context, source.fd, inOffset, pipe.writeFd, count)
        : native.splice(source.fd, inOffset, pipe.writeFd, -1, count, flags());
      // Bytes in the pipe are not transferred yet; count the call only.
      context.syscalls++;
      if (result > 0) {
        buffered += result;
        if (streamSource) sourceDrained = result < count && result < drainedBelow && !source.blocking;
        else context.offset += result;
      } else if (result === 0) ended = true;
      else if (result === EAGAIN) await context.waitFor(source, 'readable');
      else if (result !== EINTR) throw systemError(result, 'splice');
    }
  } finally {
    releasePipe(pipe, buffered === 0);
  }
  return context.remaining === 0;
}

export function spliceLoop(context: TransferContext): Promise<boolean> {
  const { source, destination } = context;
  const direct =
    (source.kind === 'file' && destination.kind === 'pipe') || (source.kind === 'pipe' && destination.kind === 'file');
  return direct ? spliceDirect(context) : spliceThroughPipe(context);
}
