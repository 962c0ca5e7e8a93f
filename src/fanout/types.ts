import type { FileHandle } from 'node:fs/promises';
import type { Socket } from 'node:net';

import type { Offset } from '../primitives/validate.js';

/** What a fan-out reads: a path, a descriptor, a FileHandle, or a socket (a child's stdout is a pipe descriptor). */
export type FanoutSource = string | URL | number | FileHandle | Socket;
/** Where a fan-out writes: a path (created or truncated), a descriptor, a FileHandle, or a socket. */
export type FanoutDestination = string | URL | number | FileHandle | Socket;

/**
 * What happens to a destination whose lag limit is reached. 'wait': the source stops until
 * it catches up (the slowest gates everyone: backups). 'drop': it is ended with the reason
 * 'lag' and the others go on (live streams).
 */
export type LagPolicy = 'wait' | 'drop';

/** How a destination's bytes left: spliced from its own pipe, or copied through a Buffer. */
export type FanoutMethod = 'splice' | 'copy';

/**
 * How a destination ended. 'finished': it got every byte up to the source's end. 'left': it
 * was removed. 'dropped': it fell behind by more than its lag limit under 'drop'. 'closed':
 * its reader went away (EPIPE, ECONNRESET). 'failed': any other error. 'aborted': the signal.
 */
export type DestinationOutcome = 'finished' | 'left' | 'dropped' | 'closed' | 'failed' | 'aborted';

export interface DestinationOptions {
  /** Default: the fan-out's `policy`. */
  policy?: LagPolicy;
  /** Default: the fan-out's `lagLimit`. */
  lagLimit?: number;
}

export interface FanoutOptions {
  /** File source: where to start reading. Default 0. */
  offset?: Offset;
  /** File source: how many bytes to send (default: to its end, or forever with `follow`). */
  length?: Offset;
  /** File source: at its end, wait for it to grow (like `tail -f`) until end() or abort. */
  follow?: boolean;
  /** How often a followed file is checked for growth, in ms. Default 100. */
  followIntervalMs?: number;
  /** Default policy for destinations. Default 'wait'. */
  policy?: LagPolicy;
  /**
   * Bytes a destination may hold queued (read from the source, not yet written to it) before
   * its policy applies. Default 8 MiB. Memory is bounded by this times the destinations
   * (the queued bytes are pipe pages shared between destinations, not copies).
   */
  lagLimit?: number;
  signal?: AbortSignal;
  /** Called as each destination ends, however it ended (for logs, and to stop when the last one is gone). */
  onDestinationEnd?: (report: DestinationReport) => void;
}

export interface DestinationReport {
  /** Order of joining, from 0. */
  id: number;
  kind: 'file' | 'socket' | 'pipe' | 'stream';
  /** Bytes written to this destination. */
  bytes: number;
  /** The source position this destination started at (0 unless it joined late). */
  joinedAt: number;
  method: FanoutMethod;
  /** Present when the destination was copied to: why the kernel path could not be used. */
  fallback?: { reason: string };
  outcome: DestinationOutcome;
  /** Why it ended, in words ('lag limit of 8388608 bytes reached', an error message, ...). */
  reason?: string;
  error?: Error;
}

export interface FanoutReport {
  /** Bytes read from the source. */
  bytes: number;
  /** Bytes written, summed over every destination. */
  delivered: number;
  /** How the source was read. */
  sourceMethod: FanoutMethod;
  sourceFallback?: { reason: string };
  /** tee(2)/splice(2)/read/write calls that moved or duplicated bytes. */
  syscalls: number;
  destinations: DestinationReport[];
}

/** A failed fan-out says how far the source and each destination got. */
export interface FanoutError extends Error {
  code: string;
  bytesTransferred: number;
  destinations: DestinationReport[];
}
