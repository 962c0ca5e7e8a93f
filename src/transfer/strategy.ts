// Which path a pair of endpoints takes, and when to give it up for a copy.
import { getSystemErrorName } from 'node:util';

import { mayShareExtents } from '../primitives/file-system.js';
import type { TransferContext } from './context.js';
import type { Endpoint } from './endpoints.js';
import { copyLoop } from './movers/copy.js';
import { copyFileRangeLoop } from './movers/copy-file-range.js';
import { sendfileLoop } from './movers/sendfile.js';
import { spliceLoop } from './movers/splice.js';
import { vmspliceLoop, writeLoop } from './movers/write.js';
import { zeroCopySendLoop } from './movers/zero-copy-send.js';
import type { EndpointKind, TransferFallback, TransferMethod } from './types.js';

/**
 * Below this many bytes a file goes out by one read and one write: setting up a kernel
 * path costs more than the copy it saves. `npm run bench -- small` measures where sendfile
 * starts to beat read+write and writes it to the report as thresholds.smallTransferBytes:
 * 4 KiB in one run and 16 KiB in the next on the 2-core Linux 6.18 machine of 2026-11-21.
 * The larger figure is kept: between the two the paths are within noise of each other.
 */
export const SMALL_TRANSFER_BYTES = 16 * 1024;

type Kernel = Exclude<EndpointKind, 'stream'>;

/** The cheapest path for each source (rows) and destination (columns). */
const TABLE: Record<Kernel, Record<Exclude<Kernel, 'buffer'>, TransferMethod>> = {
  file: { file: 'copy_file_range', socket: 'sendfile', pipe: 'splice' },
  socket: { file: 'splice', socket: 'splice', pipe: 'splice' },
  pipe: { file: 'splice', socket: 'splice', pipe: 'splice' },
  // Not vmsplice for a pipe: the pipe would hold references to the Buffer's pages, not
  // their contents, and transfer() resolves before the reader has taken them. A caller who
  // reuses the Buffer then (or a Buffer collected and its memory reused) changes the bytes
  // the reader gets. Only a caller who knows when the reader is done can use vmsplice().
  buffer: { file: 'write', socket: 'write', pipe: 'write' },
};

export const MOVERS: Record<TransferMethod, (context: TransferContext) => Promise<boolean>> = {
  sendfile: sendfileLoop,
  splice: spliceLoop,
  copy_file_range: copyFileRangeLoop,
  // The clone itself is tried before the loop; if it cannot, the bytes are copied in the kernel.
  reflink: copyFileRangeLoop,
  vmsplice: vmspliceLoop,
  msg_zerocopy: zeroCopySendLoop,
  write: writeLoop,
  copy: copyLoop,
};

/** Calls this kernel does not have (ENOSYS), remembered for the life of the process. */
const missingCalls = new Set<TransferMethod>();

export interface Plan {
  method: TransferMethod;
  fallback?: TransferFallback;
}

export function plan(
  source: Endpoint,
  destination: Endpoint,
  length: number,
  choices: { smallTransferBytes: number; lendBuffer: boolean; ownCopy: boolean },
): Plan {
  const unusable = source.unusable ?? destination.unusable;
  if (unusable !== undefined) return { method: 'copy', fallback: { reason: unusable } };
  if (source.kind === 'stream' || destination.kind === 'stream' || destination.kind === 'buffer') {
    return { method: 'copy', fallback: { reason: 'no kernel path between these endpoints' } };
  }
  const method =
    source.kind === 'buffer' && destination.kind === 'pipe' && choices.lendBuffer
      ? 'vmsplice'
      : TABLE[source.kind][destination.kind];
  if (destination.kind === 'file' && destination.append && method !== 'write') {
    // copy_file_range fails with EBADF and splice/sendfile with EINVAL on O_APPEND files.
    return { method: 'copy', fallback: { reason: 'append-only destination (O_APPEND)' } };
  }
  if (method === 'copy_file_range' && choices.ownCopy && mayShareExtents(destination.fd)) {
    // The caller asked for no shared extents, and here copy_file_range may clone.
    return { method: 'splice' };
  }
  if (missingCalls.has(method))
    return { method: 'copy', fallback: { reason: `${method} is not in this kernel`, errno: 'ENOSYS' } };
  if (source.kind === 'file' && length < choices.smallTransferBytes && length > 0) {
    return {
      method: 'copy',
      fallback: { reason: `below the small-transfer threshold (${choices.smallTransferBytes} bytes)` },
    };
  }
  return { method };
}

/**
 * Errors after which the same bytes can still be moved by copying, as libuv and Go do:
 * the call or this pair of descriptors is not supported (EINVAL, EXDEV, EOPNOTSUPP), or
 * a sandbox forbids it (EPERM). Only valid while nothing has been written.
 */
export function fallbackFor(method: TransferMethod, errno: number): TransferFallback | undefined {
  const name = getSystemErrorName(errno);
  switch (name) {
    case 'ENOSYS':
      missingCalls.add(method);
      return { reason: `${method} is not in this kernel`, errno: name };
    case 'EINVAL':
    case 'EXDEV':
    case 'EOPNOTSUPP':
    case 'ENOTSUP':
    case 'EPERM':
      return { reason: `${method} refused these descriptors`, errno: name };
    default:
      return undefined;
  }
}
