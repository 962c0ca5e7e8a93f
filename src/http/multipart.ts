// multipart/byteranges (RFC 9110 §14.6): several ranges in one 206 answer.
import { randomBytes } from 'node:crypto';

import { type ByteRange, contentRange } from './range.js';

export interface MultipartPlan {
  contentType: string;
  /** Exact body length: every part header, every part, the closing delimiter. */
  contentLength: number;
  parts: Array<{ head: string; range: ByteRange }>;
  tail: string;
}

/**
 * Lays out the body. The boundary is random so that file content cannot forge a delimiter
 * (RFC 2046 asks the boundary not to occur in the data; 24 random characters make it so in practice).
 */
export function planMultipart(ranges: readonly ByteRange[], size: number, partType: string): MultipartPlan {
  const boundary = `zerocopy-${randomBytes(12).toString('hex')}`;
  let contentLength = 0;
  const parts = ranges.map((range, index) => {
    // The CRLF before each delimiter belongs to the delimiter (RFC 2046 §5.1.1); the first needs none.
    const head = `${index === 0 ? '' : '\r\n'}--${boundary}\r\nContent-Type: ${partType}\r\nContent-Range: ${contentRange(range, size)}\r\n\r\n`;
    contentLength += Buffer.byteLength(head) + (range.end - range.start + 1);
    return { head, range };
  });
  const tail = `\r\n--${boundary}--\r\n`;
  contentLength += Buffer.byteLength(tail);
  return { contentType: `multipart/byteranges; boundary=${boundary}`, contentLength, parts, tail };
}
