// What a user of the published package writes: scripts and TypeScript files that the tarball
// tests install next to an installed zerocopy and run. Each prints one JSON line: whether the
// addon loaded, and how each copy went (method, bytes, SHA-256 of what arrived).

/** The body every consumer shares; `zerocopy` is the module it imported or required. */
const USE = `
async function use(zerocopy, dir) {
  const source = join(dir, 'source.bin');
  const bytes = randomBytes(3 * 1024 * 1024 + 17);
  writeFileSync(source, bytes);
  const hash = (path) => createHash('sha256').update(readFileSync(path)).digest('hex');
  const transferred = await zerocopy.transfer(source, join(dir, 'transfer.bin'));
  const copied = await zerocopy.copyFile(source, join(dir, 'copy.bin'));
  const copiedNoReflink = await zerocopy.copyFile(source, join(dir, 'copy-never.bin'), { reflink: 'never' });
  return {
    addon: zerocopy.addonStatus().available,
    expected: { bytes: bytes.length, hash: createHash('sha256').update(bytes).digest('hex') },
    transfer: { method: transferred.method, bytes: transferred.bytes, hash: hash(join(dir, 'transfer.bin')) },
    copyFile: { method: copied.method, bytes: copied.bytes, hash: hash(join(dir, 'copy.bin')) },
    copyFileNoReflink: { method: copiedNoReflink.method, bytes: copiedNoReflink.bytes, hash: hash(join(dir, 'copy-never.bin')) },
  };
}
`;

export const ESM_SCRIPT = `import { createHash, randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as zerocopy from 'zerocopy';
${USE}
console.log(JSON.stringify(await use(zerocopy, process.argv[2])));
`;

/** CommonJS, as an Express app is: require(), and import() of the same package beside it. */
export const CJS_SCRIPT = `'use strict';
const { createHash, randomBytes } = require('node:crypto');
const { mkdirSync, readFileSync, writeFileSync } = require('node:fs');
const { join } = require('node:path');
const zerocopy = require('zerocopy');
${USE}
async function main(dir) {
  const result = await use(zerocopy, dir);
  // The ES module build is a second copy of the library in the same process; both must
  // work, on the one addon Node loaded.
  const esm = await import('zerocopy');
  mkdirSync(join(dir, 'esm'));
  result.alongsideImport = { separateCopies: esm.transfer !== zerocopy.transfer, ...(await use(esm, join(dir, 'esm'))) };
  return result;
}
main(process.argv[2]).then((result) => console.log(JSON.stringify(result)));
`;

/** TypeScript that only compiles against the real declarations (strict, and an expected error). */
function typescriptConsumer(importLine: string): string {
  return `${importLine}
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

async function main(dir: string): Promise<void> {
  const bytes = Buffer.alloc(1024 * 1024 + 5, 7);
  const source = join(dir, 'typed-source.bin');
  writeFileSync(source, bytes);
  const report: TransferReport = await transfer(source, join(dir, 'typed.bin'));
  const copied: CopyFileReport = await copyFile(source, join(dir, 'typed-copy.bin'), { reflink: 'never' });
  const hash = (path: string): string => createHash('sha256').update(readFileSync(path)).digest('hex');
  console.log(JSON.stringify({
    addon: addonStatus().available,
    expected: createHash('sha256').update(bytes).digest('hex'),
    transfer: { method: report.method, bytes: report.bytes, hash: hash(join(dir, 'typed.bin')) },
    copyFile: { method: copied.method, bytes: copied.bytes, hash: hash(join(dir, 'typed-copy.bin')) },
  }));
}

/** Never called: proves the declarations are not \`any\`. */
export function typesAreChecked(): void {
  // @ts-expect-error: reflink is 'auto' | 'always' | 'never'
  void copyFile('a', 'b', { reflink: 'sometimes' });
}

void main(process.argv[2] ?? '.');
`;
}

/**
 * One file for each way TypeScript resolves the package: as .mts and .cts under node16
 * (the import and require conditions) and as .ts under bundler.
 */
export const TS_CONSUMER = typescriptConsumer(
  `import { addonStatus, type CopyFileReport, copyFile, type TransferReport, transfer } from 'zerocopy';`,
);

export function tsconfig(options: {
  module: string;
  moduleResolution: string;
  outDir: string;
  files: string[];
  typeRoots: string;
}) {
  return `${JSON.stringify(
    {
      compilerOptions: {
        target: 'ES2022',
        module: options.module,
        moduleResolution: options.moduleResolution,
        strict: true,
        outDir: options.outDir,
        typeRoots: [options.typeRoots],
        types: ['node'],
      },
      files: options.files,
    },
    null,
    2,
  )}\n`;
}
