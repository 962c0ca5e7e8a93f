// Buffer -> TCP/UDP socket by lending the Buffer's pages to the kernel (MSG_ZEROCOPY), and
// settling only once the kernel has given every one of them back.
import { constants as osConstants } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { EAGAIN, EINTR } from '../../binding/errno.js';
import { binding } from '../../binding/load.js';
import { readiness } from '../../engine/readiness.js';
import { systemError } from '../../errors.js';
import type { TransferContext, ZeroCopySend } from '../context.js';
import type { SendLedger } from '../zero-copy/ledger.js';

const ENOBUFS = -osConstants.errno.ENOBUFS;
/**
 * While no completion has said whether this socket's sends are copied, the first sends read
 * the error queue right away (one recvmsg each) so that a copying socket (loopback) switches
 * to plain sends after one or two; after that, completions are read in batches: when epoll
 * says the error queue has some, when the kernel runs out of room for more, and at the end.
 */
const EARLY_REAPS = 8;
/** After a failure, how long to wait for the kernel to let go of lent pages before keeping them for good. */
const ABANDON_WAIT_MS = 10_000;

function pendingChunk(context: TransferContext, maxSend: number): Uint8Array {
  const bytes = context.source.bytes as Uint8Array;
  const limit = context.segmentation?.limit ?? maxSend;
  return bytes.subarray(context.bytes, context.bytes + Math.min(context.remaining, limit));
}

/** Waits once for completions (EPOLLERR) and reads them; backs off when woken by an error that is not one. */
async function awaitRelease(context: TransferContext, send: ZeroCopySend): Promise<void> {
  const { destination } = context;
  const { EPOLLERR, EPOLLHUP } = binding().constants;
  send.stats.releaseWaits++;
  const events = await context.waitFor(destination, 'error');
  const released = send.ledger.reap(destination.fd);
  // A pending socket error (a reset) or a hang-up keeps EPOLLERR/EPOLLHUP raised without a
  // completion to read: do not spin on it. The kernel purges the send queue of a reset
  // socket, so the completions follow shortly.
  if (released === 0 && (events & (EPOLLERR | EPOLLHUP)) !== 0) await sleep(5);
}

/**
 * A transfer failing with pages still lent: a TCP socket is reset (connect AF_UNSPEC), which
 * drops its send queue so that the kernel lets go at once; then the completions are read on
 * the transfer's own descriptor. Whatever the kernel has not given back by the deadline stays
 * referenced for the life of the process rather than be freed while it may still be read.
 */
async function abandon(fd: number, ledger: SendLedger, stream: boolean): Promise<void> {
  const reapQuietly = () => {
    try {
      ledger.reap(fd);
    } catch {
      // An error queue that cannot be read cannot release anything either: orphaned below.
    }
  };
  reapQuietly();
  if (ledger.outstanding === 0) return;
  readiness.forget(fd);
  if (stream) binding().disconnect(fd);
  const deadline = Date.now() + ABANDON_WAIT_MS;
  for (let pause = 1; ledger.outstanding > 0 && Date.now() < deadline; pause = Math.min(pause * 2, 100)) {
    await sleep(pause);
    reapQuietly();
  }
  if (ledger.outstanding > 0) ledger.orphan();
}

export async function zeroCopySendLoop(context: TransferContext): Promise<boolean> {
  const native = binding();
  const { destination, segmentation } = context;
  const send = context.zeroCopy as ZeroCopySend;
  const { ledger, stats } = send;
  const fd = destination.fd;
  const { MSG_DONTWAIT, MSG_NOSIGNAL, MSG_ZEROCOPY, EPOLLERR } = native.constants;
  let copyNext = false;
  const reapsBefore = ledger.reaps;
  const copiedBefore = ledger.copied;
  try {
    while (context.remaining > 0) {
      context.throwIfAborted();
      const chunk = pendingChunk(context, send.maxSend);
      const lend = !copyNext && (send.force || (chunk.byteLength >= send.minBytes && ledger.verdict !== 'copied'));
      copyNext = false;
      const flags = MSG_DONTWAIT | MSG_NOSIGNAL | (lend ? MSG_ZEROCOPY : 0);
      const result = segmentation === undefined ? native.send(fd, chunk, flags) : segmentation.send(fd, chunk, flags);
      context.moved(result);
      if (segmentation?.refused(result, chunk.byteLength)) {
        // Nothing went out. A lent send the kernel refused after numbering it completes at
        // once: reading it keeps the ledger's numbers in step with the kernel's.
        ledger.segmentationRefused = segmentation.report().errno;
        if (lend) ledger.reap(fd);
      } else if (result > 0) {
        if (lend) {
          ledger.lend(chunk.subarray(0, result));
          stats.sends++;
          if (ledger.verdict === 'unknown' && stats.sends <= EARLY_REAPS) ledger.reap(fd);
        } else stats.plainSends++;
        await context.pacer.maybeYield();
      } else if (result === EAGAIN) {
        const events = await context.waitFor(destination, 'writable');
        if ((events & EPOLLERR) !== 0 && ledger.outstanding > 0) ledger.reap(fd);
      } else if (result === ENOBUFS && lend) {
        // No room for another send's completion (optmem_max) or its pinned pages
        // (RLIMIT_MEMLOCK): nothing of this chunk was sent. Wait for the kernel to return
        // earlier pages and send it again; with none of ours out, copy it instead.
        stats.noBufferSpace++;
        ledger.reap(fd);
        if (ledger.outstanding > 0) await awaitRelease(context, send);
        else copyNext = true;
      } else if (result < 0 && result !== EINTR) throw systemError(result, 'send');
    }
    if (ledger.outstanding > 0) ledger.reap(fd);
    while (ledger.outstanding > 0) await awaitRelease(context, send);
  } catch (error) {
    await abandon(fd, ledger, send.stream);
    throw error;
  } finally {
    stats.completionReads = ledger.reaps - reapsBefore;
    stats.copied = ledger.copied - copiedBefore;
  }
  return true;
}
