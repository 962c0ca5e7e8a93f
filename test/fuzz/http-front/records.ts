// The records the C++ harness writes with --emit (main.cc's Run), decoded from its stdout.
// Little-endian; a span is a u32 offset into the input and a u32 length, offset 0xffffffff if
// absent:
//   u32 size, size bytes of input, u32 max_head, u8 count, count requests, u8 stop
//     (0 close, 1 incomplete, 2 hand-over, 3 end of input);
//   a request: u32 length, u8 flags (1 HEAD, 2 HTTP/1.0, 4 close), 9 spans (target, range,
//     if-range, if-none-match, if-modified-since, cache-control, accept-encoding, user-agent,
//     referer), then the cached file it was decided against and the answer: u8 has etag,
//     u32 etag size, etag bytes, u8 has last-modified, i64 last-modified ms, u8 accept ranges,
//     u64 size, u8 answer (0 whole, 1 not modified, 2 partial, 3 hand-over), u64 first, u64 last.

/** The fields the front reads, in the order the record carries them after the target. */
export const fieldNames = [
  'range',
  'if-range',
  'if-none-match',
  'if-modified-since',
  'cache-control',
  'accept-encoding',
  'user-agent',
  'referer',
] as const;

export type FieldName = (typeof fieldNames)[number];

export const answerKinds = ['whole', 'not-modified', 'partial', 'hand-over'] as const;

/** What ChooseAnswer (http_conditions.cc) said for a request against one cached file. */
export interface FrontDecision {
  etag: string | undefined;
  lastModifiedMs: number | undefined;
  acceptRanges: boolean;
  size: bigint;
  answer: (typeof answerKinds)[number];
  first: bigint;
  last: bigint;
}

export interface FrontRequest {
  length: number;
  head: boolean;
  http10: boolean;
  close: boolean;
  target: string;
  /** Each field's value as the front hands it on (trimmed), or undefined if absent. */
  fields: Record<FieldName, string | undefined>;
  decision: FrontDecision;
}

export const stops = ['close', 'incomplete', 'hand-over', 'end'] as const;

export interface FrontRecord {
  input: Buffer;
  maxHead: number;
  requests: FrontRequest[];
  stop: (typeof stops)[number];
}

/** Splits a byte stream into records; feed it chunks, get back the records they complete. */
export class RecordReader {
  private buffered: Buffer = Buffer.alloc(0);

  push(chunk: Buffer): FrontRecord[] {
    this.buffered = this.buffered.length === 0 ? chunk : Buffer.concat([this.buffered, chunk]);
    const records: FrontRecord[] = [];
    const cursor = new Cursor(this.buffered);
    for (;;) {
      const start = cursor.at;
      try {
        records.push(decode(cursor));
      } catch (error) {
        if (error !== needMore) throw error;
        cursor.at = start;
        break;
      }
    }
    this.buffered = this.buffered.subarray(cursor.at);
    return records;
  }

  /** Bytes left over: a record cut short, which only a harness that died leaves. */
  get pending(): number {
    return this.buffered.length;
  }
}

const needMore = Symbol('the record goes on in the next chunk');

class Cursor {
  at = 0;
  constructor(private readonly bytes: Buffer) {}

  private take(size: number): number {
    if (this.at + size > this.bytes.length) throw needMore;
    const at = this.at;
    this.at += size;
    return at;
  }
  u8(): number {
    return this.bytes[this.take(1)]!;
  }
  u32(): number {
    return this.bytes.readUInt32LE(this.take(4));
  }
  u64(): bigint {
    return this.bytes.readBigUInt64LE(this.take(8));
  }
  i64(): bigint {
    return this.bytes.readBigInt64LE(this.take(8));
  }
  bytesOf(size: number): Buffer {
    const at = this.take(size);
    return Buffer.from(this.bytes.subarray(at, at + size));
  }
}

function decode(cursor: Cursor): FrontRecord {
  const input = cursor.bytesOf(cursor.u32());
  const maxHead = cursor.u32();
  const count = cursor.u8();
  const span = (): string | undefined => {
    const start = cursor.u32();
    const length = cursor.u32();
    return start === 0xffffffff ? undefined : input.toString('latin1', start, start + length);
  };
  const requests: FrontRequest[] = [];
  for (let i = 0; i < count; i++) {
    const length = cursor.u32();
    const flags = cursor.u8();
    const target = span() ?? '';
    const fields = {} as Record<FieldName, string | undefined>;
    for (const name of fieldNames) fields[name] = span();
    requests.push({
      length,
      head: (flags & 1) !== 0,
      http10: (flags & 2) !== 0,
      close: (flags & 4) !== 0,
      target,
      fields,
      decision: decodeDecision(cursor),
    });
  }
  const stop = stops[cursor.u8()];
  if (stop === undefined) throw new Error('a record with a stop that is none of the four');
  return { input, maxHead, requests, stop };
}

function decodeDecision(cursor: Cursor): FrontDecision {
  const hasEtag = cursor.u8() !== 0;
  const etag = cursor.bytesOf(cursor.u32()).toString('latin1');
  const hasLastModified = cursor.u8() !== 0;
  const lastModifiedMs = Number(cursor.i64());
  const acceptRanges = cursor.u8() !== 0;
  const size = cursor.u64();
  const answer = answerKinds[cursor.u8()];
  if (answer === undefined) throw new Error('a record with an answer that is none of the four');
  return {
    etag: hasEtag ? etag : undefined,
    lastModifiedMs: hasLastModified ? lastModifiedMs : undefined,
    acceptRanges,
    size,
    answer,
    first: cursor.u64(),
    last: cursor.u64(),
  };
}
