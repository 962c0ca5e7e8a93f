import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { closeSync, ftruncateSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';

import { isMapped, madvise, memfdCreate, mmap, msync, pipe, unmap } from '../../src/index.js';
import {
  closeAfter,
  GiB,
  KiB,
  openFor,
  packageEntry,
  randomFile,
  runNode,
  sha256,
  sparseFile,
  tempDir,
  throwsCode,
  throwsSystemError,
  wrongType,
} from '../support/fixtures.js';

/** Lines of /proc/self/maps that map `path`. */
function mappingsOf(path: string): string[] {
  return readFileSync('/proc/self/maps', 'utf8')
    .split('\n')
    .filter((line) => line.endsWith(path));
}

describe('mmap', () => {
  describe('maps a file into a Buffer', () => {
    it('whose bytes are the file, by hash', (t) => {
      const source = randomFile(t, 300 * KiB + 5);
      const fd = openFor(t, source.path);
      const view = mmap(fd);
      assert.equal(view.length, source.bytes.length);
      assert.equal(sha256(view), source.hash);
      assert.equal(isMapped(view), true);
      assert.equal(mappingsOf(source.path).length, 1);
      unmap(view);
    });

    it('from an offset that is not page-aligned, for a given length', (t) => {
      const source = randomFile(t, 64 * KiB);
      const fd = openFor(t, source.path);
      const view = mmap(fd, { offset: 5000, length: 10_000 });
      assert.equal(sha256(view), sha256(source.bytes.subarray(5000, 15_000)));
      unmap(view);
    });

    it('from an offset past 4 GiB in a sparse file', (t) => {
      const marker = Buffer.from('mapped past 2^32');
      const offset = 4 * GiB + 10_001;
      const fd = openFor(t, sparseFile(t, 5 * GiB, [{ offset, bytes: marker }]));
      const view = mmap(fd, { offset: BigInt(offset) - 1n, length: marker.length + 2 });
      assert.deepEqual(view, Buffer.concat([Buffer.alloc(1), marker, Buffer.alloc(1)]));
      unmap(view);
    });

    it('with populate, faults the pages in and reads the same bytes', (t) => {
      const source = randomFile(t, 64 * KiB);
      const fd = openFor(t, source.path);
      const view = mmap(fd, { populate: true });
      assert.equal(sha256(view), source.hash);
      unmap(view);
    });

    it('private (the default): writes stay in this process and never reach the file', (t) => {
      const source = randomFile(t, 8 * KiB);
      const fd = openFor(t, source.path, 'r+');
      const view = mmap(fd);
      view.fill(0x41, 0, 100);
      assert.equal(sha256(readFileSync(source.path)), source.hash);
      unmap(view);
    });

    it('shared: writes reach the file after msync', (t) => {
      const source = randomFile(t, 8 * KiB);
      const fd = openFor(t, source.path, 'r+');
      const view = mmap(fd, { mode: 'shared' });
      view.write('written through the mapping', 4096);
      msync(view);
      msync(view, { offset: 4096, length: 100, sync: false, invalidate: true });
      assert.equal(readFileSync(source.path).toString('latin1', 4096, 4096 + 27), 'written through the mapping');
      unmap(view);
    });

    it('a zero-length range as an empty Buffer that unmap() accepts', (t) => {
      const source = randomFile(t, 4 * KiB);
      const fd = openFor(t, source.path);
      const empty = mmap(fd, { offset: 4 * KiB });
      assert.equal(empty.length, 0);
      assert.equal(mmap(fd, { length: 0 }).length, 0);
      unmap(empty);
    });
  });

  describe('lifetime', () => {
    it('unmap() releases the pages and empties every view, slices included', (t) => {
      const source = randomFile(t, 16 * KiB);
      const fd = openFor(t, source.path);
      const view = mmap(fd);
      const slice = view.subarray(100, 200);
      assert.equal(mappingsOf(source.path).length, 1);
      unmap(view);
      assert.equal(mappingsOf(source.path).length, 0);
      assert.equal(isMapped(view), false);
      assert.equal(view.length, 0);
      assert.equal(slice.length, 0);
    });

    it('access after unmap() is refused, not a crash', (t) => {
      const source = randomFile(t, 16 * KiB);
      const fd = openFor(t, source.path);
      const view = mmap(fd);
      unmap(view);
      assert.equal(view[0], undefined);
      assert.equal(view.toString(), '');
      assert.equal(sha256(view), sha256(Buffer.alloc(0)));
      assert.throws(() => view.readUInt32LE(0), { code: 'ERR_BUFFER_OUT_OF_BOUNDS' });
      throwsCode(() => madvise(view, 'willneed'), 'ERR_ZEROCOPY_UNMAPPED');
      throwsCode(() => msync(view), 'ERR_ZEROCOPY_UNMAPPED');
    });

    it('unmap() twice does nothing the second time', (t) => {
      const fd = openFor(t, randomFile(t, 4 * KiB).path);
      const view = mmap(fd);
      unmap(view);
      unmap(view);
      assert.equal(isMapped(view), false);
    });

    it('the mapping outlives its descriptor', (t) => {
      const source = randomFile(t, 4 * KiB);
      const fd = openSync(source.path, 'r');
      const view = mmap(fd);
      closeSync(fd);
      assert.equal(sha256(view), source.hash);
      unmap(view);
    });

    it('a collected Buffer unmaps its pages (checked in a child with --expose-gc)', async (t) => {
      const source = randomFile(t, 64 * KiB);
      const script = `
        import { openSync, readFileSync } from 'node:fs';
        const { mmap } = await import(${JSON.stringify(packageEntry)});
        const path = ${JSON.stringify(source.path)};
        const mapped = () => readFileSync('/proc/self/maps', 'utf8').split('\\n').filter((l) => l.endsWith(path)).length;
        let view = mmap(openSync(path, 'r'));
        const before = mapped();
        const firstByte = view[0];
        view = null;
        let rounds = 0;
        for (; rounds < 50 && mapped() > 0; rounds++) {
          globalThis.gc();
          await new Promise((resolve) => setTimeout(resolve, 5));
        }
        console.log(JSON.stringify({ before, after: mapped(), rounds, firstByte }));
      `;
      const { code, stdout, stderr } = await runNode(['--expose-gc', '--input-type=module', '-e', script]);
      assert.equal(code, 0, stderr);
      const result = JSON.parse(stdout) as { before: number; after: number; rounds: number; firstByte: number };
      assert.equal(result.before, 1);
      assert.equal(result.firstByte, source.bytes[0]);
      assert.equal(result.after, 0, `still mapped after ${result.rounds} gc rounds`);
    });
  });

  describe('madvise and msync', () => {
    it("'dontneed' on a private mapping drops this process's changes", (t) => {
      const source = randomFile(t, 8 * KiB);
      const fd = openFor(t, source.path);
      const view = mmap(fd);
      view.fill(0, 0, 8 * KiB);
      madvise(view, 'dontneed');
      assert.equal(sha256(view), source.hash);
      unmap(view);
    });

    it('accepts every documented advice on part of a mapping', (t) => {
      const fd = openFor(t, randomFile(t, 64 * KiB).path);
      const view = mmap(fd, { offset: 100 });
      for (const advice of ['normal', 'random', 'sequential', 'willneed', 'nohugepage'] as const) {
        madvise(view, advice, { offset: 5000, length: 20_000 });
      }
      unmap(view);
    });

    it('refuse unknown advice and ranges that start or end past the end of the buffer', (t) => {
      const fd = openFor(t, randomFile(t, 8 * KiB).path);
      const view = mmap(fd);
      throwsCode(() => madvise(view, wrongType('forget')), 'ERR_INVALID_ARG_VALUE');
      throwsCode(() => madvise(view, 'normal', { offset: 4096, length: 8192 }), 'ERR_OUT_OF_RANGE');
      throwsCode(() => madvise(view, 'normal', { offset: -1 }), 'ERR_OUT_OF_RANGE');
      throwsCode(() => madvise(view, 'normal', { offset: 20 * KiB }), 'ERR_OUT_OF_RANGE');
      throwsCode(() => msync(view, { offset: 9 * KiB }), 'ERR_OUT_OF_RANGE');
      unmap(view);
    });

    it('refuses Buffers that mmap() did not make', () => {
      throwsCode(() => madvise(Buffer.alloc(4096), 'normal'), 'ERR_INVALID_ARG_VALUE');
      throwsCode(() => msync(Buffer.alloc(4096)), 'ERR_INVALID_ARG_VALUE');
      throwsCode(() => unmap(Buffer.alloc(4096)), 'ERR_INVALID_ARG_VALUE');
      throwsCode(() => unmap(wrongType('buffer')), 'ERR_INVALID_ARG_TYPE');
      assert.equal(isMapped(Buffer.alloc(10)), false);
      assert.equal(isMapped(wrongType({})), false);
    });
  });

  describe('fails with the errno the kernel gave', () => {
    it('EACCES for a shared mapping of a read-only descriptor', (t) => {
      const fd = openFor(t, randomFile(t, 4 * KiB).path, 'r');
      throwsSystemError(() => mmap(fd, { mode: 'shared' }), 'EACCES', 'mmap');
    });

    it('EACCES for a descriptor opened write-only', (t) => {
      const fd = openFor(t, randomFile(t, 4 * KiB).path, 'a');
      throwsSystemError(() => mmap(fd, { length: 100 }), 'EACCES', 'mmap');
    });

    it('ENODEV for a pipe', (t) => {
      const [readEnd] = closeAfter(t, pipe());
      throwsSystemError(() => mmap(readEnd, { length: 4096 }), 'ENODEV', 'mmap');
    });

    it('EBADF for a closed descriptor (from the fstat that sizes the range)', (t) => {
      const fd = openSync(randomFile(t, 4 * KiB).path, 'r');
      closeSync(fd);
      throwsSystemError(() => mmap(fd, { length: 4096 }), 'EBADF', 'fstat');
    });
  });

  describe('argument validation, before any system call', () => {
    it('refuses a range that runs past the end of the file (touching it would be SIGBUS)', (t) => {
      const source = randomFile(t, 10 * KiB);
      const fd = openFor(t, source.path);
      throwsCode(() => mmap(fd, { offset: 11 * KiB }), 'ERR_OUT_OF_RANGE');
      throwsCode(() => mmap(fd, { length: 100 * KiB }), 'ERR_OUT_OF_RANGE');
      throwsCode(() => mmap(fd, { offset: 8 * KiB, length: 4 * KiB }), 'ERR_OUT_OF_RANGE');
      assert.equal(mappingsOf(source.path).length, 0);
    });

    it('refuses bad offsets, lengths, modes and flags with Node codes', (t) => {
      const source = randomFile(t, 4 * KiB);
      const fd = openFor(t, source.path);
      throwsCode(() => mmap(fd, { offset: -1 }), 'ERR_OUT_OF_RANGE');
      throwsCode(() => mmap(fd, { offset: 0.5 }), 'ERR_OUT_OF_RANGE');
      throwsCode(() => mmap(fd, { length: 2 ** 53 }), 'ERR_OUT_OF_RANGE');
      throwsCode(() => mmap(fd, { length: wrongType('4096') }), 'ERR_INVALID_ARG_TYPE');
      throwsCode(() => mmap(fd, { mode: wrongType('copy-on-write') }), 'ERR_INVALID_ARG_VALUE');
      throwsCode(() => mmap(fd, { populate: wrongType(1) }), 'ERR_INVALID_ARG_TYPE');
      throwsCode(() => mmap(fd, wrongType('shared')), 'ERR_INVALID_ARG_TYPE');
      throwsCode(() => mmap(wrongType(null)), 'ERR_INVALID_ARG_TYPE');
      throwsCode(() => mmap(-1), 'ERR_OUT_OF_RANGE');
      assert.equal(mappingsOf(source.path).length, 0);
    });
  });

  describe('of a memfd', () => {
    it('shares pages between two shared mappings and the descriptor', (t) => {
      const [fd] = closeAfter(t, [memfdCreate('mmap-shared')]);
      ftruncateSync(fd, 8 * KiB);
      const first = mmap(fd, { mode: 'shared' });
      const second = mmap(fd, { mode: 'shared', offset: 4 * KiB });
      const bytes = randomBytes(4 * KiB);
      bytes.copy(first, 4 * KiB);
      assert.deepEqual(second, bytes);
      const path = join(tempDir(t), 'copy.bin');
      writeFileSync(path, readFileSync(`/proc/self/fd/${fd}`));
      assert.equal(sha256(readFileSync(path).subarray(4 * KiB)), sha256(bytes));
      unmap(first);
      unmap(second);
    });
  });
});
