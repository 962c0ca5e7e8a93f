// Compares what the front read of a connection's bytes with what node:http's parser reads of
// the same bytes: for every request the front would answer itself, where it ends, its method,
// target and version, the fields the answer depends on, and whether the connection stays open;
// then its 200/304/206 with the JavaScript path's (decide.ts).
import { answerMismatch } from './decide.js';
import { type NodeHead, NodeParser } from './node-parser.js';
import { type FieldName, type FrontRecord, type FrontRequest, fieldNames } from './records.js';

export type MismatchKind =
  | 'node-refuses' // node:http answers 400 (or 431) where the front answers
  | 'node-ends-earlier'
  | 'node-ends-later'
  | 'request-line'
  | 'keep-alive'
  | 'field'
  | 'no-host'
  | 'answer'; // http_conditions.cc decides otherwise than the JavaScript path

export interface Mismatch {
  kind: MismatchKind;
  /** Which request of the record, from 0. */
  request: number;
  detail: string;
  /** node:http's view of that request's head, when it got that far. */
  node?: NodeHead;
}

/** The first point where node:http reads the record's bytes differently, if any. */
export function compare(record: FrontRecord): Mismatch | undefined {
  const parser = new NodeParser(record.maxHead);
  try {
    let offset = 0;
    for (const [index, request] of record.requests.entries()) {
      const mismatch = compareRequest(parser, record.input.subarray(offset, offset + request.length), request, index);
      if (mismatch !== undefined) return mismatch;
      offset += request.length;
    }
    return undefined;
  } finally {
    parser.close();
  }
}

function compareRequest(parser: NodeParser, bytes: Buffer, front: FrontRequest, index: number): Mismatch | undefined {
  const at = (kind: MismatchKind, detail: string, node?: NodeHead): Mismatch => ({
    kind,
    request: index,
    detail,
    node,
  });
  // All but the last byte, then the last one: node:http must finish the message exactly there.
  const before = parser.execute(bytes.subarray(0, bytes.length - 1));
  if (before.error !== undefined)
    return at('node-refuses', `${before.error} at byte ${before.parsed}`, before.heads[0]);
  if (before.messagesComplete > 0)
    return at('node-ends-earlier', "a message ends before the front's last byte", before.heads[0]);
  const last = parser.execute(bytes.subarray(bytes.length - 1));
  const node = before.heads[0] ?? last.heads[0];
  if (last.error !== undefined) return at('node-refuses', `${last.error} at the last byte`, node);
  if (last.messagesComplete !== 1 || node === undefined)
    return at('node-ends-later', "no message ends at the front's last byte", node);

  const method = front.head ? 'HEAD' : 'GET';
  const version = front.http10 ? '1.0' : '1.1';
  const nodeVersion = `${node.versionMajor}.${node.versionMinor}`;
  if (node.method !== method || node.url !== front.target || nodeVersion !== version || node.upgrade) {
    return at(
      'request-line',
      `front: ${method} ${JSON.stringify(front.target)} ${version}; node:http: ${node.method} ${JSON.stringify(node.url)} ${nodeVersion}${node.upgrade ? ' upgrade' : ''}`,
      node,
    );
  }
  if (node.shouldKeepAlive === front.close) {
    return at('keep-alive', `front: ${front.close ? 'close' : 'keep-alive'}; node:http: the opposite`, node);
  }
  for (const name of fieldNames) {
    const nodeValue = firstValue(node.headerLines, name);
    if (nodeValue !== front.fields[name]) {
      return at(
        'field',
        `${name}: front ${JSON.stringify(front.fields[name])}, node:http ${JSON.stringify(nodeValue)}`,
        node,
      );
    }
  }
  if (!front.http10 && firstValue(node.headerLines, 'host') === undefined) {
    return at('no-host', 'node:http answers an HTTP/1.1 request without Host with 400', node);
  }
  // The fields are node:http's, so the JavaScript path would decide from the same values.
  const answer = answerMismatch(front);
  if (answer !== undefined) return at('answer', answer, node);
  return undefined;
}

/** The first value of a field, as IncomingMessage keeps it for the fields the front reads. */
export function firstValue(headerLines: string[], name: FieldName | 'host'): string | undefined {
  for (let i = 0; i + 1 < headerLines.length; i += 2) {
    if (headerLines[i]!.toLowerCase() === name) return headerLines[i + 1];
  }
  return undefined;
}
