// The records the C++ harness writes with --emit (main.cc's Run), decoded from its stdout.
// Little-endian; a span is an offset into the input and a length, offset 0xffffffff if absent:
//   u32 size, size bytes of input, u32 max_head, u8 count,
//   count times: u32 length, u8 flags (1 HEAD, 2 HTTP/1.0, 4 close), 9 spans (target, range,
//                if-range, if-none-match, if-modified-since, cache-control, accept-encoding,
//                user-agent, referer),
//   u8 stop (0 close, 1 incomplete, 2 hand-over, 3 end of input).

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

export interface FrontRequest {
  length: number;
  head: boolean;
  http10: boolean;
  close: boolean;
  target: string;
  /** Each field's value as the front hands it on (trimmed), or undefined if absent. */
  fields: Record<FieldName, string | undefined>;
}

export const stops = ['close', 'incomplete', 'hand-over', 'end'] as const;

export interface FrontRecord {
  input: Buffer;
  maxHead: number;
  requests: FrontRequest[];
  stop: (typeof stops)[number];
}

const requestBytes = 4 + 1 + 9 * 8;

/** Splits a byte stream into records; feed it chunks, get back the records they complete. */
export class RecordReader {
  private buffered: Buffer = Buffer.alloc(0);

  push(chunk: Buffer): FrontRecord[] {
    this.buffered = this.buffered.length === 0 ? chunk : Buffer.concat([this.buffered, chunk]);
    const records: FrontRecord[] = [];
    let at = 0;
    for (;;) {
      const decoded = decode(this.buffered, at);
      if (decoded === undefined) break;
      records.push(decoded.record);
      at = decoded.next;
    }
    this.buffered = this.buffered.subarray(at);
    return records;
  }

  /** Bytes left over: a record cut short, which only a harness that died leaves. */
  get pending(): number {
    return this.buffered.length;
  }
}

function decode(bytes: Buffer, at: number): { record: FrontRecord; next: number } | undefined {
  if (bytes.length < at + 4) return undefined;
  const size = bytes.readUInt32LE(at);
  const countAt = at + 4 + size + 4;
  if (bytes.length < countAt + 1) return undefined;
  const count = bytes[countAt]!;
  const next = countAt + 1 + count * requestBytes + 1;
  if (bytes.length < next) return undefined;

  const input = Buffer.from(bytes.subarray(at + 4, at + 4 + size));
  const span = (offset: number): string | undefined => {
    const start = bytes.readUInt32LE(offset);
    if (start === 0xffffffff) return undefined;
    return input.toString('latin1', start, start + bytes.readUInt32LE(offset + 4));
  };
  const requests: FrontRequest[] = [];
  for (let i = 0; i < count; i++) {
    const base = countAt + 1 + i * requestBytes;
    const flags = bytes[base + 4]!;
    const fields = {} as Record<FieldName, string | undefined>;
    fieldNames.forEach((name, index) => {
      fields[name] = span(base + 5 + (index + 1) * 8);
    });
    requests.push({
      length: bytes.readUInt32LE(base),
      head: (flags & 1) !== 0,
      http10: (flags & 2) !== 0,
      close: (flags & 4) !== 0,
      target: span(base + 5) ?? '',
      fields,
    });
  }
  const stop = stops[bytes[next - 1]!];
  if (stop === undefined) throw new Error(`record at byte ${at}: stop ${bytes[next - 1]} is none of ${stops}`);
  return { record: { input, maxHead: bytes.readUInt32LE(at + 4 + size), requests, stop }, next };
}
