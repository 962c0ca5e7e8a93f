// The answer the JavaScript path (src/http/write-response.ts) gives the request ChooseAnswer
// decided, from the same header values and the same cached file: evaluatePreconditions (fresh),
// rangeStillValid and decideRange (range-parser), in write-response.ts's order.
import type { IncomingHttpHeaders } from 'node:http';

import { evaluatePreconditions, rangeStillValid } from '../../../src/http/conditional.js';
import { DEFAULT_RANGE_LIMITS, decideRange } from '../../../src/http/range.js';
import type { FrontDecision, FrontRequest } from './records.js';

/** Whole, 304, 206 with one range, or something the front must hand over (416, multipart). */
export type JsAnswer =
  | { kind: 'whole' | 'not-modified' | 'other'; detail: string }
  | { kind: 'partial'; first: bigint; last: bigint };

// Past 2^53 the JavaScript size is not the file's; no file is that large.
const largestSize = BigInt(Number.MAX_SAFE_INTEGER);

export function comparable(decision: FrontDecision): boolean {
  return decision.size <= largestSize;
}

export function jsAnswer(request: FrontRequest, decision: FrontDecision): JsAnswer {
  const headers: IncomingHttpHeaders = {};
  for (const [name, value] of Object.entries(request.fields)) if (value !== undefined) headers[name] = value;
  const validators = {
    etag: decision.etag,
    // How a Last-Modified field says the date the front was given in milliseconds.
    lastModified: decision.lastModifiedMs === undefined ? undefined : new Date(decision.lastModifiedMs).toUTCString(),
  };
  const conditional = headers['if-none-match'] !== undefined || headers['if-modified-since'] !== undefined;
  const precondition = conditional ? evaluatePreconditions(headers, validators) : 'proceed';
  if (precondition === 'not-modified') return { kind: 'not-modified', detail: '304' };
  if (precondition === 'precondition-failed') return { kind: 'other', detail: '412' };
  const range = request.fields.range;
  if (
    !decision.acceptRanges ||
    request.head ||
    range === undefined ||
    !rangeStillValid(request.fields['if-range'], validators)
  ) {
    return { kind: 'whole', detail: '200' };
  }
  const decided = decideRange(range, Number(decision.size), DEFAULT_RANGE_LIMITS);
  if (decided.kind === 'full') return { kind: 'whole', detail: `200 (${decided.reason})` };
  if (decided.kind === 'unsatisfiable') return { kind: 'other', detail: '416' };
  const [only, ...more] = decided.ranges;
  if (only === undefined || more.length > 0)
    return { kind: 'other', detail: `206 with ${decided.ranges.length} parts` };
  return { kind: 'partial', first: BigInt(only.start), last: BigInt(only.end) };
}

/** What is wrong with the front's answer, if anything. Handing over is never wrong. */
export function answerMismatch(request: FrontRequest): string | undefined {
  const decision = request.decision;
  if (decision.answer === 'hand-over' || !comparable(decision)) return undefined;
  const js = jsAnswer(request, decision);
  const front =
    decision.answer === 'partial'
      ? `206 ${decision.first}-${decision.last}`
      : decision.answer === 'whole'
        ? '200'
        : '304';
  const expected = js.kind === 'partial' ? `206 ${js.first}-${js.last}` : js.detail;
  if (js.kind === 'partial' ? front === expected : js.kind === decision.answer) return undefined;
  const file = `etag ${JSON.stringify(decision.etag)}, last-modified ${decision.lastModifiedMs ?? 'none'}, ${decision.size} bytes${decision.acceptRanges ? '' : ', no ranges'}`;
  return `front ${front}, JavaScript ${expected}; file: ${file}`;
}
