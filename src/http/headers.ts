// Response headers that describe a file: type, caching, encodings.
import type { OutgoingHttpHeaders, ServerResponse } from 'node:http';
import { extname } from 'node:path';

import { contentType } from 'mime-types';
import Negotiator from 'negotiator';

/** `text/html; charset=utf-8` for index.html; application/octet-stream when the extension says nothing. */
export function contentTypeFor(path: string): string {
  return contentType(extname(path)) || 'application/octet-stream';
}

const DURATION = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w|y)?$/i;
const UNIT_MS: Record<string, number> = {
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 604_800_000,
  y: 31_557_600_000,
};
/** RFC 9111 §1.2.2: delta-seconds above 2^31 should be sent as 2^31; a year is what anyone means. */
const MAX_AGE_CEILING_SECONDS = 31_536_000;

/**
 * maxAge as send takes it: milliseconds as a number, or a string like '1d', '2h', '500ms'.
 * Returns whole seconds, clamped to one year.
 */
export function maxAgeSeconds(value: number | string | undefined): number {
  if (value === undefined) return 0;
  let ms: number;
  if (typeof value === 'number') {
    ms = value;
  } else {
    const match = DURATION.exec(value.trim());
    if (match === null) throw new TypeError(`maxAge: cannot read '${value}' as a duration (e.g. 3600000, '1h', '7d')`);
    ms = Number(match[1]) * (UNIT_MS[(match[2] ?? 'ms').toLowerCase()] ?? 1);
  }
  if (!Number.isFinite(ms) || ms < 0) return 0;
  return Math.min(Math.floor(ms / 1000), MAX_AGE_CEILING_SECONDS);
}

export function cacheControlValue(maxAge: number, immutable: boolean): string {
  return `public, max-age=${maxAge}${immutable ? ', immutable' : ''}`;
}

/** Adds `field` to Vary without repeating it or clobbering what a middleware put there. */
export function appendVary(res: ServerResponse, field: string): void {
  const current = res.getHeader('Vary');
  const existing = current === undefined ? '' : Array.isArray(current) ? current.join(', ') : String(current);
  const fields = existing
    .split(',')
    .map((f) => f.trim())
    .filter((f) => f !== '');
  if (fields.includes('*') || fields.some((f) => f.toLowerCase() === field.toLowerCase())) return;
  fields.push(field);
  res.setHeader('Vary', fields.join(', '));
}

/** A 304 leaves out the fields that describe a body; it keeps the validators, Vary and caching fields (RFC 9110 §15.4.5). */
export const FIELDS_NOT_IN_304 = [
  'Content-Type',
  'Content-Length',
  'Content-Encoding',
  'Content-Range',
  'Accept-Ranges',
];

export type Encoding = 'br' | 'gzip';
export const ENCODING_SUFFIX: Record<Encoding, string> = { br: '.br', gzip: '.gz' };

interface RankingNegotiator {
  encodings(available: readonly string[], options: { preferred: readonly string[] }): string[];
}

/**
 * The encodings from `offered` that Accept-Encoding allows, best first, and only those the
 * client prefers to identity: by q-value, then in the order offered (br before gzip when the
 * client weighs them the same). `q=0` forbids; `*` stands for anything not named; identity,
 * unnamed, weighs as the least weighted name (jshttp's negotiator, as `compression` and
 * `serve-static` read the field).
 */
export function acceptableEncodings(header: string | undefined, offered: readonly Encoding[]): readonly Encoding[] {
  if (header === undefined || header.trim() === '') return [];
  // Browsers send a handful of distinct values: parse each once. A client inventing values
  // only ever restarts the memo.
  const memoKey = `${offered.join(',')}\0${header}`;
  const known = rankedMemo.get(memoKey);
  if (known !== undefined) return known;
  const chosen = rankEncodings(header, offered);
  if (rankedMemo.size >= RANKED_MEMO_ENTRIES || memoKey.length > 512) rankedMemo.clear();
  if (memoKey.length <= 512) rankedMemo.set(memoKey, chosen);
  return chosen;
}

const RANKED_MEMO_ENTRIES = 256;
const rankedMemo = new Map<string, Encoding[]>();

function rankEncodings(header: string, offered: readonly Encoding[]): Encoding[] {
  const available = [...offered, 'identity'];
  // negotiator 1.x takes the server's order for ties; its published types predate that.
  const negotiator = new Negotiator({ headers: { 'accept-encoding': header } }) as unknown as RankingNegotiator;
  const ranked = negotiator.encodings(available, { preferred: available });
  const chosen: Encoding[] = [];
  for (const name of ranked) {
    if (name === 'identity') break;
    chosen.push(name as Encoding);
  }
  return chosen;
}

/** Headers of an error answer: plain text, not cached, not sniffed, no scripts. */
export function errorHeaders(length: number): OutgoingHttpHeaders {
  return {
    'Content-Type': 'text/plain; charset=utf-8',
    'Content-Length': length,
    'Content-Security-Policy': "default-src 'none'",
    'X-Content-Type-Options': 'nosniff',
    'Cache-Control': 'no-store',
  };
}
