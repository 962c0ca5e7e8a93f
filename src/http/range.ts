// Range requests (RFC 9110 §14): which bytes of the representation the client asked for.
import rangeParser from 'range-parser';

export interface ByteRange {
  /** First byte, inclusive. */
  start: number;
  /** Last byte, inclusive. */
  end: number;
}

export type RangeDecision =
  /** No usable Range: send the whole representation with 200. */
  | { kind: 'full'; reason: 'absent' | 'malformed' | 'unit' | 'empty-file' | 'too-many' | 'amplifies' }
  /** 416 Range Not Satisfiable, with Content-Range: bytes *\/size. */
  | { kind: 'unsatisfiable' }
  /** 206 with one part, or multipart/byteranges with several (after merging overlaps). */
  | { kind: 'partial'; ranges: ByteRange[] };

export interface RangeLimits {
  /** More ranges than this (after merging) and the whole file is sent instead (nginx's max_ranges). */
  maxRanges: number;
  /**
   * Bytes of multipart framing each part costs, so that the decision can refuse range sets
   * whose response would be bigger than the file itself (Apache's answer to CVE-2011-3192).
   */
  perPartOverhead: number;
}

export const DEFAULT_RANGE_LIMITS: RangeLimits = { maxRanges: 32, perPartOverhead: 128 };

// A byte-range-spec as RFC 9110 §14.1.2 spells it; whitespace around commas is allowed (OWS).
const RANGE_SPEC = /^\s*(\d*)-(\d*)\s*$/;
// Longest header we even look at; a Range longer than this is hostile, not a client's need.
const MAX_RANGE_HEADER_LENGTH = 4096;

/**
 * Decides what a Range header means for a file of `size` bytes.
 *
 * Syntax is checked here first because range-parser answers `bytes=5-2` (an invalid spec,
 * which makes the whole header invalid and so ignored) with "unsatisfiable", and treats a
 * suffix longer than the file (`bytes=-1000` on 500 bytes, which means the whole file) as
 * unsatisfiable too. Everything else - clamping, suffixes, merging overlaps - is range-parser's.
 */
export function decideRange(
  header: string | undefined,
  size: number,
  limits: RangeLimits = DEFAULT_RANGE_LIMITS,
): RangeDecision {
  if (header === undefined || header === '') return { kind: 'full', reason: 'absent' };
  if (header.length > MAX_RANGE_HEADER_LENGTH) return { kind: 'full', reason: 'malformed' };
  const equals = header.indexOf('=');
  if (equals <= 0) return { kind: 'full', reason: 'malformed' };
  // Range units are case-insensitive (RFC 9110 §14.1); anything but bytes is ignored.
  if (header.slice(0, equals).trim().toLowerCase() !== 'bytes') return { kind: 'full', reason: 'unit' };
  // A zero-length file has no byte positions to name; 200 with an empty body is the only sane answer.
  if (size === 0) return { kind: 'full', reason: 'empty-file' };

  const specs = header.slice(equals + 1).split(',');
  const normalized: string[] = [];
  for (const spec of specs) {
    const match = RANGE_SPEC.exec(spec);
    if (match === null) return { kind: 'full', reason: 'malformed' };
    const first = match[1] ?? '';
    const last = match[2] ?? '';
    if (first === '' && last === '') return { kind: 'full', reason: 'malformed' };
    if (first !== '' && last !== '' && BigInt(last) < BigInt(first)) return { kind: 'full', reason: 'malformed' };
    if (first === '' && BigInt(last) > BigInt(size)) {
      normalized.push('0-'); // suffix longer than the file: the whole file (RFC 9110 §14.1.3)
    } else {
      normalized.push(`${first}-${last}`);
    }
  }

  const parsed = rangeParser(size, `bytes=${normalized.join(',')}`, { combine: true });
  if (parsed === -2) return { kind: 'full', reason: 'malformed' };
  if (parsed === -1) return { kind: 'unsatisfiable' };
  const ranges = parsed.map(({ start, end }) => ({ start, end }));
  if (ranges.length > limits.maxRanges) return { kind: 'full', reason: 'too-many' };
  if (ranges.length > 1) {
    // Merging already removed overlaps; what is left can still cost more in framing than it
    // carries (thousands of one-byte parts). Never answer with more bytes than the file has.
    let total = 0;
    for (const range of ranges) total += range.end - range.start + 1 + limits.perPartOverhead;
    if (total >= size) return { kind: 'full', reason: 'amplifies' };
  }
  return { kind: 'partial', ranges };
}

/** `bytes 0-499/1234` */
export function contentRange(range: ByteRange, size: number): string {
  return `bytes ${range.start}-${range.end}/${size}`;
}

/** `bytes *\/1234`, for 416 answers. */
export function unsatisfiedContentRange(size: number): string {
  return `bytes */${size}`;
}
