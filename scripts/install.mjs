#!/usr/bin/env node
// npm's install hook. It never fails the install: the library works without its addon, by
// copying through userspace, so a missing compiler is a slower package, not a broken one.
//   1. a prebuilt addon fits this machine (prebuilds/, loaded by node-gyp-build): use it;
//   2. none fits and a C++ toolchain is there: compile one with node-gyp;
//   3. neither: say so in one line and exit 0.
// `npm rebuild zerocopy`, `npm run rebuild:native` (--rebuild) and npm's
// --build-from-source always compile, and those do fail when the build fails: a build
// was asked for.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);
const FALLBACK = 'everything works on the copy fallbacks (transfers copy through userspace)';

if (process.platform !== 'linux') {
  console.log(`zerocopy: no native addon on ${process.platform} (it wraps Linux system calls); ${FALLBACK}.`);
  process.exit(0);
}

const fromSource =
  process.argv.includes('--rebuild') ||
  process.env.npm_command === 'rebuild' ||
  process.env.npm_config_build_from_source === 'true';

if (!fromSource) {
  try {
    // build/Release first (a checkout that was built), then prebuilds/<platform>-<arch>/.
    require('node-gyp-build')(root);
    process.exit(0);
  } catch {
    // No prebuild for this platform, arch or libc, or one that does not load: compile.
  }
}

const missing = missingTools();
if (missing.length > 0) {
  const why = `no prebuilt addon fits linux-${process.arch} ${libc()} and ${missing.join(', ')} ${missing.length > 1 ? 'are' : 'is'} missing to build one`;
  if (fromSource) {
    console.error(`zerocopy: cannot build the native addon: ${missing.join(', ')} not found on PATH.`);
    process.exit(1);
  }
  console.log(`zerocopy: installed without the native addon (${why}); ${FALLBACK}.`);
  process.exit(0);
}

// npm hands its bundled node-gyp to scripts as npm_config_node_gyp.
const nodeGyp = process.env.npm_config_node_gyp ?? require.resolve('node-gyp/bin/node-gyp.js');
const result = spawnSync(process.execPath, [nodeGyp, 'rebuild'], { cwd: root, stdio: 'inherit' });
if (result.status === 0) process.exit(0);
console.error(`
zerocopy: the native addon did not build.
Possible solutions:
  - make sure Node's headers are available to node-gyp (they are downloaded on first use,
    or set npm_config_nodedir to a local Node source/headers directory),
  - then run: npm rebuild zerocopy`);
if (fromSource) process.exit(result.status ?? 1);
console.log(`zerocopy: installed without the native addon (its build failed, above); ${FALLBACK}.`);
process.exit(0);

/** What node-gyp needs on PATH and this machine lacks: a C++ compiler, make, Python 3. */
function missingTools() {
  const missing = [];
  const compiler = process.env.CXX ? [process.env.CXX.split(' ')[0]] : ['c++', 'g++', 'clang++'];
  if (!compiler.some(onPath)) missing.push('a C++ compiler');
  if (!onPath('make')) missing.push('make');
  const python = [process.env.npm_config_python, process.env.PYTHON, 'python3', 'python'].filter(Boolean);
  if (!python.some(onPath)) missing.push('python3');
  return missing;
}

function onPath(command) {
  if (command.includes('/')) return existsSync(command);
  return (process.env.PATH ?? '').split(':').some((dir) => dir !== '' && existsSync(join(dir, command)));
}

/** node-gyp-build's libc tag: glibc reports its version, musl does not. */
function libc() {
  const header = process.report?.getReport().header;
  return header?.glibcVersionRuntime ? 'glibc' : 'musl';
}
