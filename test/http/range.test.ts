import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { decideRange } from '../../src/http/range.js';

describe('decideRange (RFC 9110 §14)', () => {
  const size = 1000;
  const partial = (header: string, fileSize = size) => {
    const decision = decideRange(header, fileSize);
    assert.equal(decision.kind, 'partial', `${header} -> ${JSON.stringify(decision)}`);
    return decision.kind === 'partial' ? decision.ranges : [];
  };

  it('single range', () => assert.deepEqual(partial('bytes=0-499'), [{ start: 0, end: 499 }]));
  it('suffix: bytes=-500 is the last 500 bytes', () =>
    assert.deepEqual(partial('bytes=-500'), [{ start: 500, end: 999 }]));
  it('open-ended: bytes=900- runs to the end', () =>
    assert.deepEqual(partial('bytes=900-'), [{ start: 900, end: 999 }]));
  it('last-pos past the end is clamped', () => assert.deepEqual(partial('bytes=990-5000'), [{ start: 990, end: 999 }]));
  it('a suffix longer than the file means the whole file', () =>
    assert.deepEqual(partial('bytes=-5000'), [{ start: 0, end: 999 }]));
  it('the unit is case-insensitive and whitespace around specs is allowed', () =>
    assert.deepEqual(partial('Bytes= 0-1 , 5-6'), [
      { start: 0, end: 1 },
      { start: 5, end: 6 },
    ]));
  it('offsets beyond 4 GiB', () => {
    const big = 5 * 2 ** 30;
    assert.deepEqual(partial(`bytes=${2 ** 32 + 10}-${2 ** 32 + 19}`, big), [
      { start: 2 ** 32 + 10, end: 2 ** 32 + 19 },
    ]);
  });

  for (const header of ['bytes=1000-', 'bytes=5000-6000', 'bytes=-0']) {
    it(`unsatisfiable: ${header}`, () => assert.deepEqual(decideRange(header, size), { kind: 'unsatisfiable' }));
  }

  for (const [header, reason] of [
    ['items=0-4', 'unit'],
    ['bytes=5-2', 'malformed'],
    ['bytes=abc', 'malformed'],
    ['bytes=-', 'malformed'],
    ['bytes=0-1,', 'malformed'],
    ['bytes=1-2-3', 'malformed'],
    ['bytes 0-1', 'malformed'],
    ['=0-1', 'malformed'],
    ['bytes=0x10-20', 'malformed'],
    ['bytes=+1-2', 'malformed'],
  ] as const) {
    it(`ignored (whole file): ${header}`, () => assert.deepEqual(decideRange(header, size), { kind: 'full', reason }));
  }

  it('overlapping and adjacent ranges are merged, so they cannot repeat bytes', () =>
    assert.deepEqual(partial('bytes=0-99,50-149,150-199'), [{ start: 0, end: 199 }]));

  it('many overlapping ranges of the whole file collapse to one part', () => {
    const header = `bytes=${Array.from({ length: 200 }, () => '0-').join(',')}`;
    assert.deepEqual(partial(header), [{ start: 0, end: 999 }]);
  });

  it('more ranges than the limit: the whole file instead', () => {
    const header = `bytes=${Array.from({ length: 40 }, (_, i) => `${i * 20}-${i * 20 + 1}`).join(',')}`;
    assert.deepEqual(decideRange(header, 100_000), { kind: 'full', reason: 'too-many' });
  });

  it('tiny ranges whose framing would outweigh the file: the whole file instead', () => {
    const header = `bytes=${Array.from({ length: 10 }, (_, i) => `${i * 3}-${i * 3}`).join(',')}`;
    assert.deepEqual(decideRange(header, size), { kind: 'full', reason: 'amplifies' });
  });

  it('a zero-length file ignores Range', () =>
    assert.deepEqual(decideRange('bytes=0-', 0), { kind: 'full', reason: 'empty-file' }));

  it('an absurdly long header is ignored, not parsed', () =>
    assert.deepEqual(decideRange(`bytes=${'1-2,'.repeat(5000)}1-2`, size), { kind: 'full', reason: 'malformed' }));
});
