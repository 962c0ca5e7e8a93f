// The fuzz run of the native front's parser: starts the sanitizer-built harness (main.cc)
// with --emit, and compares every request it says the front answers with node:http's own
// parser (compare.ts). Exits non-zero on a sanitizer report, a harness failure, or a
// difference from node:http that known.ts does not list. scripts/fuzz-http.sh builds and starts it.
//
//   node dist/test/fuzz/http-front/check.js HARNESS [--seed N] [--count N] [--seconds S]
import { spawn } from 'node:child_process';
import { compare, type Mismatch } from './compare.js';
import { knownDifferences } from './known.js';
import { type FrontRecord, RecordReader } from './records.js';

const examplesPerKind = 3;

const [harness, ...harnessArgs] = process.argv.slice(2);
if (harness === undefined) {
  console.error('usage: check.js HARNESS [--seed N] [--count N] [--seconds S]');
  process.exit(2);
}

const reader = new RecordReader();
let checked = 0;
let requests = 0;
const known = new Map<string, { count: number; shortest: string }>();
const unknown = new Map<string, { count: number; examples: string[] }>();

// A JSON string of `text`, with a run of more than three equal lines written once with its count.
function shorten(text: string): string {
  return JSON.stringify(text).replace(/((?:[^"\\]|\\.)*?\\r\\n)\1{3,}/g, (run, line: string) => {
    return `"+"${line}".repeat(${run.length / line.length})+"`;
  });
}

function describe(record: FrontRecord, mismatch: Mismatch): string {
  const lines = [
    `  input (${record.input.length} bytes, max head ${record.maxHead}): ${shorten(record.input.toString('latin1'))}`,
    `  request ${mismatch.request}: ${mismatch.detail}`,
  ];
  const fields = mismatch.node?.rawHeaders;
  if (fields !== undefined) {
    lines.push(
      `  node:http's ${fields.length / 2} fields: ${fields.length > 40 ? `${JSON.stringify(fields.slice(0, 8))}...${JSON.stringify(fields.slice(-8))}` : JSON.stringify(fields)}`,
    );
  }
  return lines.join('\n');
}

function check(record: FrontRecord): void {
  checked++;
  requests += record.requests.length;
  const mismatch = compare(record);
  if (mismatch === undefined) return;
  const difference = knownDifferences.find((candidate) => candidate.matches(mismatch, record));
  if (difference !== undefined) {
    const entry = known.get(difference.name);
    const example = shorten(record.input.toString('latin1'));
    if (entry === undefined) {
      known.set(difference.name, { count: 1, shortest: example });
    } else {
      entry.count++;
      if (example.length < entry.shortest.length) entry.shortest = example;
    }
    return;
  }
  const entry = unknown.get(mismatch.kind) ?? { count: 0, examples: [] };
  entry.count++;
  if (entry.examples.length < examplesPerKind) entry.examples.push(describe(record, mismatch));
  unknown.set(mismatch.kind, entry);
}

const child = spawn(harness, [...harnessArgs, '--emit'], { stdio: ['ignore', 'pipe', 'inherit'] });
child.stdout.on('data', (chunk: Buffer) => {
  for (const record of reader.push(chunk)) check(record);
});
child.on('close', (code, signal) => {
  let failed = false;
  if (code !== 0) {
    console.error(`fuzz: the harness failed (${signal ?? `exit ${code}`}); its report is above`);
    failed = true;
  } else if (reader.pending > 0) {
    console.error(`fuzz: the harness left ${reader.pending} bytes of a record`);
    failed = true;
  }
  console.log(
    `fuzz: node:http's parser (llhttp ${process.versions.llhttp}) read ${checked} inputs, ${requests} requests the front answers`,
  );
  for (const [name, { count, shortest }] of known) {
    console.log(`fuzz: known difference, allowed until fixed: ${name}: ${count} inputs, the shortest ${shortest}`);
  }
  for (const [kind, { count, examples }] of unknown) {
    console.log(`fuzz: DIFFERENCE ${kind}: ${count} inputs; first ${examples.length}:\n${examples.join('\n')}`);
    failed = true;
  }
  if (failed) process.exitCode = 1;
});
