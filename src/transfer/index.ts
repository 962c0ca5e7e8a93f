import type { Socket } from 'node:net';

import { abortError } from '../engine/abort.js';
import {
  invalidArgType,
  invalidArgValue,
  outOfRange,
  reflinkUnsupported,
  sourceEnded,
  sourceFileTruncated,
} from '../errors.js';
import { validateBoolean, validateInt, validateLength, validateObject, validateOneOf } from '../primitives/validate.js';
import { TransferContext } from './context.js';
import { type Endpoint, resolveDestination, resolveSource } from './endpoints.js';
import { withProgress } from './errors.js';
import { cloneWholeFile } from './movers/copy-file-range.js';
import { flushNodeWrites, leaseSource, type SourceLease } from './node-socket.js';
import { fallbackFor, MOVERS, plan, SMALL_TRANSFER_BYTES } from './strategy.js';
import type {
  TransferDestination,
  TransferFallback,
  TransferMethod,
  TransferOptions,
  TransferReport,
  TransferSource,
  ZeroCopySendReport,
} from './types.js';
import { chooseZeroCopy, ZERO_COPY_SEND_BYTES } from './zero-copy/choose.js';

export { idlePipeCount } from './pipe-pool.js';
export { SMALL_TRANSFER_BYTES } from './strategy.js';
export type * from './types.js';
export { ZERO_COPY_SEND_BYTES } from './zero-copy/choose.js';

/** Where reading starts and how much to move, checked against what the source is. */
function bounds(source: Endpoint, options: TransferOptions): { offset: number; remaining: number } {
  const offset = options.offset === undefined ? 0 : validateLength(options.offset, 'options.offset');
  const length = options.length === undefined ? undefined : validateLength(options.length, 'options.length');
  if (source.kind === 'file' || source.kind === 'buffer') {
    const size = source.size;
    // Files that claim size 0 (procfs, sysfs) are read until they end.
    if (length === undefined && size === 0 && offset === 0 && source.kind === 'file')
      return { offset, remaining: Number.POSITIVE_INFINITY };
    if (offset > size) throw outOfRange('options.offset', `<= the source size (${size})`, offset);
    if (length !== undefined && offset + length > size) {
      throw outOfRange(
        'options.length',
        `<= ${size - offset} (the bytes from offset to the end of the source)`,
        length,
      );
    }
    return { offset, remaining: length ?? size - offset };
  }
  if (options.offset !== undefined)
    throw invalidArgValue(
      'options.offset',
      options.offset,
      'applies to files and buffers only; a stream has no offset',
    );
  return { offset: 0, remaining: length ?? Number.POSITIVE_INFINITY };
}

/** Writes bytes Node had read from a source socket before the kernel path took over. */
async function deliverBuffered(lease: SourceLease, context: TransferContext, destination: Endpoint): Promise<void> {
  const bytes = Buffer.concat(lease.buffered);
  lease.buffered = [];
  if (bytes.byteLength === 0) return;
  const take = Math.min(bytes.byteLength, context.remaining);
  if (take < bytes.byteLength) (context.source.socket as Socket).unshift(bytes.subarray(take));
  const early = new TransferContext(
    { ...context.source, kind: 'buffer', bytes: bytes.subarray(0, take), size: take, fd: -1 },
    destination,
    0,
    take,
    context.signal,
  );
  // A copy into the pipe, never vmsplice: these bytes live in a Buffer dropped right after.
  const method = destination.kind === 'stream' ? 'copy' : 'write';
  try {
    await MOVERS[method](early);
  } finally {
    early.dispose();
    context.bytes += early.bytes;
    context.remaining -= early.bytes;
    context.syscalls += early.syscalls;
    context.waits += early.waits;
    if (early.bytes > 0) context.onProgress?.(context.bytes);
  }
}

function emptyZeroCopyStats(reason: string): ZeroCopySendReport {
  return {
    used: false,
    reason,
    sends: 0,
    copied: 0,
    plainSends: 0,
    noBufferSpace: 0,
    releaseWaits: 0,
    completionReads: 0,
  };
}

/** The reason, now that the completions have said what the kernel did. */
function finishZeroCopyStats(
  stats: ZeroCopySendReport,
  verdict: 'unknown' | 'zero-copy' | 'copied',
  mode: 'auto' | 'always' | 'never',
): ZeroCopySendReport {
  stats.used = stats.sends > 0;
  if (!stats.used) {
    if (stats.noBufferSpace > 0) stats.reason = 'no room for a zero-copy send (ENOBUFS) with none outstanding: copied';
    return stats;
  }
  if (stats.copied > 0 && mode === 'always') stats.reason = `${stats.reason}; the kernel copied anyway`;
  else if (stats.copied > 0 || verdict === 'copied') {
    stats.reason =
      'the kernel copied (completions flagged COPIED: loopback or a virtual device): switched to plain sends';
  } else stats.reason = `${stats.reason}; the kernel sent from the Buffer's pages`;
  return stats;
}

/**
 * Moves bytes from `source` to `destination` by the cheapest path the kernel offers —
 * sendfile, splice, copy_file_range, vmsplice — and copies through a Buffer where there
 * is none, saying so in the report. Never blocks the event loop: sockets and pipes are
 * waited on, and calls that could wait for the disk run on the thread pool.
 *
 * On failure it rejects with an error carrying `bytesTransferred`. A Node socket it wrote
 * part of a body to is destroyed then: the peer cannot tell where the bytes stopped.
 */
export async function transfer(
  source: TransferSource,
  destination: TransferDestination,
  options?: TransferOptions,
): Promise<TransferReport> {
  const opts = validateObject(options, 'options') as TransferOptions;
  const reflink =
    opts.reflink === undefined
      ? undefined
      : validateOneOf(opts.reflink, 'options.reflink', ['auto', 'always', 'never'] as const);
  const lendBuffer = opts.lendBuffer === undefined ? false : validateBoolean(opts.lendBuffer, 'options.lendBuffer');
  const smallTransferBytes =
    opts.smallTransferBytes === undefined
      ? SMALL_TRANSFER_BYTES
      : validateInt(opts.smallTransferBytes, 'options.smallTransferBytes', 0, 2 ** 31 - 1);
  const zeroCopy =
    opts.zeroCopy === undefined
      ? 'auto'
      : validateOneOf(opts.zeroCopy, 'options.zeroCopy', ['auto', 'always', 'never'] as const);
  const zeroCopyBytes =
    opts.zeroCopyBytes === undefined
      ? ZERO_COPY_SEND_BYTES
      : validateInt(opts.zeroCopyBytes, 'options.zeroCopyBytes', 1, 2 ** 31 - 1);
  if (opts.onProgress !== undefined && typeof opts.onProgress !== 'function')
    throw invalidArgType('options.onProgress', 'a function', opts.onProgress);
  // Offsets and lengths are checked before anything is opened, and against the source
  // before the destination is opened (a destination path is truncated when it is opened).
  if (opts.offset !== undefined) validateLength(opts.offset, 'options.offset');
  if (opts.length !== undefined) validateLength(opts.length, 'options.length');
  // The same AbortError (code 'ABORT_ERR', bytesTransferred 0) as an abort later on.
  if (opts.signal?.aborted) throw withProgress(abortError(opts.signal), 0);

  const src = await resolveSource(source);
  let dst: Endpoint;
  let offset: number;
  let remaining: number;
  try {
    ({ offset, remaining } = bounds(src, opts));
    dst = await resolveDestination(destination, src);
  } catch (error) {
    await src.close();
    throw error;
  }

  let lease: SourceLease | undefined;
  let streamWasFlowing = false;
  let context: TransferContext | undefined;
  let method: TransferMethod = 'copy';
  let ended = false;
  try {
    if (src.kind === 'buffer' && src.bytes !== undefined) src.bytes = src.bytes.subarray(offset, offset + remaining);
    context = new TransferContext(src, dst, src.kind === 'buffer' ? 0 : offset, remaining, opts.signal);
    context.onProgress = opts.onProgress;

    if (dst.socket !== undefined && dst.fd >= 0) await flushNodeWrites(dst.socket, opts.signal);
    if (src.socket !== undefined) {
      if (src.fd >= 0) {
        lease = leaseSource(src.socket);
        await deliverBuffered(lease, context, dst);
      } else {
        streamWasFlowing = src.socket.readableFlowing === true;
        // As in leaseSource: pausing a socket that never flowed would keep it paused for good.
        if (streamWasFlowing) src.socket.pause();
      }
    }

    const chosen = plan(src, dst, remaining, { smallTransferBytes, lendBuffer, ownCopy: reflink === 'never' });
    method = chosen.method;
    let fallback: TransferFallback | undefined = chosen.fallback;
    let zeroCopyReason: string | undefined;
    if (zeroCopy === 'always' && !(src.kind === 'buffer' && dst.kind === 'socket' && method === 'write')) {
      throw invalidArgValue(
        'options.zeroCopy',
        zeroCopy,
        `applies to a Buffer sent into a socket, not ${src.kind} to ${dst.kind}${fallback ? ` (${fallback.reason})` : ''}`,
      );
    }
    if (method === 'write' && src.kind === 'buffer' && dst.kind === 'socket' && context.remaining > 0) {
      const send = chooseZeroCopy(dst, context.remaining, zeroCopy, zeroCopyBytes);
      zeroCopyReason = send.reason;
      context.datagramBytes = send.maxSend;
      context.segmentation = send.segmentation;
      if (send.ledger !== undefined) {
        method = 'msg_zerocopy';
        context.zeroCopy = {
          ledger: send.ledger,
          force: zeroCopy === 'always',
          minBytes: zeroCopyBytes,
          maxSend: send.maxSend ?? 1024 * 1024,
          stream: send.maxSend === undefined,
          stats: emptyZeroCopyStats(send.reason),
        };
      }
    }

    if (method === 'copy_file_range' && (reflink === 'auto' || reflink === 'always')) {
      const whole = offset === 0 && remaining === src.size;
      const cloned = whole ? cloneWholeFile(context) : -22;
      if (cloned === 0) method = 'reflink';
      else if (reflink === 'always') {
        if (whole) throw reflinkUnsupported();
        throw Object.assign(new Error('reflink: only whole files are cloned'), { code: 'ERR_INVALID_ARG_VALUE' });
      }
    }

    let complete = context.remaining === 0;
    if (!complete) {
      try {
        complete = await MOVERS[method](context);
      } catch (error) {
        const errno = (error as NodeJS.ErrnoException).errno;
        const recover =
          context.bytes === 0 && method !== 'copy' && typeof errno === 'number'
            ? fallbackFor(method, errno)
            : undefined;
        if (recover === undefined) throw error;
        fallback = recover;
        method = 'copy';
        complete = await MOVERS.copy(context);
      }
    }

    if (!complete && method !== 'copy' && context.bytes === 0 && src.kind === 'file') {
      // A first 0 from the kernel: either the file is empty (or shrank), or it is a file the
      // call cannot read (procfs says size 0 and has bytes). Reading it settles which.
      const before = context.bytes;
      complete = await MOVERS.copy(context);
      if (context.bytes > before) {
        fallback = { reason: `${method} read nothing from a file that has bytes (procfs or similar)` };
        method = 'copy';
      }
    }
    ended = !complete;
    if (!complete && Number.isFinite(context.remaining)) {
      throw src.kind === 'file'
        ? sourceFileTruncated(context.bytes, context.expected)
        : sourceEnded(context.bytes, context.expected);
    }

    const report: TransferReport = {
      bytes: context.bytes,
      method,
      syscalls: context.syscalls,
      source: src.kind,
      destination: dst.kind,
      offloaded: context.offloaded,
      waits: context.waits,
    };
    if (fallback !== undefined) report.fallback = fallback;
    if (context.zeroCopy !== undefined) {
      report.zeroCopy = finishZeroCopyStats(context.zeroCopy.stats, context.zeroCopy.ledger.verdict, zeroCopy);
      // The method says what happened to the bytes: sends the kernel copied after all were
      // copies, whatever flag asked otherwise (report.zeroCopy tells the attempts).
      if (report.zeroCopy.sends === report.zeroCopy.copied) report.method = 'write';
    } else if (zeroCopyReason !== undefined) report.zeroCopy = emptyZeroCopyStats(zeroCopyReason);
    if (context.segmentation !== undefined) report.gso = context.segmentation.report();
    return report;
  } catch (error) {
    const bytes = context?.bytes ?? 0;
    // A body cut short on a socket cannot be repaired: the peer must see the connection end.
    if (dst.socket !== undefined && (bytes > 0 || dst.socket.destroyed)) dst.socket.destroy();
    lease?.release({ ended: false, failed: true });
    lease = undefined;
    throw withProgress(error, bytes, method);
  } finally {
    context?.dispose();
    lease?.release({ ended, failed: false });
    if (src.socket !== undefined && src.fd < 0 && streamWasFlowing) src.socket.resume();
    await Promise.allSettled([src.close(), dst.close()]);
  }
}
