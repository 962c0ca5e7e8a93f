import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { closeSync, openSync, readFileSync, readSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';

import { pipe, sendfile, sendfileAsync, socketDescriptor, socketPair } from '../../src/index.js';
import {
  closeAfter,
  collect,
  GiB,
  KiB,
  MiB,
  openFor,
  pump,
  randomFile,
  readExactly,
  rejectsSystemError,
  sha256,
  sparseFile,
  tcpPair,
  tempDir,
  throwsCode,
  throwsSystemError,
  wrongType,
} from '../support/fixtures.js';

describe('sendfile', () => {
  describe('moves a file into', () => {
    it('a pipe, byte for byte', (t) => {
      const source = randomFile(t, 48 * KiB);
      const input = openFor(t, source.path);
      const [readEnd, writeEnd] = closeAfter(t, pipe());
      assert.equal(sendfile(writeEnd, input, 0, source.bytes.length), source.bytes.length);
      assert.equal(sha256(readExactly(readEnd, source.bytes.length)), source.hash);
    });

    it('a loopback TCP socket, waiting out EAGAIN on its non-blocking descriptor', async (t) => {
      const source = randomFile(t, 4 * MiB);
      const input = openFor(t, source.path);
      const { client, server } = await tcpPair(t);
      const received = collect(server);
      const fd = socketDescriptor(client);
      const sent = await pump((done) => sendfile(fd, input, done, source.bytes.length - done), source.bytes.length);
      client.end();
      assert.equal(sent, source.bytes.length);
      assert.equal(sha256(await received), source.hash);
    });

    it('another regular file (Linux 5.12+)', (t) => {
      const source = randomFile(t, 100 * KiB);
      const input = openFor(t, source.path);
      const targetPath = join(tempDir(t), 'copy.bin');
      const output = openFor(t, targetPath, 'w');
      let done = 0;
      for (let calls = 0; done < source.bytes.length && calls < 100; calls++) {
        const count = sendfile(output, input, done, source.bytes.length - done);
        if (count === 0) break;
        done += count;
      }
      assert.equal(done, source.bytes.length);
      assert.equal(sha256(readFileSync(targetPath)), source.hash);
    });
  });

  describe('offsets', () => {
    it('with an offset, starts there and leaves the file position alone', (t) => {
      const source = randomFile(t, 8 * KiB);
      const input = openFor(t, source.path);
      const [readEnd, writeEnd] = closeAfter(t, pipe());
      assert.equal(sendfile(writeEnd, input, 1000, 500), 500);
      assert.deepEqual(readExactly(readEnd, 500), source.bytes.subarray(1000, 1500));
      // The position is still 0: reading with the position gives the first bytes.
      assert.deepEqual(readExactly(input, 16), source.bytes.subarray(0, 16));
    });

    it('with null, reads from the file position and advances it', (t) => {
      const source = randomFile(t, 8 * KiB);
      const input = openFor(t, source.path);
      const [readEnd, writeEnd] = closeAfter(t, pipe());
      assert.equal(sendfile(writeEnd, input, null, 100), 100);
      assert.equal(sendfile(writeEnd, input, null, 100), 100);
      assert.deepEqual(readExactly(readEnd, 200), source.bytes.subarray(0, 200));
      assert.deepEqual(readExactly(input, 16), source.bytes.subarray(200, 216));
    });

    it('accepts a bigint offset', (t) => {
      const source = randomFile(t, 4 * KiB);
      const input = openFor(t, source.path);
      const [readEnd, writeEnd] = closeAfter(t, pipe());
      assert.equal(sendfile(writeEnd, input, 4000n, 96n), 96);
      assert.deepEqual(readExactly(readEnd, 96), source.bytes.subarray(4000));
    });

    it('passes the largest accepted offset (2^53 - 1) to the kernel, which finds nothing there or says EOVERFLOW', (t) => {
      const input = openFor(t, randomFile(t, 64).path);
      const [, writeEnd] = closeAfter(t, pipe());
      let outcome: number | string;
      try {
        outcome = sendfile(writeEnd, input, Number.MAX_SAFE_INTEGER, 1);
      } catch (error) {
        outcome = (error as NodeJS.ErrnoException).code ?? String(error);
      }
      // EOVERFLOW past the file system's largest file (ext4: 16 TiB); 0 (end of file) where files may be larger.
      assert.ok(outcome === 0 || outcome === 'EOVERFLOW', String(outcome));
    });

    describe('past 4 GiB in a sparse file', () => {
      const marker = Buffer.from('sendfile reads past the 32-bit boundary');
      const offset = 4 * GiB + 4093; // not page-aligned, above 2^32

      it('reaches the bytes there when sending to a pipe', (t) => {
        const path = sparseFile(t, 5 * GiB, [{ offset, bytes: marker }]);
        const input = openFor(t, path);
        const [readEnd, writeEnd] = closeAfter(t, pipe());
        assert.equal(sendfile(writeEnd, input, offset, marker.length), marker.length);
        assert.equal(sha256(readExactly(readEnd, marker.length)), sha256(marker));
      });

      it('reaches the bytes there when sending to a socket, and reads holes as zeros', (t) => {
        const path = sparseFile(t, 5 * GiB, [{ offset, bytes: marker }]);
        const input = openFor(t, path);
        const [left, right] = closeAfter(t, socketPair());
        const expected = Buffer.concat([Buffer.alloc(100), marker]);
        assert.equal(sendfile(left, input, BigInt(offset - 100), expected.length), expected.length);
        assert.equal(sha256(readExactly(right, expected.length)), sha256(expected));
      });
    });
  });

  describe('lengths', () => {
    it('a count of 0 moves nothing and returns 0', (t) => {
      const source = randomFile(t, 1 * KiB);
      const input = openFor(t, source.path);
      const [readEnd, writeEnd] = closeAfter(t, pipe({ nonBlocking: true }));
      assert.equal(sendfile(writeEnd, input, 0, 0), 0);
      throwsCode(() => readSync(readEnd, Buffer.alloc(1)), 'EAGAIN');
    });

    it('returns 0 at and beyond the end of the file', (t) => {
      const source = randomFile(t, 1 * KiB);
      const input = openFor(t, source.path);
      const [, writeEnd] = closeAfter(t, pipe());
      assert.equal(sendfile(writeEnd, input, source.bytes.length, 10), 0);
      assert.equal(sendfile(writeEnd, input, 10 * MiB, 10), 0);
    });

    it('returns a short count for a range running past the end, and an empty file sends 0', (t) => {
      const source = randomFile(t, 1 * KiB);
      const input = openFor(t, source.path);
      const [readEnd, writeEnd] = closeAfter(t, pipe());
      assert.equal(sendfile(writeEnd, input, 1000, 1000), 24);
      assert.deepEqual(readExactly(readEnd, 24), source.bytes.subarray(1000));
      const empty = openFor(t, randomFile(t, 0, 'empty').path);
      assert.equal(sendfile(writeEnd, empty, 0, 100), 0);
    });

    it('a count above the kernel maximum per call (MAX_RW_COUNT) is clamped, not refused', (t) => {
      const source = randomFile(t, 2 * KiB);
      const input = openFor(t, source.path);
      const [readEnd, writeEnd] = closeAfter(t, pipe());
      assert.equal(sendfile(writeEnd, input, 0, 2 ** 40), source.bytes.length);
      assert.equal(sha256(readExactly(readEnd, source.bytes.length)), source.hash);
    });
  });

  describe('fails with the errno the kernel gave', () => {
    it('EBADF for a closed input descriptor', (t) => {
      const [, writeEnd] = closeAfter(t, pipe());
      // Closed after the pipe exists, so the pipe cannot have been given its number.
      const input = openSync(randomFile(t, 16).path, 'r');
      closeSync(input);
      throwsSystemError(() => sendfile(writeEnd, input, 0, 16), 'EBADF', 'sendfile');
    });

    it('EBADF for an output descriptor that is not open for writing', (t) => {
      const source = randomFile(t, 16);
      const input = openFor(t, source.path);
      const output = openFor(t, source.path, 'r');
      throwsSystemError(() => sendfile(output, input, 0, 16), 'EBADF', 'sendfile');
    });

    it('ESPIPE for an offset on an input that cannot seek (a pipe)', (t) => {
      const [readEnd] = closeAfter(t, pipe());
      const [other] = closeAfter(t, socketPair());
      throwsSystemError(() => sendfile(other, readEnd, 0, 16), 'ESPIPE', 'sendfile');
    });

    it('EINVAL for an output file opened with O_APPEND', (t) => {
      const source = randomFile(t, 16);
      const input = openFor(t, source.path);
      const output = openFor(t, join(tempDir(t), 'append.bin'), 'a');
      throwsSystemError(() => sendfile(output, input, 0, 16), 'EINVAL', 'sendfile');
    });

    it('EINVAL for a directory as input', (t) => {
      const directory = openFor(t, tempDir(t));
      const [, writeEnd] = closeAfter(t, pipe());
      throwsSystemError(() => sendfile(writeEnd, directory, 0, 16), 'EINVAL', 'sendfile');
    });

    it('EAGAIN once a non-blocking socket is full', (t) => {
      const source = randomFile(t, 16 * MiB);
      const input = openFor(t, source.path);
      const [left] = closeAfter(t, socketPair({ nonBlocking: true }));
      let sent = 0;
      // A Unix socket buffer holds well under 16 MiB: sendfile fills it, then says EAGAIN.
      throwsSystemError(
        () => {
          for (let calls = 0; calls < 1000; calls++) sent += sendfile(left, input, sent, MiB);
        },
        'EAGAIN',
        'sendfile',
      );
      assert.ok(sent > 0 && sent < source.bytes.length);
    });
  });

  describe('sendfileAsync, on the thread pool', () => {
    it('moves the same bytes as the synchronous call', async (t) => {
      const source = randomFile(t, 40 * KiB);
      const input = openFor(t, source.path);
      const [readEnd, writeEnd] = closeAfter(t, pipe());
      assert.equal(await sendfileAsync(writeEnd, input, 0, source.bytes.length), source.bytes.length);
      assert.equal(sha256(readExactly(readEnd, source.bytes.length)), source.hash);
    });

    it('runs several calls at once at their own offsets', async (t) => {
      const source = randomFile(t, 64 * KiB);
      const input = openFor(t, source.path);
      const targetPath = join(tempDir(t), 'target.bin');
      writeFileSync(targetPath, Buffer.alloc(0));
      const outputs = Array.from({ length: 4 }, (_, index) => openFor(t, `${targetPath}.${index}`, 'w'));
      const quarter = source.bytes.length / 4;
      const counts = await Promise.all(outputs.map((fd, index) => sendfileAsync(fd, input, index * quarter, quarter)));
      assert.deepEqual(counts, [quarter, quarter, quarter, quarter]);
      const joined = Buffer.concat(outputs.map((_, index) => readFileSync(`${targetPath}.${index}`)));
      assert.equal(sha256(joined), source.hash);
    });

    it('reaches past 4 GiB', async (t) => {
      const marker = randomBytes(64);
      const offset = 4 * GiB + 1;
      const input = openFor(t, sparseFile(t, 5 * GiB, [{ offset, bytes: marker }]));
      const [readEnd, writeEnd] = closeAfter(t, pipe());
      assert.equal(await sendfileAsync(writeEnd, input, offset, 64), 64);
      assert.deepEqual(readExactly(readEnd, 64), marker);
    });

    it('rejects with EBADF for a closed descriptor', async (t) => {
      const [, writeEnd] = closeAfter(t, pipe());
      // Closed after the pipe exists, so the pipe cannot have been given its number.
      const input = openSync(randomFile(t, 16).path, 'r');
      closeSync(input);
      await rejectsSystemError(sendfileAsync(writeEnd, input, 0, 16), 'EBADF', 'sendfile');
    });

    it('rejects bad arguments before queueing any work', async (t) => {
      const [, writeEnd] = closeAfter(t, pipe());
      await assert.rejects(sendfileAsync(writeEnd, wrongType('0'), 0, 1), { code: 'ERR_INVALID_ARG_TYPE' });
      await assert.rejects(sendfileAsync(writeEnd, 0, -1, 1), { code: 'ERR_OUT_OF_RANGE' });
    });
  });

  describe('argument validation, before any system call', () => {
    const cases: Array<[string, unknown, unknown, unknown, unknown, string]> = [
      ['a negative outFd', -1, 'in', 0, 1, 'ERR_OUT_OF_RANGE'],
      ['a fractional inFd', 'out', 3.5, 0, 1, 'ERR_OUT_OF_RANGE'],
      ['an inFd above 2^31 - 1', 'out', 2 ** 31, 0, 1, 'ERR_OUT_OF_RANGE'],
      ['a string descriptor', '3', 'in', 0, 1, 'ERR_INVALID_ARG_TYPE'],
      ['a net.Socket-like object as descriptor', { fd: 3 }, 'in', 0, 1, 'ERR_INVALID_ARG_TYPE'],
      ['a negative offset', 'out', 'in', -1, 1, 'ERR_OUT_OF_RANGE'],
      ['a negative bigint offset', 'out', 'in', -1n, 1, 'ERR_OUT_OF_RANGE'],
      ['a fractional offset', 'out', 'in', 0.5, 1, 'ERR_OUT_OF_RANGE'],
      ['an offset above 2^53 - 1', 'out', 'in', 2 ** 53, 1, 'ERR_OUT_OF_RANGE'],
      ['a bigint offset above 2^53 - 1', 'out', 'in', 2n ** 64n, 1, 'ERR_OUT_OF_RANGE'],
      ['a NaN offset', 'out', 'in', Number.NaN, 1, 'ERR_OUT_OF_RANGE'],
      ['a string offset', 'out', 'in', '0', 1, 'ERR_INVALID_ARG_TYPE'],
      ['a negative count', 'out', 'in', 0, -1, 'ERR_OUT_OF_RANGE'],
      ['a fractional count', 'out', 'in', 0, 1.5, 'ERR_OUT_OF_RANGE'],
      ['an infinite count', 'out', 'in', 0, Number.POSITIVE_INFINITY, 'ERR_OUT_OF_RANGE'],
      ['a missing count', 'out', 'in', 0, undefined, 'ERR_INVALID_ARG_TYPE'],
    ];
    for (const [what, outFd, inFd, offset, count, code] of cases) {
      it(`refuses ${what} with ${code}, moving nothing`, (t) => {
        const source = randomFile(t, 64);
        const input = openFor(t, source.path);
        const [readEnd, writeEnd] = closeAfter(t, pipe({ nonBlocking: true }));
        const pick = (value: unknown) => (value === 'out' ? writeEnd : value === 'in' ? input : value);
        throwsCode(
          () => sendfile(wrongType(pick(outFd)), wrongType(pick(inFd)), wrongType(offset), wrongType(count)),
          code,
        );
        throwsCode(() => readSync(readEnd, Buffer.alloc(1)), 'EAGAIN');
        assert.deepEqual(readExactly(input, 4), source.bytes.subarray(0, 4));
      });
    }
  });
});
