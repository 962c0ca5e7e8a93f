// The access log of `zerocopy serve`: one line per response, whichever side answered it
// (node:http through serveStatic, or the native front).
import type { IncomingMessage } from 'node:http';

import type { FrontResponse } from '../http/native-front.js';
import type { SendResult } from '../http/send-file.js';

export type LogFormat = 'off' | 'dev' | 'combined' | 'json';

/** What a log line says about one response. */
export interface AccessRecord {
  remote: string | undefined;
  method: string | undefined;
  url: string | undefined;
  httpVersion: string;
  referer: string | undefined;
  userAgent: string | undefined;
  status: number;
  /** Body bytes that left. */
  bytes: number;
  durationMs: number;
  /** How the body left: 'memory', 'sendfile', 'copy', ..., or 'none'. */
  transfer: string;
  fallback?: string;
  encoding?: string;
  /** The code of the failure that cut the body short. */
  error?: string;
  /** Answered by the native front, with no JavaScript for the request. */
  native?: boolean;
}

export function recordOfRequest(req: IncomingMessage, result: SendResult): AccessRecord {
  const record: AccessRecord = {
    remote: req.socket.remoteAddress,
    method: req.method,
    url: req.url,
    httpVersion: req.httpVersion,
    referer: req.headers.referer,
    userAgent: req.headers['user-agent'],
    status: result.status,
    bytes: result.bytes,
    durationMs: result.durationMs,
    transfer: result.method,
  };
  if (result.fallback !== undefined) record.fallback = result.fallback.reason;
  if (result.encoding !== undefined) record.encoding = result.encoding;
  if (result.error !== undefined) record.error = result.error.code;
  return record;
}

export function recordOfFrontResponse(response: FrontResponse): AccessRecord {
  const record: AccessRecord = {
    remote: response.remote,
    method: response.method,
    url: response.url,
    httpVersion: response.httpVersion,
    referer: response.referer,
    userAgent: response.userAgent,
    status: response.status,
    bytes: response.bytes,
    durationMs: response.durationMs,
    transfer: response.transfer,
    native: true,
  };
  if (response.encoding !== undefined) record.encoding = response.encoding;
  if (response.error !== undefined) record.error = response.error;
  return record;
}

function humanBytes(bytes: number): string {
  if (bytes >= 1024 * 1024) return `${(bytes / 1024 / 1024).toFixed(1)}MiB`;
  if (bytes >= 1024) return `${(bytes / 1024).toFixed(1)}KiB`;
  return `${bytes}B`;
}

function clfDate(date: Date): string {
  const months = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${pad(date.getUTCDate())}/${months[date.getUTCMonth()]}/${date.getUTCFullYear()}:${pad(date.getUTCHours())}:${pad(date.getUTCMinutes())}:${pad(date.getUTCSeconds())} +0000`;
}

/** One access-log line, or undefined when logging is off. */
export function formatAccessLog(format: LogFormat, record: AccessRecord, now = new Date()): string | undefined {
  switch (format) {
    case 'off':
      return undefined;
    case 'dev': {
      const how = `${record.native === true ? 'native ' : ''}${record.transfer}${record.fallback === undefined ? '' : ` (${record.fallback})`}`;
      const failed = record.error === undefined ? '' : ` ABORTED ${record.error}`;
      return `${record.method} ${record.url} ${record.status} ${humanBytes(record.bytes)} ${record.durationMs.toFixed(1)}ms ${how}${failed}`;
    }
    case 'combined': {
      const quote = (value: string | undefined) =>
        value === undefined ? '-' : value.replace(/["\\]/g, (c) => `\\${c}`);
      return `${record.remote ?? '-'} - - [${clfDate(now)}] "${quote(record.method)} ${quote(record.url)} HTTP/${record.httpVersion}" ${record.status} ${record.bytes || '-'} "${quote(record.referer)}" "${quote(record.userAgent)}" ${record.durationMs.toFixed(3)}ms ${record.transfer}`;
    }
    case 'json':
      return JSON.stringify({
        time: now.toISOString(),
        remote: record.remote,
        method: record.method,
        url: record.url,
        status: record.status,
        bytes: record.bytes,
        ms: record.durationMs,
        transfer: record.transfer,
        ...(record.fallback === undefined ? {} : { fallback: record.fallback }),
        ...(record.encoding === undefined ? {} : { encoding: record.encoding }),
        ...(record.error === undefined ? {} : { error: record.error }),
        ...(record.native === true ? { front: 'native' } : {}),
      });
  }
}
