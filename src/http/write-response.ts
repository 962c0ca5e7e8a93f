// The response for a file that was found: its headers, the status the request's conditions
// and Range lead to, and the body; and the short answers (errors, redirects).
import type { IncomingMessage, ServerResponse } from 'node:http';

import type { BodyError, BodyReport } from './body.js';
import { variesOnEncoding } from './compress-policy.js';
import { evaluatePreconditions, rangeStillValid } from './conditional.js';
import { appendVary, errorHeaders, FIELDS_NOT_IN_304 } from './headers.js';
import { planMultipart } from './multipart.js';
import {
  contentRange,
  DEFAULT_RANGE_LIMITS,
  decideRange,
  type RangeDecision,
  unsatisfiedContentRange,
} from './range.js';
import type { Representation } from './representation.js';
import { type BodySource, type BodySpan, wholeBody, writeSpans } from './response-body.js';
import type { ResolvedOptions } from './send-options.js';
import type { CacheOutcome, SendResult } from './send-result.js';

/** How one request ends: its result, and the answer to a failure. */
export interface Ending {
  /** Completes the result with its duration; tells onResponse when the request was handled. */
  finish(result: Omit<SendResult, 'durationMs'>): SendResult;
  /** Answers `status` with a short text (or passes a 404/405 on, when falling through) and finishes. */
  fail(status: number, reason: string, extra?: Record<string, string>): SendResult;
}

const STATUS_TEXT: Record<number, string> = {
  400: 'Bad Request',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  412: 'Precondition Failed',
  416: 'Range Not Satisfiable',
  503: 'Service Unavailable',
};

/** Fields that describe the file, which an error answer must not carry. */
const FIELDS_NOT_IN_ERRORS = [
  'Content-Encoding',
  'Content-Range',
  'Content-Disposition',
  'Accept-Ranges',
  'ETag',
  'Last-Modified',
];

export function writeError(
  res: ServerResponse,
  req: IncomingMessage,
  status: number,
  extra: Record<string, string> = {},
): void {
  const body = Buffer.from(`${STATUS_TEXT[status] ?? 'Error'}\n`);
  for (const name of FIELDS_NOT_IN_ERRORS) res.removeHeader(name);
  res.writeHead(status, { ...errorHeaders(body.length), ...extra });
  res.end(req.method === 'HEAD' ? undefined : body);
}

/** 301 to the directory's slash form. */
export function writeRedirect(res: ServerResponse, req: IncomingMessage, location: string): void {
  const body = Buffer.from(`Redirecting to ${location}\n`);
  res.writeHead(301, { ...errorHeaders(body.length), Location: location });
  res.end(req.method === 'HEAD' ? undefined : body);
}

/** A condition header is present: only then are the preconditions worth evaluating. */
export function hasPreconditions(req: IncomingMessage): boolean {
  const h = req.headers;
  return (
    h['if-match'] !== undefined ||
    h['if-none-match'] !== undefined ||
    h['if-modified-since'] !== undefined ||
    h['if-unmodified-since'] !== undefined
  );
}

/** Sets the representation's header fields, keeping those an earlier middleware set (as send does). */
function setRepresentationHeaders(res: ServerResponse, rep: Representation, options: ResolvedOptions): void {
  const setDefault = (name: string, value: string | number) => {
    if (!res.hasHeader(name)) res.setHeader(name, value);
  };
  setDefault('Content-Type', rep.contentType);
  if (options.acceptRanges) setDefault('Accept-Ranges', 'bytes');
  else res.setHeader('Accept-Ranges', 'none');
  if (options.cacheControl !== undefined) setDefault('Cache-Control', options.cacheControl);
  if (rep.lastModified !== undefined) setDefault('Last-Modified', rep.lastModified);
  if (rep.etag !== undefined) setDefault('ETag', rep.etag);
  if (rep.encoding !== undefined) res.setHeader('Content-Encoding', rep.encoding);
  if (variesOnEncoding(rep.contentType, options)) appendVary(res, 'Accept-Encoding');
  if (options.fileHeaders !== undefined) {
    const extra = options.fileHeaders(rep.path);
    for (let i = 0; i + 1 < extra.length; i += 2) {
      if (extra[i]!.toLowerCase() === 'vary') appendVary(res, extra[i + 1]!);
      else res.setHeader(extra[i]!, extra[i + 1]!);
    }
  }
  options.setHeaders?.(res, rep.servedPath, {
    path: rep.servedPath,
    size: rep.size,
    mtime: new Date(rep.mtimeMs),
    ...(rep.encoding === undefined ? {} : { encoding: rep.encoding }),
  });
}

/** Writes the head of a 200 or 206 for `decision` and says which bytes the body is made of. */
function writeHeadFor(
  res: ServerResponse,
  decision: Exclude<RangeDecision, { kind: 'unsatisfiable' }>,
  size: number,
): { status: 200 | 206; spans: readonly BodySpan[]; tail: string | undefined } {
  if (decision.kind === 'partial' && decision.ranges.length === 1) {
    const range = decision.ranges[0]!;
    res.setHeader('Content-Range', contentRange(range, size));
    res.writeHead(206, { 'Content-Length': range.end - range.start + 1 });
    return { status: 206, spans: [{ range }], tail: undefined };
  }
  if (decision.kind === 'partial') {
    const plan = planMultipart(decision.ranges, size, String(res.getHeader('Content-Type')));
    // Exact framing known now: never answer with more bytes than the file has.
    if (plan.contentLength < size) {
      res.writeHead(206, { 'Content-Type': plan.contentType, 'Content-Length': plan.contentLength });
      return { status: 206, spans: plan.parts, tail: plan.tail };
    }
  }
  res.writeHead(200, { 'Content-Length': size });
  return { status: 200, spans: wholeBody(size), tail: undefined };
}

/**
 * The answer for a found file: 200, 206, 304, 412 or 416; the body from the open file or from
 * memory. From memory the request is finished when this returns (no promise), as node:http
 * finishes pipelined requests: in the order they came.
 */
export function respondWithRepresentation(
  req: IncomingMessage,
  res: ServerResponse,
  rep: Representation,
  source: BodySource,
  options: ResolvedOptions,
  beforeWrite: (() => void) | undefined,
  ending: Ending,
  cacheOutcome?: CacheOutcome,
): SendResult | Promise<SendResult> {
  const { size, encoding, servedPath } = rep;
  const { finish, fail } = ending;
  setRepresentationHeaders(res, rep, options);

  const header = (name: string) => {
    const value = res.getHeader(name);
    return value === undefined ? undefined : String(value);
  };
  const validators = { etag: header('ETag'), lastModified: header('Last-Modified') };
  const precondition = hasPreconditions(req) ? evaluatePreconditions(req.headers, validators) : 'proceed';
  const base = {
    path: servedPath,
    ...(encoding === undefined ? {} : { encoding }),
    ...(cacheOutcome === undefined ? {} : { cache: cacheOutcome }),
  };
  if (precondition === 'precondition-failed') return fail(412, 'precondition failed');
  if (precondition === 'not-modified') {
    for (const name of FIELDS_NOT_IN_304) res.removeHeader(name);
    beforeWrite?.();
    res.writeHead(304);
    res.end();
    return finish({ status: 304, handled: true, bytes: 0, method: 'none', ...base });
  }

  // Range handling is defined for GET only (RFC 9110 §14.2): HEAD gets the full headers.
  const rangeHeader = req.headers.range;
  const ifRange = req.headers['if-range'];
  // Two If-Range fields cannot both be honoured; the safe reading is "validator failed": send it all.
  const rangeApplies = Array.isArray(ifRange) ? false : rangeStillValid(ifRange, validators);
  const decision =
    options.acceptRanges && req.method === 'GET' && rangeHeader !== undefined && rangeApplies
      ? decideRange(rangeHeader, size, { ...DEFAULT_RANGE_LIMITS, maxRanges: options.maxRanges })
      : ({ kind: 'full', reason: 'absent' } as const);
  if (decision.kind === 'unsatisfiable') {
    return fail(416, 'range not satisfiable', { 'Content-Range': unsatisfiedContentRange(size) });
  }

  beforeWrite?.();
  const { status, spans, tail } = writeHeadFor(res, decision, size);
  const body = req.method === 'HEAD' ? [] : spans;

  const written = writeSpans(res, source, body, tail);
  const finished = (report: BodyReport) => finish({ status, handled: true, ...report, ...base });
  if (!(written instanceof Promise)) return finished(written);
  return written.then(finished, (error: unknown) => {
    // writeBody destroyed the connection already.
    const failure = error as BodyError;
    return finish({
      status: res.statusCode,
      handled: true,
      bytes: typeof failure.bytesTransferred === 'number' ? failure.bytesTransferred : 0,
      method: 'none',
      error: failure,
      reason: failure.message,
      ...base,
    });
  });
}
