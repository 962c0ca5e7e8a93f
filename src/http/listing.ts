// A directory listing as a response: HTML, or JSON for `Accept: application/json`, written
// a batch of rows at a time with the socket's backpressure honoured, so that neither the
// page nor the directory is ever whole in memory past `limit` entries.
import type { IncomingMessage, ServerResponse } from 'node:http';

import {
  baseHref,
  htmlHead,
  htmlRow,
  htmlTail,
  jsonEntry,
  jsonHead,
  jsonTail,
  type ListingContext,
} from './listing-page.js';
import { LISTING_BATCH, readDirectory, sortInTurns } from './listing-read.js';
import type { DotfilesPolicy, Jail } from './resolve-path.js';

/** Entries a listing shows at most by default; see docs/http.md ("Directory listings"). */
export const DEFAULT_LISTING_LIMIT = 10_000;

export interface ListingReport {
  format: 'html' | 'json';
  /** Rows written. */
  entries: number;
  truncated: boolean;
  /** Directory entries looked at, and the batches they were read in. */
  scanned: number;
  batches: number;
  /** res.write() calls for the body: the page leaves in pieces, never as one string. */
  chunks: number;
  /** Body bytes. */
  bytes: number;
  /** The whole body, when `keepUpTo` asked for it and it was no larger (for the listing cache). */
  body?: Buffer;
}

/** The header fields of a listing response (besides those of ListingOptions.headers). */
export function listingHeaders(format: 'html' | 'json'): Record<string, string> {
  return {
    'Content-Type': format === 'json' ? 'application/json; charset=utf-8' : 'text/html; charset=utf-8',
    'Cache-Control': 'no-cache',
    Vary: 'Accept',
    'X-Content-Type-Options': 'nosniff',
  };
}

/** Whether the client asked for JSON rather than a page (Accept names application/json before text/html). */
export function wantsJson(accept: string | undefined): boolean {
  if (accept === undefined) return false;
  const json = accept.indexOf('application/json');
  if (json === -1) return false;
  const html = accept.indexOf('text/html');
  return html === -1 || json < html;
}

/** Waits until `res` takes more, or is gone. */
function drained(res: ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      res.off('drain', done);
      res.off('close', done);
      resolve();
    };
    res.on('drain', done);
    res.on('close', done);
  });
}

/** Lets the event loop turn (I/O, timers) between batches. */
const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

export interface ListingOptions {
  limit: number;
  dotfiles: DotfilesPolicy;
  jail: Jail | undefined;
  /** Names left out of the listing. */
  unlisted?: ((name: string) => boolean) | undefined;
  /** Header fields set on the listing's response (CORS, configured headers). */
  headers?: Record<string, string>;
  /** Keep the body (report.body) when it is no larger than this many bytes. */
  keepUpTo?: number;
}

/** Answers `req` with the listing of `dirPath` (whose URL path is /`segments`/). */
export async function writeListing(
  req: IncomingMessage,
  res: ServerResponse,
  dirPath: string,
  segments: readonly string[],
  options: ListingOptions,
): Promise<ListingReport> {
  const read = await readDirectory(dirPath, {
    limit: options.limit,
    dotfiles: options.dotfiles,
    jail: options.jail,
    unlisted: options.unlisted,
  });
  read.entries = await sortInTurns(read.entries);
  const format = wantsJson(req.headers.accept) ? 'json' : 'html';
  const context: ListingContext = { segments, limit: options.limit };
  const base = baseHref(segments);
  const report: ListingReport = {
    format,
    entries: read.entries.length,
    truncated: read.truncated,
    scanned: read.scanned,
    batches: read.batches,
    chunks: 0,
    bytes: 0,
  };
  res.writeHead(200, { ...options.headers, ...listingHeaders(format) });
  if (req.method === 'HEAD') {
    res.end();
    return report;
  }
  let kept: string[] | undefined = options.keepUpTo === undefined ? undefined : [];
  const keep = (text: string) => {
    if (kept === undefined) return;
    kept.push(text);
    if (report.bytes > (options.keepUpTo ?? 0)) kept = undefined;
  };
  const write = async (text: string) => {
    report.chunks++;
    report.bytes += Buffer.byteLength(text);
    keep(text);
    if (!res.write(text)) await drained(res);
  };
  await write(format === 'json' ? jsonHead(context) : htmlHead(context));
  for (let at = 0; at < read.entries.length && !res.destroyed; at += LISTING_BATCH) {
    let text = '';
    const batch = read.entries.slice(at, at + LISTING_BATCH);
    batch.forEach((entry, i) => {
      text += format === 'json' ? jsonEntry(entry, at + i === 0, base) : htmlRow(entry, base);
    });
    await write(text);
    await nextTurn();
  }
  if (!res.destroyed) {
    const tail =
      format === 'json' ? jsonTail(read.truncated, context) : htmlTail(read.entries.length, read.truncated, context);
    report.chunks++;
    report.bytes += Buffer.byteLength(tail);
    keep(tail);
    res.end(tail);
    if (kept !== undefined) report.body = Buffer.from(kept.join(''));
  }
  return report;
}
