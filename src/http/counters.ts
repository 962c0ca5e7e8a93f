// Counters for a status page: what was served, and how the bytes left.
import type { FrontStats } from '../binding/native.js';
import type { SendResult } from './send-file.js';

export interface CountersSnapshot {
  since: string;
  requests: number;
  byStatus: Record<string, number>;
  /** Body bytes per transfer method ('sendfile', 'copy', 'write', ...). */
  bytesByMethod: Record<string, number>;
  responsesByMethod: Record<string, number>;
  /** Why the zero-copy path was not taken, and how often. */
  fallbacks: Record<string, number>;
  /** Bodies that failed part-way (connection destroyed), by error code. */
  bodyErrors: Record<string, number>;
}

const bump = (table: Record<string, number>, key: string, by = 1) => {
  table[key] = (table[key] ?? 0) + by;
};

export class ServeCounters {
  #snapshot: CountersSnapshot = {
    since: new Date().toISOString(),
    requests: 0,
    byStatus: {},
    bytesByMethod: {},
    responsesByMethod: {},
    fallbacks: {},
    bodyErrors: {},
  };

  /** Counts one finished request. */
  record(result: Pick<SendResult, 'status' | 'bytes' | 'method' | 'fallback' | 'error'>): void {
    const s = this.#snapshot;
    s.requests += 1;
    bump(s.byStatus, String(result.status));
    bump(s.responsesByMethod, result.method);
    bump(s.bytesByMethod, result.method, result.bytes);
    if (result.fallback !== undefined) bump(s.fallbacks, result.fallback.reason);
    if (result.error !== undefined) bump(s.bodyErrors, result.error.code);
  }

  /** The counters, plus what the native front answered by itself when there is one. */
  snapshot(native?: FrontStats): CountersSnapshot {
    const copy = structuredClone(this.#snapshot);
    if (native !== undefined && native.requests > 0) {
      copy.requests += native.requests;
      // The front answers 200, 206 and 304 by itself: each counted under its own status.
      for (const [status, count] of Object.entries(native.byStatus)) if (count > 0) bump(copy.byStatus, status, count);
      bump(copy.responsesByMethod, 'memory', native.responsesMemory);
      bump(copy.responsesByMethod, 'sendfile', native.responsesSendfile);
      bump(copy.responsesByMethod, 'none', native.heads);
      bump(copy.bytesByMethod, 'memory', native.bodyBytesMemory);
      bump(copy.bytesByMethod, 'sendfile', native.bodyBytesSendfile);
    }
    return copy;
  }

  /** Sums snapshots from several workers. */
  static merge(snapshots: readonly CountersSnapshot[]): CountersSnapshot {
    const total: CountersSnapshot = {
      since: snapshots.map((s) => s.since).sort()[0] ?? new Date().toISOString(),
      requests: 0,
      byStatus: {},
      bytesByMethod: {},
      responsesByMethod: {},
      fallbacks: {},
      bodyErrors: {},
    };
    for (const snapshot of snapshots) {
      total.requests += snapshot.requests;
      for (const key of ['byStatus', 'bytesByMethod', 'responsesByMethod', 'fallbacks', 'bodyErrors'] as const) {
        for (const [name, value] of Object.entries(snapshot[key])) bump(total[key], name, value);
      }
    }
    return total;
  }
}
