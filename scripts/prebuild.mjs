#!/usr/bin/env node
// Builds the prebuilt addon the npm package ships, in the layout node-gyp-build loads before
// it would compile anything: prebuilds/<platform>-<arch>/node.napi.<libc>.node. Node-API is
// ABI-stable, so one build serves Node 20, 22 and 24; the libc tag keeps a glibc build away
// from musl systems (which compile from source instead). `npm pack` runs it (prepack).
//
//   node scripts/prebuild.mjs                 this machine's linux-x64 (or -arm64) glibc build
//   node scripts/prebuild.mjs --cross arm64   also linux-arm64 glibc, with Debian's
//                                             g++-aarch64-linux-gnu (not loadable on an x64
//                                             machine, so not in the tarball's tests)
//   --force                                   rebuild even when the prebuild is newer than
//                                             every source file
//
// It builds in a temporary copy of binding.gyp and native/, so the developer's build/ (what
// the tests load) is left alone.
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readdirSync, rmSync, statSync, symlinkSync } from 'node:fs';
import { createRequire } from 'node:module';
import { arch, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { parseArgs } from 'node:util';

const root = join(dirname(new URL(import.meta.url).pathname), '..');
const require = createRequire(import.meta.url);

/** The compilers each target needs; the host's own for a native build. */
const CROSS = {
  arm64: { CC: 'aarch64-linux-gnu-gcc', CXX: 'aarch64-linux-gnu-g++', strip: 'aarch64-linux-gnu-strip' },
};

const { values } = parseArgs({ options: { cross: { type: 'string', multiple: true }, force: { type: 'boolean' } } });

if (process.platform !== 'linux') {
  console.error(`prebuild: the addon is Linux-only; nothing to build on ${process.platform}.`);
  process.exit(0);
}

const targets = [{ arch: arch(), env: {}, strip: 'strip' }];
for (const name of values.cross ?? []) {
  const tools = CROSS[name];
  if (tools === undefined) fail(`no cross toolchain known for ${name} (known: ${Object.keys(CROSS).join(', ')})`);
  if (!onPath(tools.CXX)) fail(`${tools.CXX} is not installed (Debian: apt-get install g++-aarch64-linux-gnu)`);
  targets.push({ arch: name, env: { CC: tools.CC, CXX: tools.CXX, LINK: tools.CXX }, strip: tools.strip });
}

for (const target of targets) build(target);

function build(target) {
  const output = join(root, 'prebuilds', `linux-${target.arch}`, 'node.napi.glibc.node');
  if (!values.force && existsSync(output) && statSync(output).mtimeMs > newestSource()) {
    console.error(`prebuild: ${relative(output)} is newer than every source file; kept.`);
    return;
  }
  const work = mkdtempSync(join(tmpdir(), 'zerocopy-prebuild-'));
  try {
    cpSync(join(root, 'binding.gyp'), join(work, 'binding.gyp'));
    cpSync(join(root, 'native'), join(work, 'native'), { recursive: true });
    // binding.gyp asks node-addon-api for its include path with require().
    symlinkSync(join(root, 'node_modules'), join(work, 'node_modules'));
    const args = [
      require.resolve('prebuildify/bin.js'),
      '--napi',
      '--strip',
      '--tag-libc',
      '--name=node.napi',
      `--arch=${target.arch}`,
      `--strip-bin=${target.strip}`,
      // The headers of the Node running this; Node-API makes the result work on later ones.
      `--target=${process.versions.node}`,
      `--node-gyp=${nodeGyp()}`,
      `--out=${root}`,
      work,
    ];
    const started = performance.now();
    const result = spawnSync(process.execPath, args, {
      cwd: work,
      // Everything to stderr: `npm pack --json` prints its JSON on stdout after this runs.
      stdio: ['ignore', 2, 2],
      env: { ...process.env, ...nodeHeaders(), ...target.env },
    });
    if (result.status !== 0) fail(`prebuildify exited with ${result.status ?? result.signal}`);
    const seconds = ((performance.now() - started) / 1000).toFixed(0);
    console.error(`prebuild: ${relative(output)} (${statSync(output).size} bytes, ${seconds} s)`);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

/** The newest modification time of anything the addon is built from. */
function newestSource() {
  let newest = statSync(join(root, 'binding.gyp')).mtimeMs;
  for (const entry of readdirSync(join(root, 'native'), { recursive: true, withFileTypes: true })) {
    if (entry.isFile()) newest = Math.max(newest, statSync(join(entry.parentPath ?? entry.path, entry.name)).mtimeMs);
  }
  return newest;
}

/** The running Node's own headers, where its install has them, so node-gyp downloads nothing. */
function nodeHeaders() {
  if (process.env.npm_config_nodedir) return {};
  const prefix = join(dirname(process.execPath), '..');
  return existsSync(join(prefix, 'include', 'node', 'common.gypi')) ? { npm_config_nodedir: prefix } : {};
}

/** npm hands its own node-gyp to scripts; outside npm, the one npm bundles next to itself. */
function nodeGyp() {
  if (process.env.npm_config_node_gyp) return process.env.npm_config_node_gyp;
  const besideNpm = join(
    dirname(process.execPath),
    '..',
    'lib',
    'node_modules',
    'npm',
    'node_modules',
    'node-gyp',
    'bin',
    'node-gyp.js',
  );
  if (existsSync(besideNpm)) return besideNpm;
  return require.resolve('node-gyp/bin/node-gyp.js');
}

function onPath(command) {
  return (process.env.PATH ?? '').split(':').some((dir) => dir !== '' && existsSync(join(dir, command)));
}

function relative(path) {
  return path.slice(root.length + 1);
}

function fail(message) {
  console.error(`prebuild: ${message}`);
  process.exit(1);
}
