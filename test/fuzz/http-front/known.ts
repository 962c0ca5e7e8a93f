// Differences from node:http known and not yet fixed in http_request.cc. Each is counted and
// shown, but does not fail the run. Delete an entry once its fix lands, so the fuzzer guards
// the fix from then on.
import type { Mismatch } from './compare.js';
import type { FrontRecord } from './records.js';

export interface KnownDifference {
  name: string;
  matches(mismatch: Mismatch, record: FrontRecord): boolean;
}

/** The field lines of the head of the record's request `index`, as latin1 text. */
function fieldLines(record: FrontRecord, index: number): string[] {
  let offset = 0;
  for (let i = 0; i < index; i++) offset += record.requests[i]!.length;
  const length = record.requests[index]?.length ?? 0;
  return record.input
    .toString('latin1', offset, offset + length)
    .split('\r\n')
    .slice(1);
}

export const knownDifferences: KnownDifference[] = [
  {
    // http_request.cc reads Connection and Proxy-Connection options as llhttp 9.3 (Node 20)
    // does, where a tab after "close" or "keep-alive" makes the token unknown; llhttp 9.4
    // (Node 22 and 24) reads the token. So "Connection: close<TAB>" keeps an HTTP/1.1
    // connection open on Node 20 and closes it on Node 24, and the front follows Node 20 on
    // both. Handing such a value over would be right on every Node. Not yet fixed.
    name: 'tab after a Connection option (llhttp 9.3 and 9.4 disagree)',
    matches: (mismatch, record) =>
      mismatch.kind === 'keep-alive' &&
      fieldLines(record, mismatch.request).some((line) => /^(proxy-)?connection:.*\t/i.test(line)),
  },
];
