// copyFile() and `zerocopy cp` against real files on ext4, tmpfs and (when it can be
// mounted) a loop-mounted xfs image with reflinks.
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import {
  chmodSync,
  closeSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  readSync,
  rmSync,
  statfsSync,
  statSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it, type TestContext } from 'node:test';

import { copyFile } from '../../src/copy/copy-file.js';
import { dataExtents } from '../../src/copy/sparse.js';
import { cliEntry, GiB, KiB, MiB, randomFile, runNode, sha256, sparseFile, tempDir } from '../support/fixtures.js';

const TMPFS = '/dev/shm';

function tmpfsDir(t: TestContext): string | undefined {
  try {
    if (!existsSync(TMPFS)) return undefined;
    const dir = mkdtempSync(join(TMPFS, 'zerocopy-cp-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    return dir;
  } catch {
    return undefined;
  }
}

function leftovers(dir: string): string[] {
  return readdirSync(dir).filter((name) => name.includes('zerocopy-tmp'));
}

describe('copyFile', () => {
  it('copies a file on ext4 by copy_file_range, byte for byte', async (t) => {
    const source = randomFile(t, 5 * MiB + 123);
    const destination = join(tempDir(t), 'copy.bin');
    const report = await copyFile(source.path, destination);
    assert.equal(sha256(readFileSync(destination)), source.hash);
    assert.equal(report.size, 5 * MiB + 123);
    assert.equal(report.bytes, 5 * MiB + 123);
    assert.ok(['copy_file_range', 'reflink'].includes(report.method), report.method);
    assert.deepEqual(leftovers(join(destination, '..')), []);
  });

  it('copies a 0-byte file', async (t) => {
    const source = randomFile(t, 0);
    const destination = join(tempDir(t), 'empty');
    const report = await copyFile(source.path, destination);
    assert.equal(statSync(destination).size, 0);
    assert.equal(report.bytes, 0);
    assert.equal(report.extents, 0);
  });

  it('keeps holes as holes, past 4 GiB', async (t) => {
    const size = 5 * GiB;
    const markers = [
      { offset: 0, bytes: Buffer.from('start') },
      { offset: 4 * GiB + 1, bytes: Buffer.from('past 4 GiB') },
      { offset: size - 3, bytes: Buffer.from('end') },
    ];
    const source = sparseFile(t, size, markers);
    const destination = join(tempDir(t), 'sparse.copy');
    const report = await copyFile(source, destination);
    const stats = statSync(destination);
    assert.equal(stats.size, size);
    assert.ok(stats.blocks * 512 < 1 * MiB, `the copy allocated ${stats.blocks * 512} bytes`);
    assert.ok(report.holeBytes > size - 1 * MiB);
    assert.equal(report.extents, 3);
    const fd = openSync(destination, 'r');
    try {
      for (const { offset, bytes } of markers) {
        const read = Buffer.alloc(bytes.byteLength);
        readSync(fd, read, 0, read.byteLength, offset);
        assert.deepEqual(read, bytes);
      }
    } finally {
      closeSync(fd);
    }
  });

  it('writes every byte of a sparse file with sparse: never', async (t) => {
    const source = sparseFile(t, 4 * MiB, [{ offset: 2 * MiB, bytes: Buffer.from('middle') }]);
    const destination = join(tempDir(t), 'dense.copy');
    const report = await copyFile(source, destination, { sparse: 'never' });
    assert.equal(report.holeBytes, 0);
    assert.equal(report.bytes, 4 * MiB);
    assert.deepEqual(readFileSync(destination), readFileSync(source));
  });

  it('finds the data extents of a sparse file', (t) => {
    const source = sparseFile(t, 64 * MiB, [
      { offset: 1 * MiB, bytes: Buffer.alloc(4096, 1) },
      { offset: 40 * MiB, bytes: Buffer.alloc(4096, 2) },
    ]);
    const fd = openSync(source, 'r');
    try {
      assert.deepEqual(dataExtents(fd, 64 * MiB), [
        { offset: 1 * MiB, length: 4096 },
        { offset: 40 * MiB, length: 4096 },
      ]);
    } finally {
      closeSync(fd);
    }
  });

  it('copies within tmpfs, holes included', async (t) => {
    const dir = tmpfsDir(t);
    if (dir === undefined) return t.skip(`no tmpfs at ${TMPFS}`);
    const source = join(dir, 'source');
    writeFileSync(source, Buffer.alloc(0));
    execFileSync('truncate', ['-s', String(16 * MiB), source]);
    writeFileSync(join(dir, 'dense'), randomFile(t, 3 * MiB).bytes);
    const sparse = await copyFile(source, join(dir, 'sparse.copy'));
    assert.equal(statSync(join(dir, 'sparse.copy')).size, 16 * MiB);
    assert.equal(sparse.bytes, 0);
    const dense = await copyFile(join(dir, 'dense'), join(dir, 'dense.copy'));
    assert.deepEqual(readFileSync(join(dir, 'dense.copy')), readFileSync(join(dir, 'dense')));
    assert.ok(['copy_file_range', 'copy'].includes(dense.method));
  });

  it('copies across file systems (ext4 -> tmpfs) and reports the fallback it took', async (t) => {
    const dir = tmpfsDir(t);
    if (dir === undefined) return t.skip(`no tmpfs at ${TMPFS}`);
    const source = randomFile(t, 2 * MiB);
    const destination = join(dir, 'across');
    const report = await copyFile(source.path, destination);
    assert.equal(sha256(readFileSync(destination)), source.hash);
    // This kernel refuses copy_file_range across file system types (EXDEV since 5.19).
    if (report.method === 'copy') assert.equal(report.fallback?.errno, 'EXDEV');
    else assert.equal(report.method, 'copy_file_range');
  });

  it('replaces an existing destination, keeping its permission bits', async (t) => {
    const source = randomFile(t, 100 * KiB);
    const destination = join(tempDir(t), 'exists');
    writeFileSync(destination, 'old contents that are longer than nothing');
    chmodSync(destination, 0o640);
    await copyFile(source.path, destination);
    assert.equal(sha256(readFileSync(destination)), source.hash);
    assert.equal(statSync(destination).mode & 0o777, 0o640);
  });

  it('refuses to replace an existing destination with overwrite: false (EEXIST)', async (t) => {
    const source = randomFile(t, 10);
    const destination = join(tempDir(t), 'exists');
    writeFileSync(destination, 'keep me');
    await assert.rejects(copyFile(source.path, destination, { overwrite: false }), { code: 'EEXIST' });
    assert.equal(readFileSync(destination, 'utf8'), 'keep me');
  });

  it('refuses to copy a file onto itself, also through a symlink', async (t) => {
    const source = randomFile(t, 1000);
    await assert.rejects(copyFile(source.path, source.path), { code: 'ERR_ZEROCOPY_SAME_FILE' });
    const link = join(tempDir(t), 'link');
    symlinkSync(source.path, link);
    await assert.rejects(copyFile(source.path, link), { code: 'ERR_ZEROCOPY_SAME_FILE' });
    assert.equal(sha256(readFileSync(source.path)), source.hash);
  });

  it('preserves mode and times on request', async (t) => {
    const source = randomFile(t, 5000);
    chmodSync(source.path, 0o751);
    utimesSync(source.path, new Date('2001-02-03T04:05:06.789Z'), new Date('2002-03-04T05:06:07.891Z'));
    const destination = join(tempDir(t), 'preserved');
    await copyFile(source.path, destination, { preserve: true });
    const stats = statSync(destination);
    assert.equal(stats.mode & 0o7777, 0o751);
    assert.equal(stats.mtime.toISOString(), '2002-03-04T05:06:07.891Z');
    assert.equal(stats.atime.toISOString(), '2001-02-03T04:05:06.789Z');
  });

  it('fails with ENOENT for a missing source and EISDIR for a directory', async (t) => {
    const dir = tempDir(t);
    await assert.rejects(copyFile(join(dir, 'missing'), join(dir, 'x')), { code: 'ENOENT' });
    await assert.rejects(copyFile(dir, join(dir, 'x')), { code: 'EISDIR' });
    assert.deepEqual(readdirSync(dir), []);
  });

  it('leaves no half-written destination when aborted, and keeps the old one', async (t) => {
    const dir = tmpfsDir(t) ?? tempDir(t);
    const source = join(dir, 'big');
    writeFileSync(source, Buffer.alloc(256 * MiB, 7));
    const destination = join(dir, 'target');
    writeFileSync(destination, 'previous');
    const controller = new AbortController();
    const copying = copyFile(source, destination, {
      signal: controller.signal,
      reflink: 'never',
      sparse: 'never',
      onProgress: (done) => {
        if (done > 0) controller.abort();
      },
    });
    await assert.rejects(copying, { name: 'AbortError' });
    assert.equal(readFileSync(destination, 'utf8'), 'previous');
    assert.deepEqual(leftovers(dir), []);
  });

  it('checks its arguments', async () => {
    await assert.rejects(copyFile('', 'x'), { code: 'ERR_INVALID_ARG_TYPE' });
    await assert.rejects(copyFile('a', 'b', { reflink: 'sometimes' as 'auto' }), { code: 'ERR_INVALID_ARG_VALUE' });
  });
});

describe('copyFile with reflinks (loop-mounted xfs)', () => {
  let mountPoint: string | undefined;
  let skipReason = '';
  let image = '';
  before(() => {
    // Needs root, a loop device and mkfs.xfs; skipped out loud otherwise.
    if (process.getuid?.() !== 0) {
      skipReason = 'not root: cannot loop-mount a file system image';
      return;
    }
    const dir = mkdtempSync(join(tmpdir(), 'zerocopy-xfs-'));
    image = join(dir, 'xfs.img');
    const mount = join(dir, 'mnt');
    mkdirSync(mount);
    try {
      execFileSync('truncate', ['-s', '320M', image]);
      execFileSync('mkfs.xfs', ['-q', '-m', 'reflink=1', image], { stdio: 'pipe' });
      execFileSync('mount', ['-o', 'loop', image, mount], { stdio: 'pipe' });
      mountPoint = mount;
    } catch (error) {
      skipReason = `cannot loop-mount an xfs image here: ${String((error as { stderr?: Buffer }).stderr ?? error)
        .trim()
        .slice(0, 200)}`;
      rmSync(dir, { recursive: true, force: true });
    }
  });
  after(() => {
    if (mountPoint === undefined) return;
    execFileSync('umount', [mountPoint], { stdio: 'pipe' });
    rmSync(join(mountPoint, '..'), { recursive: true, force: true });
  });

  it('shares extents with reflink: auto and always', async (t) => {
    if (mountPoint === undefined) return t.skip(skipReason);
    const source = join(mountPoint, 'source');
    const bytes = Buffer.alloc(8 * MiB, 3);
    bytes.write('unique head');
    writeFileSync(source, bytes);
    const auto = await copyFile(source, join(mountPoint, 'auto'));
    assert.equal(auto.method, 'reflink');
    const always = await copyFile(source, join(mountPoint, 'always'), { reflink: 'always' });
    assert.equal(always.method, 'reflink');
    assert.deepEqual(readFileSync(join(mountPoint, 'always')), bytes);
    const freeBytes = () => {
      const stats = statfsSync(mountPoint as string);
      return stats.bavail * stats.bsize;
    };
    const freeBefore = freeBytes();
    const never = await copyFile(source, join(mountPoint, 'never'), { reflink: 'never' });
    // xfs answers copy_file_range with a clone: 'never' must copy the bytes another way.
    assert.equal(never.method, 'splice');
    assert.deepEqual(readFileSync(join(mountPoint, 'never')), bytes);
    assert.ok(freeBefore - freeBytes() >= bytes.byteLength, 'the copy has blocks of its own (no shared extents)');
  });

  it('fails with reflink: always across file systems, leaving nothing behind', async (t) => {
    if (mountPoint === undefined) return t.skip(skipReason);
    const source = randomFile(t, 1 * MiB);
    const destination = join(mountPoint, 'across');
    await assert.rejects(copyFile(source.path, destination, { reflink: 'always' }), {
      code: 'ERR_ZEROCOPY_REFLINK_UNSUPPORTED',
    });
    assert.equal(existsSync(destination), false);
    assert.deepEqual(leftovers(mountPoint), []);
  });
});

describe('zerocopy cp', () => {
  it('copies several files into a directory and says how with -v', async (t) => {
    const first = randomFile(t, 300 * KiB, 'first.bin');
    const second = randomFile(t, 10, 'second.bin');
    const target = tempDir(t);
    const result = await runNode([cliEntry, 'cp', '-v', first.path, second.path, target]);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(sha256(readFileSync(join(target, 'first.bin'))), first.hash);
    assert.equal(sha256(readFileSync(join(target, 'second.bin'))), second.hash);
    assert.match(result.stdout, /first\.bin' -> .*: (copy_file_range|reflink)/);
    assert.match(result.stdout, /2 files/);
  });

  it('copies a tree with -r (links stay links) and refuses a directory without it', async (t) => {
    const tree = tempDir(t);
    mkdirSync(join(tree, 'sub', 'deeper'), { recursive: true });
    writeFileSync(join(tree, 'a.txt'), 'a');
    writeFileSync(join(tree, 'sub', 'deeper', 'b.txt'), 'b');
    symlinkSync('a.txt', join(tree, 'link'));
    const target = join(tempDir(t), 'copy');
    const refused = await runNode([cliEntry, 'cp', tree, target]);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /omitting directory/);
    const result = await runNode([cliEntry, 'cp', '-r', tree, target]);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(readFileSync(join(target, 'sub', 'deeper', 'b.txt'), 'utf8'), 'b');
    assert.equal(readFileSync(join(target, 'link'), 'utf8'), 'a');
    assert.ok(statSync(join(target, 'link'), { throwIfNoEntry: true }) !== undefined);
  });

  it('exits 1 with a message when the destination directory is not writable (permission denied)', async (t) => {
    const source = randomFile(t, 1000);
    const locked = tempDir(t);
    chmodSync(locked, 0o555);
    chmodSync(join(source.path, '..'), 0o755);
    chmodSync(source.path, 0o644);
    // Root ignores permission bits: run the command as nobody then.
    const asNobody = process.getuid?.() === 0;
    if (asNobody) {
      for (let dir = join(source.path, '..'); dir !== '/'; dir = join(dir, '..'))
        chmodSync(dir, statSync(dir).mode | 0o005);
      // The checkout (or the node binary) may sit in a directory only root can enter.
      const probe = spawnSync(process.execPath, ['-e', `require('fs').accessSync(${JSON.stringify(cliEntry)})`], {
        uid: 65534,
        gid: 65534,
      });
      if (probe.status !== 0) {
        return t.skip('user nobody cannot read this checkout or run this node binary, so the check cannot drop root');
      }
    }
    const result = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
      const child = spawn(process.execPath, [cliEntry, 'cp', source.path, join(locked, 'copy')], {
        ...(asNobody ? { uid: 65534, gid: 65534 } : {}),
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      let stderr = '';
      child.stderr.on('data', (chunk: Buffer) => {
        stderr += chunk.toString();
      });
      const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      child.on('close', (code) => {
        clearTimeout(timer);
        resolve({ code, stderr });
      });
    });
    assert.equal(result.code, 1, result.stderr);
    assert.match(result.stderr, /EACCES/);
    assert.deepEqual(readdirSync(locked), []);
  });

  it('stops on SIGINT with exit 130 and leaves no temporary file', async (t) => {
    const dir = tmpfsDir(t) ?? tempDir(t);
    const source = join(dir, 'big');
    writeFileSync(source, Buffer.alloc(512 * MiB, 1));
    const target = join(dir, 'copy');
    const child = spawn(process.execPath, [cliEntry, 'cp', '--reflink=never', '--sparse=never', source, target], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    // Signal once the temporary file exists, i.e. mid-copy.
    for (let tries = 0; tries < 500 && leftovers(dir).length === 0 && child.exitCode === null; tries++) {
      await new Promise((resolve) => setTimeout(resolve, 2));
    }
    child.kill('SIGINT');
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    if (code === 0) return t.skip('the copy finished before the signal arrived');
    assert.equal(code, 130, stderr);
    assert.equal(existsSync(target), false);
    assert.deepEqual(leftovers(dir), []);
  });
});
