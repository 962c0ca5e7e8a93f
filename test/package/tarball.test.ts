// The published package, used as a new user would: `npm pack`, then `npm install` of the
// tarball into a fresh directory whose PATH holds only node and npm (no compiler, make or
// python), then the CLI, an ES module, a CommonJS script and TypeScript consumers. A second
// install of the same tarball without its prebuilds shows the fallback: the install still
// succeeds, says why in one line, and every copy works without the addon.
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  realpathSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

import { sha256 } from '../support/fixtures.js';
import { CJS_SCRIPT, ESM_SCRIPT, TS_CONSUMER, tsconfig } from './consumers.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const MINUTES = 60_000;

interface PackedFile {
  path: string;
  size: number;
}
interface Packed {
  filename: string;
  size: number;
  unpackedSize: number;
  files: PackedFile[];
}
interface CopyOutcome {
  method: string;
  bytes: number;
  hash: string;
}
interface ConsumerOutput {
  addon: boolean;
  expected: { bytes: number; hash: string };
  transfer: CopyOutcome;
  copyFile: CopyOutcome;
  copyFileNoReflink: CopyOutcome;
  alongsideImport?: ConsumerOutput & { separateCopies: boolean };
}

let work: string;
let tarball: string;
let packed: Packed;
/** A PATH with only node, npm and npx on it. */
let bareBin: string;

function run(command: string, args: string[], options: { cwd: string; env?: NodeJS.ProcessEnv }) {
  const result = spawnSync(command, args, {
    cwd: options.cwd,
    env: options.env ?? process.env,
    encoding: 'utf8',
    timeout: 5 * MINUTES,
  });
  if (result.error) throw result.error;
  return result;
}

function runOk(command: string, args: string[], options: { cwd: string; env?: NodeJS.ProcessEnv }): string {
  const result = run(command, args, options);
  assert.equal(
    result.status,
    0,
    `${command} ${args.join(' ')} exited with ${result.status}:\n${result.stdout}\n${result.stderr}`,
  );
  return result.stdout;
}

/**
 * Only what a user without build tools has; npm's config and cache come from HOME. npm runs
 * install scripts with `sh` from PATH: named by its full path here, so PATH stays node and npm.
 */
function bareEnv(): NodeJS.ProcessEnv {
  return { PATH: bareBin, HOME: process.env.HOME ?? tmpdir(), LANG: 'C.UTF-8', npm_config_script_shell: '/bin/sh' };
}

function npmCli(): string {
  // Under `npm test`, npm says where it is; otherwise the npm on PATH.
  if (process.env.npm_execpath?.endsWith('npm-cli.js')) return process.env.npm_execpath;
  for (const dir of (process.env.PATH ?? '').split(':')) {
    if (dir !== '' && existsSync(join(dir, 'npm'))) return realpathSync(join(dir, 'npm'));
  }
  throw new Error('npm is not on PATH');
}

/** npm install of `tgz` into a new project directory; returns it and what the install printed. */
function installInto(name: string, tgz: string) {
  const app = join(work, name);
  mkdirSync(app);
  writeFileSync(join(app, 'package.json'), `${JSON.stringify({ name, private: true })}\n`);
  // --foreground-scripts: npm shows an install script's output (and so its one line) only then.
  const install = run('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', '--foreground-scripts', tgz], {
    cwd: app,
    env: bareEnv(),
  });
  return { app, install };
}

function consume(app: string, script: string, name: string): ConsumerOutput {
  writeFileSync(join(app, name), script);
  const dir = mkdtempSync(join(app, 'run-'));
  const stdout = runOk('node', [name, dir], { cwd: app, env: bareEnv() });
  return JSON.parse(stdout.trim().split('\n').at(-1) ?? '') as ConsumerOutput;
}

function assertArrived(outcome: CopyOutcome, expected: { bytes: number; hash: string }, what: string) {
  assert.equal(outcome.bytes, expected.bytes, `${what}: bytes`);
  assert.equal(outcome.hash, expected.hash, `${what}: SHA-256 of the copy`);
}

before(() => {
  work = mkdtempSync(join(tmpdir(), 'zerocopy-package-'));
  bareBin = join(work, 'bin');
  mkdirSync(bareBin);
  symlinkSync(process.execPath, join(bareBin, 'node'));
  const npm = npmCli();
  symlinkSync(npm, join(bareBin, 'npm'));
  symlinkSync(join(dirname(npm), 'npx-cli.js'), join(bareBin, 'npx'));

  // What `npm pack` runs (prepack, prepare), less the tsc of dist/src that `npm test` has
  // just done: rewriting dist/ under the other test files would race them.
  runOk(process.execPath, [join(root, 'scripts', 'prebuild.mjs')], { cwd: root });
  runOk(process.execPath, [join(root, 'scripts', 'build-cjs.mjs')], { cwd: root });
  const stdout = runOk(npmCli(), ['pack', '--ignore-scripts', '--json', '--pack-destination', work], { cwd: root });
  packed = (JSON.parse(stdout) as Packed[])[0] as Packed;
  tarball = join(work, packed.filename);
});

after(() => rmSync(work, { recursive: true, force: true }));

describe('the npm tarball', { timeout: 15 * MINUTES }, () => {
  it('holds the library, both module formats, the prebuild and the addon sources, and nothing else', (t) => {
    const paths = packed.files.map((file) => file.path);
    for (const needed of [
      'package.json',
      'README.md',
      'binding.gyp',
      'scripts/install.mjs',
      'native/addon.cc',
      'dist/src/index.js',
      'dist/src/index.d.ts',
      'dist/src/cli/main.js',
      'dist/cjs/index.js',
      'dist/cjs/index.d.ts',
      'dist/cjs/package.json',
      'prebuilds/linux-x64/node.napi.glibc.node',
    ]) {
      assert.ok(paths.includes(needed), `${needed} is in the tarball`);
    }
    const unwanted = paths.filter(
      (path) =>
        /^(test|bench|build|src|demo|\.ci|dist\/test|dist\/bench|node_modules)\//.test(path) ||
        (path.startsWith('scripts/') && path !== 'scripts/install.mjs') ||
        path.endsWith('.map') ||
        path.startsWith('tsconfig'),
    );
    assert.deepEqual(unwanted, []);
    t.diagnostic(`packed ${packed.size} bytes, unpacked ${packed.unpackedSize} bytes, ${paths.length} files`);
  });

  describe('installed where a prebuild fits, without a compiler', () => {
    let app: string;
    before(() => {
      const { app: dir, install } = installInto('app-prebuilt', tarball);
      assert.equal(install.status, 0, `npm install failed:\n${install.stdout}\n${install.stderr}`);
      assert.doesNotMatch(install.stdout, /installed without the native addon/);
      // Nothing was compiled: what loads is the prebuild.
      assert.equal(existsSync(join(dir, 'node_modules', 'zerocopy', 'build')), false);
      app = dir;
    });

    it('loads the prebuilt addon: zerocopy doctor --json says so', () => {
      const doctor = JSON.parse(runOk('npx', ['zerocopy', 'doctor', '--json'], { cwd: app, env: bareEnv() })) as {
        addon: { available: boolean; detail: string };
      };
      assert.deepEqual(doctor.addon, { available: true, detail: 'loaded' });
    });

    it('moves bytes in the kernel from an ES module', () => {
      const out = consume(app, ESM_SCRIPT, 'use.mjs');
      assert.equal(out.addon, true);
      assertArrived(out.transfer, out.expected, 'transfer()');
      assertArrived(out.copyFile, out.expected, 'copyFile()');
      assertArrived(out.copyFileNoReflink, out.expected, "copyFile({ reflink: 'never' })");
      assert.notEqual(out.transfer.method, 'copy');
    });

    it('moves bytes from CommonJS with require(), and alongside import() of the same package', () => {
      const out = consume(app, CJS_SCRIPT, 'use.cjs');
      assert.equal(out.addon, true);
      assertArrived(out.transfer, out.expected, 'transfer()');
      assertArrived(out.copyFile, out.expected, 'copyFile()');
      assert.notEqual(out.transfer.method, 'copy');
      const esm = out.alongsideImport;
      assert.ok(esm !== undefined);
      assert.equal(esm.separateCopies, true, 'require() and import() load the CommonJS and ES module builds');
      assert.equal(esm.addon, true);
      assertArrived(esm.transfer, esm.expected, 'transfer() from the ES module build');
      assert.notEqual(esm.transfer.method, 'copy');
    });

    it('type-checks and runs TypeScript under moduleResolution node16 (.mts, .cts) and bundler', () => {
      writeFileSync(join(app, 'esm.mts'), TS_CONSUMER);
      writeFileSync(join(app, 'cjs.cts'), TS_CONSUMER);
      writeFileSync(join(app, 'bundler.ts'), TS_CONSUMER);
      const typeRoots = join(root, 'node_modules', '@types');
      const node16 = {
        module: 'node16',
        moduleResolution: 'node16',
        outDir: 'out',
        files: ['esm.mts', 'cjs.cts'],
        typeRoots,
      };
      const bundler = {
        module: 'esnext',
        moduleResolution: 'bundler',
        outDir: 'out-bundler',
        files: ['bundler.ts'],
        typeRoots,
      };
      writeFileSync(join(app, 'tsconfig.node16.json'), tsconfig(node16));
      writeFileSync(join(app, 'tsconfig.bundler.json'), tsconfig(bundler));
      const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');
      runOk('node', [tsc, '-p', 'tsconfig.node16.json'], { cwd: app, env: bareEnv() });
      runOk('node', [tsc, '-p', 'tsconfig.bundler.json'], { cwd: app, env: bareEnv() });
      // What a bundler would emit is an ES module.
      writeFileSync(join(app, 'out-bundler', 'package.json'), '{ "type": "module" }\n');
      assert.match(readFileSync(join(app, 'out', 'cjs.cjs'), 'utf8'), /require\("zerocopy"\)/);

      for (const compiled of ['out/esm.mjs', 'out/cjs.cjs', 'out-bundler/bundler.js']) {
        const dir = mkdtempSync(join(app, 'typed-'));
        const out = JSON.parse(runOk('node', [compiled, dir], { cwd: app, env: bareEnv() })) as {
          addon: boolean;
          expected: string;
          transfer: CopyOutcome;
          copyFile: CopyOutcome;
        };
        assert.equal(out.addon, true, compiled);
        const expected = { bytes: 1024 * 1024 + 5, hash: out.expected };
        assertArrived(out.transfer, expected, `${compiled} transfer()`);
        assertArrived(out.copyFile, expected, `${compiled} copyFile()`);
      }
    });
  });

  describe('installed where no prebuild fits and there is no compiler', () => {
    let app: string;
    let installOutput: string;
    before(() => {
      // The same tarball less prebuilds/: what a linux-arm64 or musl machine sees.
      const unpacked = join(work, 'unpacked');
      mkdirSync(unpacked);
      execFileSync('tar', ['-xzf', tarball, '-C', unpacked]);
      rmSync(join(unpacked, 'package', 'prebuilds'), { recursive: true });
      const bare = join(work, 'zerocopy-no-prebuilds.tgz');
      execFileSync('tar', ['-czf', bare, '-C', unpacked, 'package']);
      const { app: dir, install } = installInto('app-fallback', bare);
      assert.equal(install.status, 0, `npm install failed:\n${install.stdout}\n${install.stderr}`);
      app = dir;
      installOutput = install.stdout;
    });

    it('succeeds and says why in one line', () => {
      const lines = installOutput.split('\n').filter((line) => line.startsWith('zerocopy:'));
      assert.equal(lines.length, 1, installOutput);
      assert.match(
        lines[0] ?? '',
        /^zerocopy: installed without the native addon \(no prebuilt addon fits linux-\w+ \w+ and a C\+\+ compiler, make, python3 are missing to build one\); everything works on the copy fallbacks/,
      );
    });

    it('zerocopy doctor --json says the addon did not load, and why', () => {
      const doctor = JSON.parse(runOk('npx', ['zerocopy', 'doctor', '--json'], { cwd: app, env: bareEnv() })) as {
        addon: { available: boolean; detail: string };
      };
      assert.equal(doctor.addon.available, false);
      assert.match(doctor.addon.detail, /could not be loaded/);
    });

    it('copies every byte with transfer() and copyFile() (reflink auto and never), from ESM and CommonJS', () => {
      for (const [script, name] of [
        [ESM_SCRIPT, 'use.mjs'],
        [CJS_SCRIPT, 'use.cjs'],
      ] as const) {
        const out = consume(app, script, name);
        assert.equal(out.addon, false, name);
        for (const what of ['transfer', 'copyFile', 'copyFileNoReflink'] as const) {
          assertArrived(out[what], out.expected, `${name} ${what}`);
          assert.equal(out[what].method, 'copy', `${name} ${what} copied through userspace`);
        }
      }
    });

    it('zerocopy cp copies the file', () => {
      const bytes = Buffer.alloc(2 * 1024 * 1024 + 3, 0x5a);
      const dir = mkdtempSync(join(app, 'cp-'));
      writeFileSync(join(dir, 'from.bin'), bytes);
      runOk('npx', ['zerocopy', 'cp', join(dir, 'from.bin'), join(dir, 'to.bin')], { cwd: app, env: bareEnv() });
      runOk('npx', ['zerocopy', 'cp', '--reflink=never', join(dir, 'from.bin'), join(dir, 'to-never.bin')], {
        cwd: app,
        env: bareEnv(),
      });
      assert.equal(sha256(readFileSync(join(dir, 'to.bin'))), sha256(bytes));
      assert.equal(sha256(readFileSync(join(dir, 'to-never.bin'))), sha256(bytes));
    });
  });
});
