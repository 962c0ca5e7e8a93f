import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  closeSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  readSync,
  rmSync,
  statSync,
  truncateSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';

import { cloneFile, cloneRange, copyFileRange, copyFileRangeAsync, memfdCreate, pipe } from '../../src/index.js';
import {
  closeAfter,
  closeQuietly,
  GiB,
  KiB,
  MiB,
  openFor,
  randomFile,
  readExactly,
  rejectsSystemError,
  sha256,
  sparseFile,
  systemErrorCode,
  tempDir,
  throwsCode,
  throwsSystemError,
  wrongType,
} from '../support/fixtures.js';

/** What FICLONE answers on a file system without reflinks (ENOTSUP is Node's name for EOPNOTSUPP). */
const NO_REFLINK = ['ENOTSUP', 'EOPNOTSUPP', 'EXDEV', 'EINVAL'] as const;

/** Copies all of `input` to `output` with copyFileRange, looping on short counts. */
function copyAll(input: number, output: number, size: number): number {
  let done = 0;
  for (let calls = 0; done < size && calls < 1000; calls++) {
    const count = copyFileRange(input, done, output, done, size - done);
    if (count === 0) break;
    done += count;
  }
  return done;
}

const DEV_SHM = '/dev/shm';

/** A directory on tmpfs that is on another device than the temp dir, or why there is none. */
function otherFileSystem(t: TestContext): string | { missing: string } {
  if (!existsSync(DEV_SHM)) return { missing: `${DEV_SHM} does not exist` };
  const here = tempDir(t);
  if (statSync(DEV_SHM).dev === statSync(here).dev) return { missing: `${DEV_SHM} is on the same device as ${here}` };
  const dir = mkdtempSync(join(DEV_SHM, 'zerocopy-test-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/**
 * A freshly made XFS (or btrfs) file system on a loop device, unmounted when the test
 * ends, or the reason none can be made here (no mkfs tool, no loop mounts).
 */
function reflinkFileSystem(t: TestContext): string | { missing: string } {
  const tools: Array<[string, string[]]> = [
    ['mkfs.xfs', ['-q', '-m', 'reflink=1']],
    ['mkfs.btrfs', ['-q']],
  ];
  const available = tools.find(([tool]) =>
    ['/usr/sbin', '/sbin', '/usr/bin', '/bin'].some((dir) => existsSync(join(dir, tool))),
  );
  if (available === undefined)
    return { missing: 'neither mkfs.xfs (xfsprogs) nor mkfs.btrfs (btrfs-progs) is installed' };
  const [tool, options] = available;
  const dir = mkdtempSync(join(tmpdir(), 'zerocopy-reflink-'));
  const image = join(dir, 'fs.img');
  const mountPoint = join(dir, 'mnt');
  let mounted = false;
  // One hook, so the unmount comes before the removal; lazy, so descriptors still open cannot block it.
  t.after(() => {
    if (mounted) execFileSync('umount', ['-l', mountPoint]);
    rmSync(dir, { recursive: true, force: true });
  });
  mkdirSync(mountPoint);
  writeFileSync(image, '');
  truncateSync(image, 320 * MiB); // sparse; 300 MiB is XFS's minimum
  try {
    execFileSync(tool, [...options, image], { stdio: 'pipe' });
    execFileSync('mount', ['-o', 'loop', image, mountPoint], { stdio: 'pipe' });
    mounted = true;
  } catch (error) {
    const stderr = (error as { stderr?: Buffer }).stderr?.toString().trim();
    return { missing: `could not make and loop-mount a ${tool} image: ${stderr || String(error)}` };
  }
  return mountPoint;
}

describe('copyFileRange', () => {
  describe('copies between regular files', () => {
    it('a whole file, byte for byte', (t) => {
      const source = randomFile(t, 3 * MiB + 17);
      const input = openFor(t, source.path);
      const targetPath = join(tempDir(t), 'copy.bin');
      const output = openFor(t, targetPath, 'w');
      assert.equal(copyAll(input, output, source.bytes.length), source.bytes.length);
      assert.equal(sha256(readFileSync(targetPath)), source.hash);
    });

    it('a range from the middle to the middle, leaving the rest of the target alone', (t) => {
      const source = randomFile(t, 10 * KiB);
      const input = openFor(t, source.path);
      const targetPath = join(tempDir(t), 'target.bin');
      writeFileSync(targetPath, Buffer.alloc(8 * KiB, 0xee));
      const output = openFor(t, targetPath, 'r+');
      assert.equal(copyFileRange(input, 1000, output, 2000, 3000), 3000);
      const expected = Buffer.alloc(8 * KiB, 0xee);
      source.bytes.copy(expected, 2000, 1000, 4000);
      assert.equal(sha256(readFileSync(targetPath)), sha256(expected));
    });

    it('between two memfds (tmpfs)', (t) => {
      const bytes = randomBytes(100 * KiB);
      const [input, output] = closeAfter(t, [memfdCreate('source'), memfdCreate('target')]);
      writeFileSync(input, bytes);
      assert.equal(copyAll(input, output, bytes.length), bytes.length);
      const back = Buffer.alloc(bytes.length);
      readSync(output, back, 0, bytes.length, 0);
      assert.equal(sha256(back), sha256(bytes));
    });

    it('within one file when the ranges do not overlap', (t) => {
      const source = randomFile(t, 8 * KiB);
      const fd = openFor(t, source.path, 'r+');
      assert.equal(copyFileRange(fd, 0, fd, 4 * KiB, 4 * KiB), 4 * KiB);
      const after = readFileSync(source.path);
      assert.deepEqual(after.subarray(4 * KiB), source.bytes.subarray(0, 4 * KiB));
    });
  });

  describe('offsets', () => {
    it('with offsets, leaves both file positions alone', (t) => {
      const source = randomFile(t, 4 * KiB);
      const input = openFor(t, source.path);
      const targetPath = join(tempDir(t), 'copy.bin');
      const output = openFor(t, targetPath, 'w+');
      assert.equal(copyFileRange(input, 100, output, 0, 50), 50);
      assert.deepEqual(readExactly(input, 4), source.bytes.subarray(0, 4));
      assert.deepEqual(readExactly(output, 4), source.bytes.subarray(100, 104));
    });

    it('with null, uses and advances both file positions', (t) => {
      const source = randomFile(t, 4 * KiB);
      const input = openFor(t, source.path);
      const targetPath = join(tempDir(t), 'copy.bin');
      const output = openFor(t, targetPath, 'w');
      assert.equal(copyFileRange(input, null, output, null, 1000), 1000);
      assert.equal(copyFileRange(input, null, output, null, 1000), 1000);
      assert.deepEqual(readFileSync(targetPath), source.bytes.subarray(0, 2000));
      assert.deepEqual(readExactly(input, 4), source.bytes.subarray(2000, 2004));
    });

    it('at the largest accepted offset (2^53 - 1): reading finds nothing, writing fails with EFBIG', (t) => {
      const input = openFor(t, randomFile(t, 64).path);
      const targetPath = join(tempDir(t), 'copy.bin');
      const output = openFor(t, targetPath, 'w');
      assert.equal(copyFileRange(input, Number.MAX_SAFE_INTEGER, output, 0, 1), 0);
      throwsSystemError(() => copyFileRange(input, 0, output, Number.MAX_SAFE_INTEGER, 1), 'EFBIG', 'copy_file_range');
      throwsSystemError(
        () => copyFileRange(input, 0, output, Number.MAX_SAFE_INTEGER - 5, 64),
        'EFBIG',
        'copy_file_range',
      );
      assert.equal(statSync(targetPath).size, 0);
    });

    it('reads and writes past 4 GiB in sparse files', (t) => {
      const marker = randomBytes(300);
      const from = 4 * GiB + 99;
      const to = 4 * GiB + 3 * MiB + 5;
      const input = openFor(t, sparseFile(t, 5 * GiB, [{ offset: from, bytes: marker }]));
      const output = openFor(t, sparseFile(t, 0, []), 'r+');
      assert.equal(copyFileRange(input, BigInt(from), output, to, marker.length), marker.length);
      const back = Buffer.alloc(marker.length);
      readSync(output, back, 0, marker.length, to);
      assert.equal(sha256(back), sha256(marker));
      assert.equal(statSync(`/proc/self/fd/${output}`).size, to + marker.length);
    });
  });

  describe('lengths', () => {
    it('a count of 0 returns 0 and writes nothing', (t) => {
      const source = randomFile(t, 64);
      const input = openFor(t, source.path);
      const targetPath = join(tempDir(t), 'copy.bin');
      const output = openFor(t, targetPath, 'w');
      assert.equal(copyFileRange(input, 0, output, 0, 0), 0);
      assert.equal(statSync(targetPath).size, 0);
    });

    it('returns 0 at the end of the source, and a short count for a range past it', (t) => {
      const source = randomFile(t, 100);
      const input = openFor(t, source.path);
      const output = openFor(t, join(tempDir(t), 'copy.bin'), 'w');
      assert.equal(copyFileRange(input, 100, output, 0, 10), 0);
      assert.equal(copyFileRange(input, 90, output, 0, 1000), 10);
    });

    it('clamps a count above MAX_RW_COUNT instead of refusing it', (t) => {
      const source = randomFile(t, 1 * KiB);
      const input = openFor(t, source.path);
      const targetPath = join(tempDir(t), 'copy.bin');
      const output = openFor(t, targetPath, 'w');
      assert.equal(copyFileRange(input, 0, output, 0, Number.MAX_SAFE_INTEGER), source.bytes.length);
      assert.equal(sha256(readFileSync(targetPath)), source.hash);
    });
  });

  describe('fails with the errno the kernel gave', () => {
    it('EBADF for a closed descriptor', (t) => {
      const output = openFor(t, join(tempDir(t), 'copy.bin'), 'w');
      const input = openSync(randomFile(t, 16).path, 'r');
      closeSync(input);
      throwsSystemError(() => copyFileRange(input, 0, output, 0, 16), 'EBADF', 'copy_file_range');
    });

    it('EBADF for a target opened read-only or with O_APPEND', (t) => {
      const source = randomFile(t, 16);
      const input = openFor(t, source.path);
      const readOnly = openFor(t, source.path, 'r');
      throwsSystemError(() => copyFileRange(input, 0, readOnly, 0, 16), 'EBADF', 'copy_file_range');
      const appending = openFor(t, join(tempDir(t), 'append.bin'), 'a');
      throwsSystemError(() => copyFileRange(input, 0, appending, null, 16), 'EBADF', 'copy_file_range');
    });

    it('EINVAL for a pipe', (t) => {
      const [readEnd] = closeAfter(t, pipe());
      const output = openFor(t, join(tempDir(t), 'copy.bin'), 'w');
      throwsSystemError(() => copyFileRange(readEnd, null, output, 0, 16), 'EINVAL', 'copy_file_range');
    });

    it('EISDIR for a directory', (t) => {
      const directory = openFor(t, tempDir(t));
      const output = openFor(t, join(tempDir(t), 'copy.bin'), 'w');
      throwsSystemError(() => copyFileRange(directory, 0, output, 0, 16), 'EISDIR', 'copy_file_range');
    });

    it('EINVAL for overlapping ranges of one file', (t) => {
      const source = randomFile(t, 8 * KiB);
      const fd = openFor(t, source.path, 'r+');
      throwsSystemError(() => copyFileRange(fd, 0, fd, 100, 4 * KiB), 'EINVAL', 'copy_file_range');
      assert.equal(sha256(readFileSync(source.path)), source.hash);
    });

    it('EXDEV from ext4 to tmpfs (different file system types, Linux 5.19+)', (t) => {
      const other = otherFileSystem(t);
      if (typeof other !== 'string') {
        t.skip(`needs a second file system: ${other.missing}`);
        return;
      }
      const source = randomFile(t, 4 * KiB);
      const input = openFor(t, source.path);
      const output = openFor(t, join(other, 'copy.bin'), 'w');
      throwsSystemError(() => copyFileRange(input, 0, output, 0, 4 * KiB), 'EXDEV', 'copy_file_range');
    });
  });

  describe('copyFileRangeAsync, on the thread pool', () => {
    it('copies the same bytes as the synchronous call', async (t) => {
      const source = randomFile(t, 1 * MiB);
      const input = openFor(t, source.path);
      const targetPath = join(tempDir(t), 'copy.bin');
      const output = openFor(t, targetPath, 'w');
      let done = 0;
      for (let calls = 0; done < source.bytes.length && calls < 100; calls++) {
        const count = await copyFileRangeAsync(input, done, output, done, source.bytes.length - done);
        if (count === 0) break;
        done += count;
      }
      assert.equal(done, source.bytes.length);
      assert.equal(sha256(readFileSync(targetPath)), source.hash);
    });

    it('rejects with EBADF and EINVAL like the synchronous call', async (t) => {
      const source = randomFile(t, 16);
      const input = openFor(t, source.path);
      const readOnly = openFor(t, source.path, 'r');
      await rejectsSystemError(copyFileRangeAsync(input, 0, readOnly, 0, 16), 'EBADF', 'copy_file_range');
      const [readEnd] = closeAfter(t, pipe());
      const output = openFor(t, join(tempDir(t), 'copy.bin'), 'w');
      await rejectsSystemError(copyFileRangeAsync(readEnd, null, output, 0, 16), 'EINVAL', 'copy_file_range');
    });

    it('rejects bad arguments before queueing any work', async () => {
      await assert.rejects(copyFileRangeAsync(0, -1, 1, 0, 1), { code: 'ERR_OUT_OF_RANGE' });
      await assert.rejects(copyFileRangeAsync(0, 0, 1, 0, wrongType('1')), { code: 'ERR_INVALID_ARG_TYPE' });
    });
  });

  describe('argument validation, before any system call', () => {
    const cases: Array<[string, unknown[], string]> = [
      ['a negative inFd', [-1, 0, 'out', 0, 1], 'ERR_OUT_OF_RANGE'],
      ['a fractional outFd', ['in', 0, 3.3, 0, 1], 'ERR_OUT_OF_RANGE'],
      ['a bigint descriptor', [3n, 0, 'out', 0, 1], 'ERR_INVALID_ARG_TYPE'],
      ['a negative inOffset', ['in', -4096, 'out', 0, 1], 'ERR_OUT_OF_RANGE'],
      ['a fractional outOffset', ['in', 0, 'out', 0.1, 1], 'ERR_OUT_OF_RANGE'],
      ['an outOffset above 2^53 - 1', ['in', 0, 'out', 2 ** 60, 1], 'ERR_OUT_OF_RANGE'],
      ['an object as offset', ['in', {}, 'out', 0, 1], 'ERR_INVALID_ARG_TYPE'],
      ['a negative count', ['in', 0, 'out', 0, -1n], 'ERR_OUT_OF_RANGE'],
      ['a NaN count', ['in', 0, 'out', 0, Number.NaN], 'ERR_OUT_OF_RANGE'],
    ];
    for (const [what, args, code] of cases) {
      it(`refuses ${what} with ${code}, writing nothing`, (t) => {
        const source = randomFile(t, 64);
        const input = openFor(t, source.path);
        const targetPath = join(tempDir(t), 'copy.bin');
        const output = openFor(t, targetPath, 'w');
        const pick = (value: unknown) => (value === 'in' ? input : value === 'out' ? output : value);
        const [inFd, inOffset, outFd, outOffset, count] = args.map(pick);
        throwsCode(
          () =>
            copyFileRange(
              wrongType(inFd),
              wrongType(inOffset),
              wrongType(outFd),
              wrongType(outOffset),
              wrongType(count),
            ),
          code,
        );
        assert.equal(statSync(targetPath).size, 0);
      });
    }
  });
});

describe('cloneFile and cloneRange (FICLONE / FICLONERANGE)', () => {
  it('on a file system without reflinks, fail with one of the documented codes', (t) => {
    const source = randomFile(t, 8 * KiB);
    const input = openFor(t, source.path);
    const targetPath = join(tempDir(t), 'clone.bin');
    const output = openFor(t, targetPath, 'w');
    const code = systemErrorCode(() => cloneFile(input, output), NO_REFLINK);
    t.diagnostic(`FICLONE on the temp dir's file system: ${code}`);
    systemErrorCode(() => cloneRange(input, 0, output, 0, 4 * KiB), NO_REFLINK);
    assert.equal(statSync(targetPath).size, 0);
  });

  it('between memfds (tmpfs), fail with one of the documented codes', (t) => {
    const [input, output] = closeAfter(t, [memfdCreate('a'), memfdCreate('b')]);
    writeFileSync(input, 'bytes');
    systemErrorCode(() => cloneFile(input, output), NO_REFLINK);
  });

  it('across file systems, fail with EXDEV', (t) => {
    const other = otherFileSystem(t);
    if (typeof other !== 'string') {
      t.skip(`needs a second file system: ${other.missing}`);
      return;
    }
    const input = openFor(t, randomFile(t, 4 * KiB).path);
    const output = openFor(t, join(other, 'clone.bin'), 'w');
    throwsSystemError(() => cloneFile(input, output), 'EXDEV', 'ioctl');
  });

  it('fail with EBADF for a closed descriptor', (t) => {
    const output = openFor(t, join(tempDir(t), 'clone.bin'), 'w');
    const input = openSync(randomFile(t, 16).path, 'r');
    closeSync(input);
    throwsSystemError(() => cloneFile(input, output), 'EBADF', 'ioctl');
  });

  it('refuse bad arguments with Node codes', () => {
    throwsCode(() => cloneFile(wrongType('3'), 4), 'ERR_INVALID_ARG_TYPE');
    throwsCode(() => cloneFile(3, -4), 'ERR_OUT_OF_RANGE');
    throwsCode(() => cloneRange(3, -1, 4, 0, 0), 'ERR_OUT_OF_RANGE');
    throwsCode(() => cloneRange(3, 0, 4, 0.5, 0), 'ERR_OUT_OF_RANGE');
    throwsCode(() => cloneRange(3, 0, 4, 0, wrongType(null)), 'ERR_INVALID_ARG_TYPE');
  });

  describe('on a file system with reflinks (a loop-mounted XFS or btrfs image)', () => {
    it('share the source extents: same bytes, and writing the clone leaves the source alone', (t) => {
      const mount = reflinkFileSystem(t);
      if (typeof mount !== 'string') {
        t.skip(`no reflink file system: ${mount.missing}`);
        return;
      }
      const bytes = randomBytes(1 * MiB);
      writeFileSync(join(mount, 'source.bin'), bytes);
      const input = openSync(join(mount, 'source.bin'), 'r');
      const output = openSync(join(mount, 'clone.bin'), 'w+');
      t.after(() => {
        closeQuietly(input);
        closeQuietly(output);
      });
      cloneFile(input, output);
      assert.equal(sha256(readFileSync(join(mount, 'clone.bin'))), sha256(bytes));
      writeFileSync(join(mount, 'clone.bin'), 'changed', { flag: 'r+' });
      assert.equal(sha256(readFileSync(join(mount, 'source.bin'))), sha256(bytes));
      closeQuietly(input);
      closeQuietly(output);
    });

    it('share a block-aligned range at another offset', (t) => {
      const mount = reflinkFileSystem(t);
      if (typeof mount !== 'string') {
        t.skip(`no reflink file system: ${mount.missing}`);
        return;
      }
      const bytes = randomBytes(256 * KiB);
      writeFileSync(join(mount, 'source.bin'), bytes);
      const input = openSync(join(mount, 'source.bin'), 'r');
      const output = openSync(join(mount, 'clone.bin'), 'w+');
      t.after(() => {
        closeQuietly(input);
        closeQuietly(output);
      });
      cloneRange(input, 64 * KiB, output, 128 * KiB, 64 * KiB);
      const clone = readFileSync(join(mount, 'clone.bin'));
      assert.equal(clone.length, 192 * KiB);
      assert.deepEqual(clone.subarray(128 * KiB), bytes.subarray(64 * KiB, 128 * KiB));
      // Unaligned ranges are refused, not rounded.
      throwsSystemError(() => cloneRange(input, 1, output, 0, 4 * KiB), 'EINVAL', 'ioctl');
      closeQuietly(input);
      closeQuietly(output);
    });
  });
});
