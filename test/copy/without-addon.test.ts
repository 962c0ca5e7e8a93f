// copyFile(), transfer() and `zerocopy cp` where the native addon is really absent: a copy
// of the built library in a directory with no build/ and no prebuilds/, so node-gyp-build
// finds nothing and the real loader fails, as on a machine where it could not be built.
import assert from 'node:assert/strict';
import { cpSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';

import { MiB, randomFile, runNode, sha256, tempDir } from '../support/fixtures.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

/** dist/src alone, beside the project's node_modules (node-gyp-build), with no addon anywhere. */
function libraryWithoutAddon(t: TestContext): string {
  const dir = tempDir(t, 'zerocopy-no-addon-');
  cpSync(join(root, 'dist', 'src'), join(dir, 'dist', 'src'), { recursive: true });
  writeFileSync(join(dir, 'package.json'), '{ "type": "module" }\n');
  symlinkSync(join(root, 'node_modules'), join(dir, 'node_modules'));
  return dir;
}

async function runScript(dir: string, script: string): Promise<string> {
  writeFileSync(join(dir, 'use.mjs'), script);
  const result = await runNode([join(dir, 'use.mjs')], { cwd: dir });
  assert.equal(result.code, 0, result.stderr);
  return result.stdout;
}

describe('without the native addon', () => {
  it('copyFile() copies, with reflink auto and never, and says why; reflink always fails with the reason', async (t) => {
    const dir = libraryWithoutAddon(t);
    const source = randomFile(t, 3 * MiB + 11);
    const out = await runScript(
      dir,
      `import { addonStatus, copyFile } from './dist/src/index.js';
const status = addonStatus();
const auto = await copyFile(${JSON.stringify(source.path)}, 'auto.bin');
const never = await copyFile(${JSON.stringify(source.path)}, 'never.bin', { reflink: 'never' });
const always = await copyFile(${JSON.stringify(source.path)}, 'always.bin', { reflink: 'always' }).catch((e) => e.code);
console.log(JSON.stringify({ available: status.available, code: status.error?.code, auto, never, always }));
`,
    );
    const result = JSON.parse(out) as {
      available: boolean;
      code: string;
      auto: { method: string; bytes: number; reflinkUnavailable: string; fallback: { reason: string } };
      never: { method: string; bytes: number };
      always: string;
    };
    assert.equal(result.available, false);
    assert.equal(result.code, 'ERR_ZEROCOPY_ADDON_LOAD');
    assert.equal(result.auto.method, 'copy');
    assert.equal(result.auto.bytes, source.bytes.length);
    assert.equal(result.auto.reflinkUnavailable, 'native addon unavailable');
    assert.equal(result.auto.fallback.reason, 'native addon unavailable');
    assert.equal(result.never.method, 'copy');
    assert.equal(result.always, 'ERR_ZEROCOPY_REFLINK_UNSUPPORTED');
    assert.equal(sha256(readFileSync(join(dir, 'auto.bin'))), source.hash);
    assert.equal(sha256(readFileSync(join(dir, 'never.bin'))), source.hash);
  });

  it('transfer() between raw descriptors of files reads at the offset asked for', async (t) => {
    const dir = libraryWithoutAddon(t);
    const source = randomFile(t, 2 * MiB + 5);
    const out = await runScript(
      dir,
      `import { openSync, closeSync } from 'node:fs';
import { transfer } from './dist/src/index.js';
const input = openSync(${JSON.stringify(source.path)}, 'r');
const output = openSync('out.bin', 'w');
const report = await transfer(input, output, { offset: 5 });
closeSync(input);
closeSync(output);
console.log(JSON.stringify(report));
`,
    );
    const report = JSON.parse(out) as { method: string; bytes: number };
    assert.equal(report.method, 'copy');
    assert.equal(report.bytes, source.bytes.length - 5);
    assert.equal(sha256(readFileSync(join(dir, 'out.bin'))), sha256(source.bytes.subarray(5)));
  });

  it('zerocopy cp copies, with --reflink=auto and never', async (t) => {
    const dir = libraryWithoutAddon(t);
    const source = randomFile(t, 2 * MiB + 3);
    const cli = join(dir, 'dist', 'src', 'cli', 'main.js');
    for (const reflink of ['auto', 'never']) {
      const target = join(dir, `cp-${reflink}.bin`);
      const result = await runNode([cli, 'cp', `--reflink=${reflink}`, source.path, target], { cwd: dir });
      assert.equal(result.code, 0, result.stderr);
      assert.equal(sha256(readFileSync(target)), source.hash);
    }
  });
});
