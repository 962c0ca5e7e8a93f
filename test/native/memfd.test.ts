import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { fstatSync, ftruncateSync, readlinkSync, readSync, writeSync } from 'node:fs';
import { describe, it } from 'node:test';

import { binding } from '../../src/binding/load.js';
import { addSeals, describeDescriptor, getSeals, memfdCreate, mmap, unmap } from '../../src/index.js';
import {
  closeAfter,
  KiB,
  openFor,
  randomFile,
  sha256,
  throwsCode,
  throwsSystemError,
  wrongType,
} from '../support/fixtures.js';

describe('memfdCreate', () => {
  it('makes an empty, close-on-exec, in-memory regular file that holds what is written', (t) => {
    const [fd] = closeAfter(t, [memfdCreate('holds-bytes')]);
    const native = binding();
    assert.notEqual(native.fcntl(fd, native.constants.F_GETFD, 0) & native.constants.FD_CLOEXEC, 0);
    const info = describeDescriptor(fd);
    assert.equal(info.kind, 'file');
    assert.equal(info.size, 0);
    assert.equal(info.accessMode, 'read-write');
    const bytes = randomBytes(40 * KiB);
    writeSync(fd, bytes, 0, bytes.length, 0);
    const back = Buffer.alloc(bytes.length);
    readSync(fd, back, 0, back.length, 0);
    assert.equal(sha256(back), sha256(bytes));
  });

  it("carries its name in /proc/self/fd, prefixed with 'memfd:'", (t) => {
    const [fd] = closeAfter(t, [memfdCreate('named ☃ region')]);
    assert.match(readlinkSync(`/proc/self/fd/${fd}`), /^\/memfd:named ☃ region \(deleted\)$/);
  });

  it('accepts an empty name and a name of 249 bytes', (t) => {
    closeAfter(t, [memfdCreate(''), memfdCreate('x'.repeat(249))]);
  });

  it('refuses names the kernel cannot take, before calling it', () => {
    throwsCode(() => memfdCreate(wrongType(42)), 'ERR_INVALID_ARG_TYPE');
    throwsCode(() => memfdCreate('x'.repeat(250)), 'ERR_INVALID_ARG_VALUE');
    throwsCode(() => memfdCreate('é'.repeat(125)), 'ERR_INVALID_ARG_VALUE'); // 250 bytes in UTF-8
    throwsCode(() => memfdCreate('nul\0inside'), 'ERR_INVALID_ARG_VALUE');
    throwsCode(() => memfdCreate('ok', wrongType('sealed')), 'ERR_INVALID_ARG_TYPE');
    throwsCode(() => memfdCreate('ok', { allowSealing: wrongType(1) }), 'ERR_INVALID_ARG_TYPE');
    throwsCode(() => memfdCreate('ok', { hugeTlb: wrongType('yes') }), 'ERR_INVALID_ARG_TYPE');
  });
});

describe('seals', () => {
  it('a new memfd has none, and getSeals lists those added', (t) => {
    const [fd] = closeAfter(t, [memfdCreate('sealed')]);
    assert.deepEqual(getSeals(fd), []);
    addSeals(fd, ['grow']);
    addSeals(fd, ['shrink']);
    assert.deepEqual(getSeals(fd), ['shrink', 'grow']);
  });

  describe("'shrink'", () => {
    it('makes a smaller ftruncate fail with EPERM and keeps the bytes', (t) => {
      const [fd] = closeAfter(t, [memfdCreate('no-shrink')]);
      const bytes = randomBytes(8 * KiB);
      writeSync(fd, bytes);
      addSeals(fd, ['shrink']);
      throwsSystemError(() => ftruncateSync(fd, 4 * KiB), 'EPERM', 'ftruncate');
      assert.equal(fstatSync(fd).size, 8 * KiB);
      ftruncateSync(fd, 16 * KiB); // growing is still allowed
      assert.equal(fstatSync(fd).size, 16 * KiB);
    });
  });

  describe("'grow'", () => {
    it('makes a larger ftruncate and writes past the end fail with EPERM', (t) => {
      const [fd] = closeAfter(t, [memfdCreate('no-grow')]);
      ftruncateSync(fd, 4 * KiB);
      addSeals(fd, ['grow']);
      throwsSystemError(() => ftruncateSync(fd, 8 * KiB), 'EPERM', 'ftruncate');
      throwsSystemError(() => writeSync(fd, 'x', 4 * KiB), 'EPERM', 'write');
      assert.equal(writeSync(fd, 'inside', 0), 6);
    });
  });

  describe("'write'", () => {
    it('makes writes fail with EPERM and leaves the contents as they were', (t) => {
      const [fd] = closeAfter(t, [memfdCreate('no-write')]);
      writeSync(fd, 'before', 0);
      addSeals(fd, ['write']);
      throwsSystemError(() => writeSync(fd, 'after', 0), 'EPERM', 'write');
      const back = Buffer.alloc(6);
      readSync(fd, back, 0, 6, 0);
      assert.equal(back.toString(), 'before');
      throwsSystemError(() => mmap(fd, { mode: 'shared' }), 'EPERM', 'mmap');
    });

    it('cannot be added while a shared writable mapping exists (EBUSY)', (t) => {
      const [fd] = closeAfter(t, [memfdCreate('mapped')]);
      ftruncateSync(fd, 4 * KiB);
      const view = mmap(fd, { mode: 'shared' });
      throwsSystemError(() => addSeals(fd, ['write']), 'EBUSY', 'fcntl');
      unmap(view);
      addSeals(fd, ['write']);
      assert.deepEqual(getSeals(fd), ['write']);
    });
  });

  describe("'future-write'", () => {
    it('forbids new writes but keeps an existing shared mapping writable', (t) => {
      const [fd] = closeAfter(t, [memfdCreate('future')]);
      ftruncateSync(fd, 4 * KiB);
      const view = mmap(fd, { mode: 'shared' });
      addSeals(fd, ['future-write']);
      throwsSystemError(() => writeSync(fd, 'x', 0), 'EPERM', 'write');
      view.write('still writable');
      const back = Buffer.alloc(14);
      readSync(fd, back, 0, 14, 0);
      assert.equal(back.toString(), 'still writable');
      unmap(view);
    });
  });

  describe("'seal'", () => {
    it('forbids adding any further seal (EPERM)', (t) => {
      const [fd] = closeAfter(t, [memfdCreate('final')]);
      addSeals(fd, ['seal']);
      throwsSystemError(() => addSeals(fd, ['shrink']), 'EPERM', 'fcntl');
      assert.deepEqual(getSeals(fd), ['seal']);
    });
  });

  it('a memfd made without allowSealing is born sealed against seals', (t) => {
    const [fd] = closeAfter(t, [memfdCreate('unsealable', { allowSealing: false })]);
    assert.deepEqual(getSeals(fd), ['seal']);
    throwsSystemError(() => addSeals(fd, ['write']), 'EPERM', 'fcntl');
  });

  it('a regular file cannot be sealed (EINVAL)', (t) => {
    const fd = openFor(t, randomFile(t, 16).path, 'r+');
    throwsSystemError(() => getSeals(fd), 'EINVAL', 'fcntl');
    throwsSystemError(() => addSeals(fd, ['shrink']), 'EINVAL', 'fcntl');
  });

  it('refuses unknown seal names and non-arrays before calling the kernel', (t) => {
    const [fd] = closeAfter(t, [memfdCreate('checked')]);
    throwsCode(() => addSeals(fd, wrongType('shrink')), 'ERR_INVALID_ARG_TYPE');
    throwsCode(() => addSeals(fd, wrongType(['shrink', 'forever'])), 'ERR_INVALID_ARG_VALUE');
    throwsCode(() => addSeals(wrongType('3'), ['shrink']), 'ERR_INVALID_ARG_TYPE');
    throwsCode(() => getSeals(-1), 'ERR_OUT_OF_RANGE');
    // The valid first name was not applied on its own.
    assert.deepEqual(getSeals(fd), []);
  });
});
