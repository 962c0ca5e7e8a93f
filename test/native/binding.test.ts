// The addon's surface has one definition, native/exports.def; these tests fail when the
// addon, the generated names and the typed signatures stop agreeing with it.
import assert from 'node:assert/strict';
import { appendFileSync, copyFileSync, cpSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

import { binding } from '../../src/binding/load.js';
import { CLASS_NAMES, CONSTANT_NAMES, FUNCTION_NAMES } from '../../src/binding/surface.generated.js';
import { RELAY_EVENT_HANDLERS } from '../../src/proxy/native-relay.js';
import { runNode, tempDir } from '../support/fixtures.js';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const generator = join(root, 'scripts', 'generate-binding.mjs');
const generated = join('src', 'binding', 'surface.generated.ts');

const sorted = (names: Iterable<string>) => [...names].sort();

/** A copy of the lists and the generated names under a temporary root, for the generator to check. */
function copyOfTheLists(t: { after(fn: () => void): void }): string {
  const copy = tempDir(t, 'zc-binding-');
  cpSync(join(root, 'native'), join(copy, 'native'), {
    recursive: true,
    filter: (path) => !/\.(cc|h)$/.test(path),
  });
  mkdirSync(join(copy, 'src', 'binding'), { recursive: true });
  copyFileSync(join(root, generated), join(copy, generated));
  return copy;
}

/** The .ts files under `dir`, past node_modules and benchmark results. */
function typeScriptFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory())
      return entry.name === 'node_modules' || entry.name === 'results' ? [] : typeScriptFiles(path);
    return entry.name.endsWith('.ts') ? [path] : [];
  });
}

describe('the addon surface, listed once in native/exports.def', () => {
  it('has its names in the checked-in surface.generated.ts, as the generator writes them', async () => {
    const { code, stderr } = await runNode([generator, '--check']);
    assert.equal(code, 0, stderr);
  });

  it('makes the check fail, naming the function, when the list gains one the generated file lacks', async (t) => {
    const copy = copyOfTheLists(t);
    appendFileSync(join(copy, 'native', 'syscalls', 'exports.def'), 'ZC_FUNCTION(frobnicate, Frobnicate)\n');
    const { code, stderr } = await runNode([generator, '--check', '--root', copy]);
    assert.equal(code, 1);
    assert.match(stderr, /out of date/);
    assert.match(stderr, /\+ 'frobnicate',/);
  });

  it('rejects a line of the list that is no entry, with its file and line', async (t) => {
    const copy = copyOfTheLists(t);
    appendFileSync(join(copy, 'native', 'exports.def'), '#ifdef SOMETHING\n');
    const { code, stderr } = await runNode([generator, '--check', '--root', copy]);
    assert.notEqual(code, 0);
    assert.match(stderr, /native\/exports\.def:\d+: not an entry of the export list: #ifdef SOMETHING/);
  });

  it('rejects a name listed twice', async (t) => {
    const copy = copyOfTheLists(t);
    appendFileSync(join(copy, 'native', 'exports.def'), 'ZC_CONSTANT(O_NONBLOCK)\n');
    const { code, stderr } = await runNode([generator, '--check', '--root', copy]);
    assert.notEqual(code, 0);
    assert.match(stderr, /O_NONBLOCK is listed twice/);
  });

  it('is what the loaded addon exports: each function, class and constant, and nothing else', () => {
    const native = binding() as unknown as Record<string, unknown>;
    assert.deepEqual(sorted(Object.keys(native)), sorted([...FUNCTION_NAMES, ...CLASS_NAMES, 'constants']));
    for (const name of [...FUNCTION_NAMES, ...CLASS_NAMES]) assert.equal(typeof native[name], 'function', name);
    const { constants } = binding();
    assert.deepEqual(sorted(Object.keys(constants)), sorted(CONSTANT_NAMES));
    for (const name of CONSTANT_NAMES) assert.ok(Number.isInteger(constants[name]), name);
    assert.ok(Object.isFrozen(constants));
  });

  it('lists only constants that src/, test/ or bench/ read', () => {
    // Sources outside the binding itself (and this file, which names a constant as a sample).
    const sources = ['src', 'test', 'bench']
      .flatMap((dir) => typeScriptFiles(join(root, dir)))
      .filter((file) => !file.includes(`${join('src', 'binding')}/`) && !file.endsWith('binding.test.ts'))
      .map((file) => readFileSync(file, 'utf8'))
      .join('\n');
    const unread = CONSTANT_NAMES.filter((name) => !new RegExp(`\\b${name}\\b`).test(sources));
    assert.deepEqual(unread, [], 'constants nothing reads: take them out of native/exports.def');
  });

  it('has a typed signature for every listed name: tsc fails on native.ts while one is missing', async (t) => {
    // native.ts against a generated file that lists one function more than it types.
    const copy = tempDir(t, 'zc-binding-types-');
    const nativeTs = join(copy, 'native.ts');
    copyFileSync(join(root, 'src', 'binding', 'native.ts'), nativeTs);
    const listed = readFileSync(join(root, generated), 'utf8');
    const oneMore = "export type FunctionName = (typeof FUNCTION_NAMES)[number] | 'frobnicate';";
    writeFileSync(
      join(copy, 'surface.generated.ts'),
      listed.replace('export type FunctionName = (typeof FUNCTION_NAMES)[number];', oneMore),
    );
    const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');
    const options = ['--noEmit', '--strict', '--module', 'NodeNext', '--moduleResolution', 'NodeNext'];
    const types = ['--typeRoots', join(root, 'node_modules', '@types'), '--types', 'node', '--skipLibCheck'];
    const unchanged = await runNode([tsc, ...options, ...types, join(root, 'src', 'binding', 'native.ts')], {
      timeoutMs: 60_000,
    });
    assert.equal(unchanged.code, 0, unchanged.stdout);
    const drifted = await runNode([tsc, ...options, ...types, nativeTs], { timeoutMs: 60_000 });
    assert.notEqual(drifted.code, 0);
    assert.match(drifted.stdout, /"frobnicate"/);
  });
});

describe('numbers the native parts share with TypeScript', () => {
  it("are the relay's event kinds: one distinct number each, every one handled", () => {
    const { Relay } = binding();
    assert.deepEqual(sorted(Object.keys(Relay.eventKinds)), sorted(Object.keys(RELAY_EVENT_HANDLERS)));
    const numbers = Object.values(Relay.eventKinds);
    assert.equal(new Set(numbers).size, numbers.length);
    for (const kind of numbers) assert.ok(Number.isInteger(kind) && kind >= 0);
    assert.ok(Object.isFrozen(Relay.eventKinds));
  });

  it("are the relay's and the poller's record lengths, long enough for the fields TypeScript reads", () => {
    const { Relay, Poller } = binding();
    // [pairId, kind, a, b] and [token, epollEvents]
    assert.ok(Number.isInteger(Relay.eventFields) && Relay.eventFields >= 4);
    assert.ok(Number.isInteger(Poller.eventFields) && Poller.eventFields >= 2);
  });
});
