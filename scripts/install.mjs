#!/usr/bin/env node
// npm's install hook: load a prebuilt addon if one ships for this platform, compile one
// otherwise (node-gyp-build does both). The addon wraps Linux system calls, so other
// platforms skip it and the library falls back to copying.
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

if (process.platform !== 'linux') {
  console.log(`zerocopy: no native addon on ${process.platform}; transfers will copy through userspace.`);
  process.exit(0);
}

// `--rebuild` compiles even when a build exists (after editing native/); npm run sets
// npm_config_node_gyp to the node-gyp it bundles.
const rebuild = process.argv.includes('--rebuild');
const require = createRequire(import.meta.url);
const command = rebuild
  ? [process.env.npm_config_node_gyp ?? require.resolve('node-gyp/bin/node-gyp.js'), 'rebuild']
  : [require.resolve('node-gyp-build/bin.js')];
const result = spawnSync(process.execPath, command, { cwd: root, stdio: 'inherit' });
if (result.status !== 0) {
  console.error(`
zerocopy: the native addon did not build.
Possible solutions:
  - install a C++ toolchain and Python 3 (Debian/Ubuntu: apt-get install g++ make python3),
  - make sure Node's headers are available to node-gyp (they are downloaded on first use,
    or set npm_config_nodedir to a local Node source/headers directory),
  - then run: npm rebuild zerocopy
Without the addon, zerocopy still imports; every primitive throws ERR_ZEROCOPY_UNSUPPORTED
and transfer() copies through userspace.`);
  process.exit(result.status ?? 1);
}
