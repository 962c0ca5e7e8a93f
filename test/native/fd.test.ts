import assert from 'node:assert/strict';
import { closeSync, fstatSync, openSync, readSync, statfsSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';

import { binding } from '../../src/binding/load.js';
import {
  close,
  describeDescriptor,
  dup,
  fadvise,
  fileSystemOf,
  mayShareExtents,
  pipe,
  readahead,
  setNonBlocking,
  socketPair,
} from '../../src/index.js';
import { fileSystemName } from '../../src/primitives/file-system.js';
import {
  closeAfter,
  GiB,
  KiB,
  openFor,
  randomFile,
  readExactly,
  sparseFile,
  tempDir,
  throwsCode,
  throwsSystemError,
  wrongType,
} from '../support/fixtures.js';

describe('describeDescriptor', () => {
  it('a file: kind, size, device and inode as fstat says, and how it was opened', (t) => {
    const source = randomFile(t, 1234);
    const readOnly = openFor(t, source.path, 'r');
    const info = describeDescriptor(readOnly);
    const stats = fstatSync(readOnly);
    assert.deepEqual(info, {
      kind: 'file',
      size: 1234,
      device: stats.dev,
      inode: stats.ino,
      accessMode: 'read',
      append: false,
      nonBlocking: false,
      direct: false,
    });
    assert.equal(describeDescriptor(openFor(t, source.path, 'r+')).accessMode, 'read-write');
    assert.equal(describeDescriptor(openFor(t, source.path, 'w')).accessMode, 'write');
  });

  it('a file opened for appending has append set', (t) => {
    const info = describeDescriptor(openFor(t, join(tempDir(t), 'log.txt'), 'a'));
    assert.equal(info.append, true);
    assert.equal(info.accessMode, 'write');
  });

  it('a directory, a pipe, a socket and a character device', (t) => {
    assert.equal(describeDescriptor(openFor(t, tempDir(t))).kind, 'directory');
    const [readEnd, writeEnd] = closeAfter(t, pipe());
    assert.equal(describeDescriptor(readEnd).kind, 'pipe');
    assert.equal(describeDescriptor(writeEnd).kind, 'pipe');
    const [left] = closeAfter(t, socketPair());
    assert.equal(describeDescriptor(left).kind, 'socket');
    assert.equal(describeDescriptor(openFor(t, '/dev/null')).kind, 'character-device');
  });

  it('fails with EBADF for a closed descriptor', (t) => {
    const fd = openSync(randomFile(t, 16).path, 'r');
    closeSync(fd);
    throwsSystemError(() => describeDescriptor(fd), 'EBADF', 'fstat');
  });

  it('refuses things that are not descriptors', () => {
    throwsCode(() => describeDescriptor(wrongType('0')), 'ERR_INVALID_ARG_TYPE');
    throwsCode(() => describeDescriptor(wrongType({ fd: 0 })), 'ERR_INVALID_ARG_TYPE');
    throwsCode(() => describeDescriptor(-1), 'ERR_OUT_OF_RANGE');
    throwsCode(() => describeDescriptor(0.5), 'ERR_OUT_OF_RANGE');
  });
});

describe('setNonBlocking', () => {
  it('sets and clears O_NONBLOCK, which a dup shares', (t) => {
    const [readEnd] = closeAfter(t, pipe());
    const [copy] = closeAfter(t, [dup(readEnd)]);
    setNonBlocking(readEnd, true);
    assert.equal(describeDescriptor(readEnd).nonBlocking, true);
    assert.equal(describeDescriptor(copy).nonBlocking, true);
    throwsCode(() => readSync(readEnd, Buffer.alloc(1)), 'EAGAIN');
    setNonBlocking(readEnd, false);
    assert.equal(describeDescriptor(copy).nonBlocking, false);
  });

  it('setting the flag it already has changes nothing', (t) => {
    const [readEnd] = closeAfter(t, pipe({ nonBlocking: true }));
    setNonBlocking(readEnd, true);
    assert.equal(describeDescriptor(readEnd).nonBlocking, true);
  });

  it('fails with EBADF for a closed descriptor and refuses a non-boolean', (t) => {
    const [readEnd] = closeAfter(t, pipe());
    throwsCode(() => setNonBlocking(readEnd, wrongType('yes')), 'ERR_INVALID_ARG_TYPE');
    const [left] = closeAfter(t, socketPair());
    close(left);
    throwsSystemError(() => setNonBlocking(left, true), 'EBADF', 'fcntl');
  });
});

describe('dup', () => {
  it('gives a second, close-on-exec descriptor for the same open file that outlives the first', (t) => {
    const source = randomFile(t, 100);
    const fd = openSync(source.path, 'r');
    const [copy] = closeAfter(t, [dup(fd)]);
    assert.notEqual(copy, fd);
    const native = binding();
    assert.notEqual(native.fcntl(copy, native.constants.F_GETFD, 0) & native.constants.FD_CLOEXEC, 0);
    assert.equal(fstatSync(copy).ino, fstatSync(fd).ino);
    // They share one file position.
    assert.deepEqual(readExactly(fd, 10), source.bytes.subarray(0, 10));
    closeSync(fd);
    assert.deepEqual(readExactly(copy, 10), source.bytes.subarray(10, 20));
  });

  it('fails with EBADF for a closed descriptor', (t) => {
    const [left] = closeAfter(t, socketPair());
    close(left);
    throwsSystemError(() => dup(left), 'EBADF', 'fcntl');
  });
});

describe('close', () => {
  it('closes a descriptor, and a second close fails with EBADF', (t) => {
    const [readEnd, writeEnd] = closeAfter(t, pipe());
    close(writeEnd);
    // The reader sees the end of the pipe: its only writer is gone.
    assert.equal(readSync(readEnd, Buffer.alloc(1)), 0);
    throwsSystemError(() => close(writeEnd), 'EBADF', 'close');
  });

  it('refuses things that are not descriptors', () => {
    throwsCode(() => close(wrongType(null)), 'ERR_INVALID_ARG_TYPE');
    throwsCode(() => close(2 ** 31), 'ERR_OUT_OF_RANGE');
  });
});

describe('fadvise', () => {
  it('accepts every documented advice on a file, whole or in part, past 4 GiB too', (t) => {
    const fd = openFor(t, sparseFile(t, 5 * GiB, [{ offset: 4 * GiB, bytes: Buffer.from('x') }]));
    for (const advice of ['normal', 'sequential', 'random', 'willneed', 'dontneed', 'noreuse'] as const) {
      fadvise(fd, advice);
      fadvise(fd, advice, 4 * GiB, 64 * KiB);
    }
    fadvise(fd, 'willneed', 4n * BigInt(GiB), 1n);
  });

  it('fails with ESPIPE on a pipe', (t) => {
    const [readEnd] = closeAfter(t, pipe());
    throwsSystemError(() => fadvise(readEnd, 'sequential'), 'ESPIPE', 'posix_fadvise');
  });

  it('fails with EBADF for a closed descriptor', (t) => {
    const [left] = closeAfter(t, socketPair());
    close(left);
    throwsSystemError(() => fadvise(left, 'normal'), 'EBADF', 'posix_fadvise');
  });

  it('refuses unknown advice and bad ranges', (t) => {
    const fd = openFor(t, randomFile(t, 16).path);
    throwsCode(() => fadvise(fd, wrongType('forget')), 'ERR_INVALID_ARG_VALUE');
    throwsCode(() => fadvise(fd, 'normal', -1), 'ERR_OUT_OF_RANGE');
    throwsCode(() => fadvise(fd, 'normal', 0, 1.5), 'ERR_OUT_OF_RANGE');
    throwsCode(() => fadvise(fd, 'normal', wrongType('0')), 'ERR_INVALID_ARG_TYPE');
  });
});

describe('readahead', () => {
  it('reads a file range into the page cache, past 4 GiB too', (t) => {
    const fd = openFor(t, sparseFile(t, 5 * GiB, [{ offset: 4 * GiB + 10, bytes: Buffer.from('x') }]));
    readahead(fd, 0, 64 * KiB);
    readahead(fd, 4 * GiB, 64 * KiB);
    readahead(fd, 0, 0);
  });

  it('fails with EINVAL on a pipe and a socket', (t) => {
    const [readEnd] = closeAfter(t, pipe());
    throwsSystemError(() => readahead(readEnd, 0, 4096), 'EINVAL', 'readahead');
    const [left] = closeAfter(t, socketPair());
    throwsSystemError(() => readahead(left, 0, 4096), 'EINVAL', 'readahead');
  });

  it('fails with EBADF on a descriptor not open for reading', (t) => {
    const fd = openFor(t, join(tempDir(t), 'out.bin'), 'w');
    writeSync(fd, 'x');
    throwsSystemError(() => readahead(fd, 0, 4096), 'EBADF', 'readahead');
  });

  it('refuses bad offsets and counts', (t) => {
    const fd = openFor(t, randomFile(t, 16).path);
    throwsCode(() => readahead(fd, -1, 1), 'ERR_OUT_OF_RANGE');
    throwsCode(() => readahead(fd, 0, 2 ** 53), 'ERR_OUT_OF_RANGE');
    throwsCode(() => readahead(fd, 0, wrongType(undefined)), 'ERR_INVALID_ARG_TYPE');
  });
});

describe('fileSystemOf and mayShareExtents', () => {
  it('names the file system a descriptor is on, as statfs does for its path', (t) => {
    const file = randomFile(t, 10);
    const fd = openFor(t, file.path);
    const name = fileSystemOf(fd);
    const expected = statfsSync(file.path).type;
    assert.ok(name === fileSystemName(expected), `${name} for statfs type 0x${expected.toString(16)}`);
    // ext4 and tmpfs copy bytes in copy_file_range; anything unknown may clone.
    if (name === 'ext4' || name === 'tmpfs') assert.equal(mayShareExtents(fd), false);
  });

  it('refuses a closed descriptor with EBADF from fstatfs, and a non-descriptor before any call', () => {
    const [left, right] = socketPair();
    closeSync(left);
    closeSync(right);
    throwsSystemError(() => fileSystemOf(left), 'EBADF', 'fstatfs');
    throwsCode(() => fileSystemOf(-1), 'ERR_OUT_OF_RANGE');
  });
});
