// One writer for every body sendFile sends, from the open file or from the file cache's copy
// in memory: the whole file, one range, or the parts of a multipart/byteranges answer.
import type { FileHandle } from 'node:fs/promises';
import type { ServerResponse } from 'node:http';

import { type BodyReport, writeBody } from './body.js';
import type { ByteRange } from './range.js';

/** The open file (kept open by the caller until the body is written), or its bytes in memory. */
export type BodySource = FileHandle | Buffer;

/** Bytes of the source, after `head` (a multipart part's header) when there is one. */
export interface BodySpan {
  head?: string;
  range: ByteRange;
}

/** The span of a whole body of `size` bytes. */
export function wholeBody(size: number): BodySpan[] {
  return [{ range: { start: 0, end: size - 1 } }];
}

/** Writes one span's bytes; `last`: nothing follows, the response may end with them. */
type SpanWriter = (range: ByteRange, last: boolean) => BodyReport | Promise<BodyReport>;

/**
 * Each span, then `tail`, then the end of the response. Synchronous for as long as `write`
 * is, so that a body from memory is written, and its request finished, before this returns.
 */
function writeEach(
  res: ServerResponse,
  spans: readonly BodySpan[],
  tail: string | undefined,
  write: SpanWriter,
): BodyReport | Promise<BodyReport> {
  let bytes = 0;
  const from = (first: number, before: BodyReport): BodyReport | Promise<BodyReport> => {
    let report = before;
    // Bounded by maxRanges.
    for (let i = first; i < spans.length; i++) {
      const { head, range } = spans[i]!;
      if (head !== undefined) res.write(head);
      const written = write(range, i === spans.length - 1 && tail === undefined);
      if (written instanceof Promise) {
        return written.then((next) => {
          bytes += next.bytes;
          return from(i + 1, next);
        });
      }
      bytes += written.bytes;
      report = written;
    }
    if (!res.writableEnded) res.end(tail);
    return { ...report, bytes };
  };
  return from(0, { bytes: 0, method: 'none' });
}

/**
 * The body after res.writeHead(). From memory the last bytes leave with res.end(), so that a
 * body with no tail goes out in one write with the headers, and the report comes back at
 * once, not as a promise. From a file writeBody() chooses the path; a failure (the file
 * shrank, a read failed, the client left) has destroyed the connection when the promise
 * rejects with writeBody's BodyError.
 */
export function writeSpans(
  res: ServerResponse,
  source: BodySource,
  spans: readonly BodySpan[],
  tail: string | undefined,
): BodyReport | Promise<BodyReport> {
  if (Buffer.isBuffer(source)) {
    // Nothing can fail part-way but the socket, which Node handles.
    return writeEach(res, spans, tail, (range, last) => {
      const part = source.subarray(range.start, range.end + 1);
      if (last) res.end(part);
      else res.write(part);
      return { bytes: part.length, method: 'memory' };
    });
  }
  const controller = new AbortController();
  const abortOnClose = () => {
    if (!res.writableFinished) controller.abort(new Error('connection closed before the response finished'));
  };
  res.once('close', abortOnClose);
  const written = writeEach(res, spans, tail, (range) =>
    writeBody(res, source, range.start, range.end - range.start + 1, controller.signal),
  );
  if (!(written instanceof Promise)) {
    res.off('close', abortOnClose);
    return written;
  }
  return written.finally(() => res.off('close', abortOnClose));
}
