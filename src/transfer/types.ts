import type { FileHandle } from 'node:fs/promises';
import type { Socket } from 'node:net';

import type { Offset } from '../primitives/validate.js';

/** What a transfer reads from: a path (opened for reading), a descriptor, a FileHandle, a socket or pipe, or bytes. */
export type TransferSource = string | URL | number | FileHandle | Socket | NodeJS.ArrayBufferView;
/** Where it writes: a path (created or truncated, like fs.copyFile), a descriptor, a FileHandle, a socket or pipe. */
export type TransferDestination = string | URL | number | FileHandle | Socket;

export type EndpointKind = 'file' | 'socket' | 'pipe' | 'buffer' | 'stream';

/** The path a transfer took. Everything but 'copy' moved the bytes without passing them through JavaScript. */
export type TransferMethod = 'sendfile' | 'splice' | 'copy_file_range' | 'reflink' | 'vmsplice' | 'write' | 'copy';

export interface TransferOptions {
  /** Where to start reading a file source. Default 0. The source's file position is never moved. */
  offset?: Offset;
  /**
   * How many bytes to move. Default: a file source to its end (as its size was when the
   * transfer started), any other source until it ends. A source that ends sooner is an error.
   */
  length?: Offset;
  /** Aborts the transfer: it rejects with an AbortError and leaves no descriptor or pipe behind. */
  signal?: AbortSignal;
  /**
   * File to file only. Unset (the default): copy_file_range, which some file systems (xfs,
   * btrfs, ...) answer by sharing extents. 'auto': a whole file is cloned (FICLONE) when the
   * file system can, copied otherwise. 'always': clone or fail. 'never': the destination
   * gets its own copy of the bytes — where copy_file_range might share extents, the bytes
   * are spliced through a pipe instead (still inside the kernel).
   */
  reflink?: 'auto' | 'always' | 'never';
  /**
   * Below this many bytes a plain read/write is cheaper than setting up a kernel path.
   * Default: SMALL_TRANSFER_BYTES, measured by `npm run bench` (small-transfers scenario).
   */
  smallTransferBytes?: number;
  /**
   * Buffer source into a pipe: lend the Buffer's pages to the pipe (vmsplice) instead of
   * copying them. The pipe then refers to the Buffer's memory until the reader has read
   * it, which may be after transfer() resolves: change or drop the Buffer only once the
   * reader is done. Default false (a plain write, safe to reuse the Buffer at once).
   */
  lendBuffer?: boolean;
  /**
   * Called after each system call that moved bytes, with the total moved so far: for
   * progress bars, byte counters and idle timeouts. It runs inside the transfer loop:
   * keep it cheap, and do not throw from it.
   */
  onProgress?: (bytesTransferred: number) => void;
}

export interface TransferFallback {
  /** Why the kernel path was not used, e.g. 'tls', 'append-only destination', 'EXDEV'. */
  reason: string;
  /** The errno that forced it, when one did. */
  errno?: string;
}

export interface TransferReport {
  bytes: number;
  method: TransferMethod;
  /** System calls that moved data or waited for it (not counting setup). */
  syscalls: number;
  /** Present when the transfer copied through userspace instead of the path its endpoints allow. */
  fallback?: TransferFallback;
  source: EndpointKind;
  destination: EndpointKind;
  /** Calls run on the thread pool because they could have waited for the disk or a blocking descriptor. */
  offloaded: number;
  /** Times the transfer waited for a socket or pipe to become ready. */
  waits: number;
}

/** A failed transfer says how far it got. */
export interface TransferError extends Error {
  code: string;
  bytesTransferred: number;
  method?: TransferMethod;
}
