import type { Socket as DatagramSocket } from 'node:dgram';
import type { FileHandle } from 'node:fs/promises';
import type { Socket } from 'node:net';

import type { Offset } from '../primitives/validate.js';

/** What a transfer reads from: a path (opened for reading), a descriptor, a FileHandle, a socket or pipe, or bytes. */
export type TransferSource = string | URL | number | FileHandle | Socket | NodeJS.ArrayBufferView;
/**
 * Where it writes: a path (created or truncated, like fs.copyFile), a descriptor, a FileHandle, a socket or pipe,
 * or a bound dgram socket (it stops receiving until the transfer settles).
 */
export type TransferDestination = string | URL | number | FileHandle | Socket | DatagramSocket;

export type EndpointKind = 'file' | 'socket' | 'pipe' | 'buffer' | 'stream';

/**
 * The path a transfer took. Everything but 'copy' moved the bytes without passing them
 * through JavaScript; 'msg_zerocopy' sent (some of) a Buffer's bytes from its own pages.
 */
export type TransferMethod =
  | 'sendfile'
  | 'splice'
  | 'copy_file_range'
  | 'reflink'
  | 'vmsplice'
  | 'msg_zerocopy'
  | 'write'
  | 'copy';

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
   * Buffer source into a TCP or UDP socket: send from the Buffer's own pages (MSG_ZEROCOPY)
   * instead of copying them. The transfer then resolves (or rejects) only once the kernel
   * has said it is done with those pages, so the Buffer may be reused as soon as it settles.
   * 'auto' (the default): for sends of `zeroCopyBytes` or more, and plain sends on a socket
   * whose completions said the kernel copied anyway (loopback, veth into a local socket).
   * 'always': every send, even below the threshold and when the kernel copies; fails with
   * ERR_ZEROCOPY_UNSUPPORTED (or the setsockopt error) where the socket cannot. 'never':
   * plain sends. See docs/zerocopy-send.md.
   */
  zeroCopy?: 'auto' | 'always' | 'never';
  /** Smallest send worth lending pages for under zeroCopy 'auto'. Default ZERO_COPY_SEND_BYTES. */
  zeroCopyBytes?: number;
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

/** How a Buffer went into a socket: whether its pages were lent to the kernel, and why (not). */
export interface ZeroCopySendReport {
  /**
   * Whether any send lent the Buffer's pages (MSG_ZEROCOPY). `method` is 'msg_zerocopy' only
   * when the kernel sent some of them without copying; where it copied every one (loopback)
   * the method is 'write'.
   */
  used: boolean;
  /** Why it was or was not zero-copy, e.g. 'below the zero-copy threshold (32768 bytes)'. */
  reason: string;
  /** Sends made with MSG_ZEROCOPY, and how many of them the kernel said it copied anyway. */
  sends: number;
  copied: number;
  /** Sends that copied: after the kernel said it copies, or while it had no memory for more (ENOBUFS). */
  plainSends: number;
  /** ENOBUFS answers (optmem_max or RLIMIT_MEMLOCK reached): waited for completions, then sent again. */
  noBufferSpace: number;
  /** Times the transfer waited for the kernel to let go of the Buffer's pages. */
  releaseWaits: number;
  /** recvmsg(MSG_ERRQUEUE) calls that read completions (each may cover many sends). */
  completionReads: number;
}

/**
 * Buffer into a UDP socket: whether sends carried many datagrams each (UDP generic segmentation
 * offload, UDP_SEGMENT), and why (not). The receiver sees the same datagrams either way.
 */
export interface GsoSendReport {
  /** Whether any send carried more than one datagram. */
  used: boolean;
  /** Bytes per datagram (the path MTU less headers); the last datagram of a transfer may be shorter. */
  segmentBytes: number;
  /** Sends that carried more than one datagram. */
  sends: number;
  /** Why it was or was not used, e.g. 'the kernel refused UDP_SEGMENT (EIO): one datagram per send'. */
  reason: string;
  /** The errno name when the kernel refused UDP_SEGMENT and the transfer went on one datagram per send. */
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
  /** Buffer into a socket: whether it was zero-copy (MSG_ZEROCOPY) and why (not). */
  zeroCopy?: ZeroCopySendReport;
  /** Buffer into a UDP socket: whether sends carried many datagrams each (UDP_SEGMENT) and why (not). */
  gso?: GsoSendReport;
}

/** A failed transfer says how far it got. */
export interface TransferError extends Error {
  code: string;
  bytesTransferred: number;
  method?: TransferMethod;
}
