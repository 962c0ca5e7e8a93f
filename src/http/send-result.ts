// What sendFile reports about one request: for access logs, counters and adapters.
import { performance } from 'node:perf_hooks';

import type { BodyError, BodyReport } from './body.js';
import type { Encoding } from './headers.js';

export interface SendResult {
  status: number;
  /** False when nothing was written and the request was passed on (fallthrough). */
  handled: boolean;
  /** Body bytes that left. */
  bytes: number;
  /** How the body left ('write', 'copy', 'sendfile', 'memory' from the file cache, ...), or 'none' without a body. */
  method: string;
  /**
   * What the small-file cache did: 'hit' (answered from memory, no file system call),
   * 'revalidated' (the entry's validity had run out; the disk said it is still the same file),
   * 'stored' (read from disk and kept). Absent when the cache was not involved.
   */
  cache?: CacheOutcome;
  fallback?: BodyReport['fallback'];
  /** The file that was sent. */
  path?: string;
  encoding?: Encoding;
  /** Why an error status was chosen (for logs; never sent to the client). */
  reason?: string;
  /** The body failed part-way; the connection was destroyed. */
  error?: BodyError;
  durationMs: number;
}

export type CacheOutcome = 'hit' | 'revalidated' | 'stored';

/** Milliseconds since `startedAt` (performance.now()), to the microsecond. */
export function elapsed(startedAt: number): number {
  return Math.round((performance.now() - startedAt) * 1000) / 1000;
}
