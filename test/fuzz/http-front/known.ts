// Differences from node:http known and not yet fixed in http_request.cc. Each is counted and
// shown, but does not fail the run. Delete an entry once its fix lands, so the fuzzer guards
// the fix from then on.
import type { Mismatch } from './compare.js';
import type { FrontRecord } from './records.js';

export interface KnownDifference {
  name: string;
  matches(mismatch: Mismatch, record: FrontRecord): boolean;
}

export const knownDifferences: KnownDifference[] = [];
