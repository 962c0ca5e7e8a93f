#!/usr/bin/env node
// Builds dist/cjs, the CommonJS copy of the library that `require('zerocopy')` loads: Node 20
// cannot require() ES modules without a flag, and most Express apps are CommonJS. tsc
// compiles src/index.ts and what it imports with module CommonJS (tsconfig.cjs.json); the
// package.json written beside it tells Node these .js files are CommonJS, since the
// package's own says "module". `npm run build` and `npm pack` (prepare) run it.
import { spawnSync } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const out = join(root, 'dist', 'cjs');
const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');

// Files a source no longer produces must not reach the package.
rmSync(out, { recursive: true, force: true });
const result = spawnSync(process.execPath, [tsc, '-p', join(root, 'tsconfig.cjs.json')], {
  // stderr: `npm pack --json` prints its JSON on stdout after this runs.
  stdio: ['ignore', 2, 2],
});
if (result.status !== 0) process.exit(result.status ?? 1);
mkdirSync(out, { recursive: true });
writeFileSync(join(out, 'package.json'), '{ "type": "commonjs" }\n');
