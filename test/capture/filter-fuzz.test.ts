// Property tests over random expressions (seeded, bounded): grammar-made ones compile and agree
// with tcpdump on the frame corpus; damaged ones compile to a valid program or throw the
// documented error, never anything else, and never compile where libpcap refuses.

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { compileFilter } from '../../src/capture/filter/index.js';
import { checkProgram, runProgram } from './filter-support/bpf-interpreter.js';
import { damage, expressionGenerator } from './filter-support/expressions.js';
import { craftedFrames, mutatedFrames } from './filter-support/frames.js';
import { writePcap } from './filter-support/pcap.js';
import { findTcpdump, tcpdumpCompiles, tcpdumpMatches } from './filter-support/tcpdump.js';

const SEED = Number(process.env.FILTER_FUZZ_SEED ?? 20261202);
const GRAMMAR_COUNT = 120;
const DAMAGED_COUNT = 600;
const TCPDUMP_CHECKED = 150;

type CompileResult =
  | { program: ReturnType<typeof compileFilter> }
  | { error: Error & { code?: string; position?: number } };

function compile(expression: string): CompileResult {
  try {
    return { program: compileFilter(expression) };
  } catch (error) {
    return { error: error as Error & { code?: string; position?: number } };
  }
}

function assertDocumentedOutcome(expression: string, result: CompileResult) {
  if ('program' in result) {
    checkProgram(result.program);
    return;
  }
  const { error } = result;
  assert.equal(error.code, 'ERR_ZEROCOPY_FILTER_SYNTAX', `'${expression}' threw ${error.stack}`);
  assert.ok(
    Number.isInteger(error.position) &&
      (error.position as number) >= 0 &&
      (error.position as number) <= expression.length,
    `'${expression}': position ${error.position}`,
  );
  assert.ok(
    error.message.startsWith(`Invalid filter expression "${expression}" at position ${error.position}: `),
    error.message,
  );
}

test(`random expressions from the grammar compile and agree with tcpdump (seed ${SEED})`, (t) => {
  const tcpdump = findTcpdump();
  const directory = mkdtempSync(join(tmpdir(), 'zerocopy-filter-fuzz-'));
  t.after(() => rmSync(directory, { recursive: true, force: true }));
  const crafted = craftedFrames();
  const frames = [...crafted, ...mutatedFrames(crafted, SEED, 2)];
  const file = join(directory, 'corpus.pcap');
  writePcap(file, frames);
  const { expression } = expressionGenerator(SEED);
  let compared = 0;
  let refused = 0;
  let optimizerOnly = 0;
  for (let i = 0; i < GRAMMAR_COUNT; i += 1) {
    const text = expression();
    const result = compile(text);
    assertDocumentedOutcome(text, result);
    if (!('program' in result)) {
      // The grammar can make `x % (1 ^ 1)`: refused, but only as libpcap refuses it.
      refused += 1;
      if (tcpdump !== undefined)
        assert.equal(
          tcpdumpCompiles(tcpdump, text).ok,
          false,
          `tcpdump compiles '${text}', ours: ${result.error.message}`,
        );
      continue;
    }
    for (const frame of frames) runProgram(result.program, frame.bytes, frame.wireLength);
    if (tcpdump === undefined) continue;
    const truth = tcpdumpMatches(tcpdump, file, text);
    const unoptimized = tcpdumpMatches(tcpdump, file, text, false);
    frames.forEach((frame, index) => {
      const ours = runProgram(result.program, frame.bytes, frame.wireLength) !== 0;
      const expected = truth.has(index);
      if (ours === expected) return;
      assert.notEqual(
        expected,
        unoptimized.has(index),
        `'${text}' on #${index} ${frame.name}: tcpdump ${expected ? 'prints' : 'skips'} it, ours ${ours ? 'accepts' : 'rejects'}`,
      );
      optimizerOnly += 1;
      if (process.env.FILTER_FUZZ_VERBOSE)
        t.diagnostic(`optimizer: '${text}' #${index} ${frame.name} tcpdump ${expected}`);
    });
    compared += 1;
  }
  assert.ok(refused < GRAMMAR_COUNT / 10, `${refused} of ${GRAMMAR_COUNT} refused`);
  if (tcpdump === undefined) t.skip('tcpdump is not installed: compiled and ran only');
  else
    t.diagnostic(
      `${compared} expressions x ${frames.length} frames (${refused} refused, as by tcpdump); ${optimizerOnly} verdicts were tcpdump -O's where libpcap's optimizer flips tcpdump's`,
    );
});

test(`damaged expressions compile or throw ERR_ZEROCOPY_FILTER_SYNTAX (seed ${SEED})`, (t) => {
  const tcpdump = findTcpdump();
  const { expression, next } = expressionGenerator(SEED + 1);
  let compiled = 0;
  let refused = 0;
  let checkedAgainstTcpdump = 0;
  for (let i = 0; i < DAMAGED_COUNT; i += 1) {
    let text = expression();
    for (let times = next() < 0.8 ? 1 : 2; times > 0; times -= 1) text = damage(text, next);
    const result = compile(text);
    assertDocumentedOutcome(text, result);
    if ('program' in result) {
      compiled += 1;
      // What we compile, libpcap must compile too: we accept no nonsense of our own.
      if (tcpdump !== undefined && checkedAgainstTcpdump < TCPDUMP_CHECKED) {
        checkedAgainstTcpdump += 1;
        const { ok, error } = tcpdumpCompiles(tcpdump, text);
        assert.ok(ok, `ours compiles '${text}', tcpdump refuses it: ${error}`);
      }
    } else refused += 1;
  }
  t.diagnostic(
    `${compiled} compiled, ${refused} refused, ${checkedAgainstTcpdump} of the compiled checked against tcpdump -d`,
  );
  assert.ok(compiled > 0 && refused > 0, 'the damage should break some expressions and spare others');
});
