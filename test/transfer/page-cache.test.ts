// Whether a file range can be read without waiting for the disk: what decides between an
// inline call and the thread pool (transfer()) and between the native front and node:http.
import assert from 'node:assert/strict';
import { closeSync, fdatasyncSync, openSync, readSync, statfsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, it, type TestContext } from 'node:test';

import { isResident, ResidencyWindow } from '../../src/engine/page-cache.js';
import { fadvise } from '../../src/index.js';
import { MiB, tempDir } from '../support/fixtures.js';
import { requireAddon } from '../support/transfer.js';

before(requireAddon);

const TMPFS_MAGIC = 0x01021994;

/** A file of `size` bytes on disk, written back (so that its pages can be dropped); undefined on tmpfs, skipped out loud. */
function writtenBack(t: TestContext, size: number): number | undefined {
  const dir = tempDir(t);
  if (statfsSync(dir).type === TMPFS_MAGIC) {
    t.skip(`${dir} is on tmpfs, whose pages cannot be dropped from memory`);
    return undefined;
  }
  const path = join(dir, 'file.bin');
  writeFileSync(path, Buffer.alloc(size, 7));
  const fd = openSync(path, 'r');
  t.after(() => closeSync(fd));
  fdatasyncSync(fd);
  return fd;
}

function readAll(fd: number, size: number): void {
  const buffer = Buffer.alloc(1 * MiB);
  for (let offset = 0; offset < size; offset += buffer.length) readSync(fd, buffer, 0, buffer.length, offset);
}

describe('page cache residency', () => {
  it('tells a file read into memory from one dropped from it, range by range', (t) => {
    const size = 8 * MiB;
    const fd = writtenBack(t, size);
    if (fd === undefined) return;
    fadvise(fd, 'dontneed');
    assert.equal(isResident(fd, 0, size), false);
    assert.equal(isResident(fd, 0, 0), true, 'an empty range needs nothing');
    readAll(fd, size);
    assert.equal(isResident(fd, 0, size), true);
    assert.equal(isResident(fd, 4096 + 17, 100_000), true);
    fadvise(fd, 'dontneed', 6 * MiB, 2 * MiB);
    assert.equal(isResident(fd, 0, size), false);
    assert.equal(isResident(fd, 0, 6 * MiB), true);
    assert.equal(isResident(fd, 7 * MiB, 4096), false);
  });

  it('a window over a cold file sends every call to the pool, and stays cold', (t) => {
    const size = 4 * MiB;
    const fd = writtenBack(t, size);
    if (fd === undefined) return;
    readAll(fd, size);
    const window = new ResidencyWindow(fd, 1 * MiB);
    assert.equal(window.inlineBytes(0, 512 * 1024, size), 512 * 1024);
    assert.equal(window.inlineBytes(512 * 1024, 1 * MiB, size), 512 * 1024, 'up to the end of the checked window');
    fadvise(fd, 'dontneed', 2 * MiB, 2 * MiB);
    assert.equal(window.inlineBytes(1 * MiB, 1 * MiB, size), 1 * MiB);
    assert.equal(window.inlineBytes(2 * MiB, 1 * MiB, size), 0, 'the dropped part goes to the pool');
    readAll(fd, size);
    assert.equal(window.inlineBytes(3 * MiB, 1 * MiB, size), 0, 'once cold, always the pool');
  });
});
