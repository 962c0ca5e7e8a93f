import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { closeSync, openSync, readFileSync, readSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';

import { binding } from '../../src/binding/load.js';
import {
  describeDescriptor,
  getPipeSize,
  pipe,
  setPipeSize,
  socketDescriptor,
  socketPair,
  splice,
  spliceAsync,
  tee,
  vmsplice,
} from '../../src/index.js';
import {
  closeAfter,
  collect,
  fillUntilFull,
  GiB,
  hasCapability,
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

const CAP_SYS_RESOURCE = 24;

function isCloseOnExec(fd: number): boolean {
  const native = binding();
  return (native.fcntl(fd, native.constants.F_GETFD, 0) & native.constants.FD_CLOEXEC) !== 0;
}

describe('splice', () => {
  describe('moves bytes through a pipe', () => {
    it('from a file to a file, in chunks the pipe can hold', (t) => {
      const source = randomFile(t, 1 * MiB + 123);
      const input = openFor(t, source.path);
      const targetPath = join(tempDir(t), 'copy.bin');
      const output = openFor(t, targetPath, 'w');
      const [readEnd, writeEnd] = closeAfter(t, pipe());
      let done = 0;
      for (let rounds = 0; done < source.bytes.length && rounds < 1000; rounds++) {
        const queued = splice(input, done, writeEnd, null, 64 * KiB);
        if (queued === 0) break;
        let drained = 0;
        for (let calls = 0; drained < queued && calls < 1000; calls++) {
          drained += splice(readEnd, null, output, done + drained, queued - drained);
        }
        done += queued;
      }
      assert.equal(done, source.bytes.length);
      assert.equal(sha256(readFileSync(targetPath)), source.hash);
    });

    it('from a file to a loopback TCP socket', async (t) => {
      const source = randomFile(t, 2 * MiB);
      const input = openFor(t, source.path);
      const { client, server } = await tcpPair(t);
      const received = collect(server);
      const fd = socketDescriptor(client);
      const [readEnd, writeEnd] = closeAfter(t, pipe());
      let inPipe = 0;
      let read = 0;
      // Fill the pipe from the file, drain it to the socket; the socket may say EAGAIN.
      const sent = await pump(() => {
        if (inPipe === 0 && read < source.bytes.length) {
          inPipe = splice(input, read, writeEnd, null, source.bytes.length - read);
          read += inPipe;
        }
        const moved = splice(readEnd, null, fd, null, inPipe, { nonBlocking: true });
        inPipe -= moved;
        return moved;
      }, source.bytes.length);
      client.end();
      assert.equal(sent, source.bytes.length);
      assert.equal(sha256(await received), source.hash);
    });

    it('from a socket into a pipe', (t) => {
      const bytes = randomBytes(32 * KiB);
      const [left, right] = closeAfter(t, socketPair());
      const [readEnd, writeEnd] = closeAfter(t, pipe());
      writeSync(left, bytes);
      let moved = 0;
      for (let calls = 0; moved < bytes.length && calls < 100; calls++) {
        moved += splice(right, null, writeEnd, null, bytes.length - moved);
      }
      assert.equal(sha256(readExactly(readEnd, bytes.length)), sha256(bytes));
    });
  });

  describe('offsets', () => {
    it('with an offset on the file side, leaves the file position alone', (t) => {
      const source = randomFile(t, 8 * KiB);
      const input = openFor(t, source.path);
      const [readEnd, writeEnd] = closeAfter(t, pipe());
      assert.equal(splice(input, 4096, writeEnd, null, 100), 100);
      assert.deepEqual(readExactly(readEnd, 100), source.bytes.subarray(4096, 4196));
      assert.deepEqual(readExactly(input, 8), source.bytes.subarray(0, 8));
    });

    it('with null on the file side, uses and advances the file position', (t) => {
      const source = randomFile(t, 8 * KiB);
      const input = openFor(t, source.path);
      const [readEnd, writeEnd] = closeAfter(t, pipe());
      assert.equal(splice(input, null, writeEnd, null, 100), 100);
      assert.equal(splice(input, null, writeEnd, null, 100), 100);
      assert.deepEqual(readExactly(readEnd, 200), source.bytes.subarray(0, 200));
      assert.deepEqual(readExactly(input, 8), source.bytes.subarray(200, 208));
    });

    it('at the largest accepted offset (2^53 - 1): reading finds nothing, writing fails with EFBIG', (t) => {
      const input = openFor(t, randomFile(t, 64).path, 'r+');
      const [readEnd, writeEnd] = closeAfter(t, pipe());
      assert.equal(splice(input, Number.MAX_SAFE_INTEGER, writeEnd, null, 1), 0);
      writeSync(writeEnd, 'abc');
      throwsSystemError(() => splice(readEnd, null, input, Number.MAX_SAFE_INTEGER, 3), 'EFBIG', 'splice');
    });

    describe('past 4 GiB in a sparse file', () => {
      const marker = Buffer.from('splice crosses 2^32 without truncating the offset');
      const offset = 4 * GiB + 777;

      it('reads the bytes there into a pipe', (t) => {
        const input = openFor(t, sparseFile(t, 5 * GiB, [{ offset, bytes: marker }]));
        const [readEnd, writeEnd] = closeAfter(t, pipe());
        assert.equal(splice(input, BigInt(offset), writeEnd, null, marker.length), marker.length);
        assert.equal(sha256(readExactly(readEnd, marker.length)), sha256(marker));
      });

      it('writes bytes from a pipe there', (t) => {
        const path = sparseFile(t, 5 * GiB, []);
        const output = openFor(t, path, 'r+');
        const [readEnd, writeEnd] = closeAfter(t, pipe());
        writeSync(writeEnd, marker);
        assert.equal(splice(readEnd, null, output, offset, marker.length), marker.length);
        const back = Buffer.alloc(marker.length);
        readSync(output, back, 0, marker.length, offset);
        assert.deepEqual(back, marker);
        // Only those bytes changed: the hole before them still reads as zeros.
        const before = Buffer.alloc(16, 1);
        readSync(output, before, 0, 16, offset - 16);
        assert.deepEqual(before, Buffer.alloc(16));
      });
    });
  });

  describe('lengths', () => {
    it('a length of 0 returns 0 and moves nothing', (t) => {
      const source = randomFile(t, 64);
      const input = openFor(t, source.path);
      const [readEnd, writeEnd] = closeAfter(t, pipe({ nonBlocking: true }));
      assert.equal(splice(input, 0, writeEnd, null, 0), 0);
      throwsCode(() => readSync(readEnd, Buffer.alloc(1)), 'EAGAIN');
    });

    it('returns 0 at the end of a file and from an empty pipe with no writer', (t) => {
      const source = randomFile(t, 64);
      const input = openFor(t, source.path);
      const [readEnd, writeEnd] = closeAfter(t, pipe());
      assert.equal(splice(input, 64, writeEnd, null, 10), 0);
      const output = openFor(t, join(tempDir(t), 'out.bin'), 'w');
      closeSync(writeEnd);
      assert.equal(splice(readEnd, null, output, 0, 10), 0);
    });

    it('clamps a length above MAX_RW_COUNT instead of refusing it', (t) => {
      const source = randomFile(t, 1 * KiB);
      const input = openFor(t, source.path);
      const [readEnd, writeEnd] = closeAfter(t, pipe());
      assert.equal(splice(input, 0, writeEnd, null, 2 ** 45), source.bytes.length);
      assert.equal(sha256(readExactly(readEnd, source.bytes.length)), source.hash);
    });
  });

  describe('fails with the errno the kernel gave', () => {
    it('EBADF for a closed descriptor', (t) => {
      const [, writeEnd] = closeAfter(t, pipe());
      const input = openSync(randomFile(t, 16).path, 'r');
      closeSync(input);
      throwsSystemError(() => splice(input, 0, writeEnd, null, 16), 'EBADF', 'splice');
    });

    it('ESPIPE for an offset on the pipe side', (t) => {
      const [readEnd, writeEnd] = closeAfter(t, pipe());
      const output = openFor(t, join(tempDir(t), 'out.bin'), 'w');
      writeSync(writeEnd, 'abc');
      throwsSystemError(() => splice(readEnd, 0, output, 0, 3), 'ESPIPE', 'splice');
    });

    it('EINVAL when neither side is a pipe', (t) => {
      const source = randomFile(t, 16);
      const input = openFor(t, source.path);
      const output = openFor(t, join(tempDir(t), 'out.bin'), 'w');
      throwsSystemError(() => splice(input, 0, output, 0, 16), 'EINVAL', 'splice');
    });

    it('EAGAIN with nonBlocking from an empty pipe that still has a writer', (t) => {
      const [readEnd] = closeAfter(t, pipe());
      const output = openFor(t, join(tempDir(t), 'out.bin'), 'w');
      throwsSystemError(() => splice(readEnd, null, output, 0, 16, { nonBlocking: true }), 'EAGAIN', 'splice');
    });

    it('EAGAIN with nonBlocking into a full pipe', (t) => {
      const source = randomFile(t, 16);
      const input = openFor(t, source.path);
      const [, writeEnd] = closeAfter(t, pipe({ nonBlocking: true }));
      assert.ok(fillUntilFull(writeEnd) >= 4 * KiB);
      throwsSystemError(() => splice(input, 0, writeEnd, null, 16, { nonBlocking: true }), 'EAGAIN', 'splice');
    });
  });

  describe('spliceAsync, on the thread pool', () => {
    it('moves the same bytes as the synchronous call, past 4 GiB too', async (t) => {
      const marker = randomBytes(200);
      const offset = 4 * GiB + 8192;
      const input = openFor(t, sparseFile(t, 5 * GiB, [{ offset, bytes: marker }]));
      const [readEnd, writeEnd] = closeAfter(t, pipe());
      assert.equal(await spliceAsync(input, offset, writeEnd, null, 200, { more: true, move: true }), 200);
      assert.deepEqual(readExactly(readEnd, 200), marker);
    });

    it('rejects with ESPIPE, EINVAL and EBADF like the synchronous call', async (t) => {
      const source = randomFile(t, 16);
      const input = openFor(t, source.path);
      const [, writeEnd] = closeAfter(t, pipe());
      await rejectsSystemError(spliceAsync(input, 0, writeEnd, 0, 16), 'ESPIPE', 'splice');
      const output = openFor(t, join(tempDir(t), 'out.bin'), 'w');
      await rejectsSystemError(spliceAsync(input, 0, output, 0, 16), 'EINVAL', 'splice');
      const closed = openSync(source.path, 'r');
      closeSync(closed);
      await rejectsSystemError(spliceAsync(closed, 0, writeEnd, null, 16), 'EBADF', 'splice');
    });

    it('rejects bad arguments before queueing any work', async (t) => {
      const [readEnd, writeEnd] = closeAfter(t, pipe());
      await assert.rejects(spliceAsync(readEnd, null, writeEnd, null, -5), { code: 'ERR_OUT_OF_RANGE' });
      await assert.rejects(spliceAsync(readEnd, null, writeEnd, null, 5, wrongType({ nonBlocking: 1 })), {
        code: 'ERR_INVALID_ARG_TYPE',
      });
    });
  });

  describe('argument validation, before any system call', () => {
    const cases: Array<[string, unknown[], string]> = [
      ['a negative fdIn', [-1, null, 'w', null, 1], 'ERR_OUT_OF_RANGE'],
      ['a string fdOut', ['r', null, '4', null, 1], 'ERR_INVALID_ARG_TYPE'],
      ['a negative offIn', ['r', -1, 'w', null, 1], 'ERR_OUT_OF_RANGE'],
      ['a fractional offOut', ['r', null, 'w', 1.25, 1], 'ERR_OUT_OF_RANGE'],
      ['an offIn above 2^53 - 1', ['r', 2 ** 53 + 2, 'w', null, 1], 'ERR_OUT_OF_RANGE'],
      ['a bigint length above 2^53 - 1', ['r', null, 'w', null, 2n ** 60n], 'ERR_OUT_OF_RANGE'],
      ['a negative length', ['r', null, 'w', null, -1], 'ERR_OUT_OF_RANGE'],
      ['a boolean length', ['r', null, 'w', null, true], 'ERR_INVALID_ARG_TYPE'],
      ['options that are not an object', ['r', null, 'w', null, 1, 'nonblock'], 'ERR_INVALID_ARG_TYPE'],
      ['a non-boolean flag', ['r', null, 'w', null, 1, { more: 'yes' }], 'ERR_INVALID_ARG_TYPE'],
    ];
    for (const [what, args, code] of cases) {
      it(`refuses ${what} with ${code}`, (t) => {
        const [readEnd, writeEnd] = closeAfter(t, pipe({ nonBlocking: true }));
        const [, feeder] = closeAfter(t, pipe());
        writeSync(writeEnd, 'data');
        const pick = (value: unknown) => (value === 'r' ? readEnd : value === 'w' ? feeder : value);
        const [fdIn, offIn, fdOut, offOut, length, options] = args.map(pick);
        throwsCode(
          () =>
            splice(
              wrongType(fdIn),
              wrongType(offIn),
              wrongType(fdOut),
              wrongType(offOut),
              wrongType(length),
              wrongType(options),
            ),
          code,
        );
        // Nothing left the source pipe.
        assert.equal(readSync(readEnd, Buffer.alloc(10)), 4);
      });
    }
  });
});

describe('tee', () => {
  it('copies bytes into a second pipe and leaves them in the first', (t) => {
    const bytes = randomBytes(20 * KiB);
    const [sourceRead, sourceWrite] = closeAfter(t, pipe());
    const [copyRead, copyWrite] = closeAfter(t, pipe());
    writeSync(sourceWrite, bytes);
    let copied = 0;
    for (let calls = 0; copied < bytes.length && calls < 100; calls++) {
      copied = tee(sourceRead, copyWrite, bytes.length);
    }
    assert.equal(copied, bytes.length);
    assert.equal(sha256(readExactly(copyRead, bytes.length)), sha256(bytes));
    assert.equal(sha256(readExactly(sourceRead, bytes.length)), sha256(bytes));
  });

  it('copies at most `length` bytes', (t) => {
    const [sourceRead, sourceWrite] = closeAfter(t, pipe());
    const [copyRead, copyWrite] = closeAfter(t, pipe());
    writeSync(sourceWrite, 'abcdefgh');
    assert.equal(tee(sourceRead, copyWrite, 3), 3);
    assert.equal(readExactly(copyRead, 3).toString(), 'abc');
    assert.equal(readExactly(sourceRead, 8).toString(), 'abcdefgh');
  });

  it('returns 0 for a length of 0', (t) => {
    const [sourceRead, sourceWrite] = closeAfter(t, pipe());
    const [, copyWrite] = closeAfter(t, pipe());
    writeSync(sourceWrite, 'abc');
    assert.equal(tee(sourceRead, copyWrite, 0), 0);
  });

  it('fails with EINVAL when either side is not a pipe', (t) => {
    const source = randomFile(t, 16);
    const file = openFor(t, source.path);
    const [readEnd, writeEnd] = closeAfter(t, pipe());
    throwsSystemError(() => tee(file, writeEnd, 16), 'EINVAL', 'tee');
    writeSync(writeEnd, 'x');
    const output = openFor(t, join(tempDir(t), 'out.bin'), 'w');
    throwsSystemError(() => tee(readEnd, output, 1), 'EINVAL', 'tee');
  });

  it('fails with EAGAIN with nonBlocking on an empty pipe', (t) => {
    const [sourceRead] = closeAfter(t, pipe());
    const [, copyWrite] = closeAfter(t, pipe());
    throwsSystemError(() => tee(sourceRead, copyWrite, 16, { nonBlocking: true }), 'EAGAIN', 'tee');
  });

  it('refuses bad arguments with Node codes', (t) => {
    const [sourceRead] = closeAfter(t, pipe());
    throwsCode(() => tee(sourceRead, wrongType(null), 1), 'ERR_INVALID_ARG_TYPE');
    throwsCode(() => tee(sourceRead, sourceRead, -1), 'ERR_OUT_OF_RANGE');
    throwsCode(() => tee(sourceRead, sourceRead, 1, wrongType(5)), 'ERR_INVALID_ARG_TYPE');
  });
});

describe('vmsplice', () => {
  it('queues one buffer whose bytes read back from the pipe', (t) => {
    const bytes = randomBytes(16 * KiB);
    const [readEnd, writeEnd] = closeAfter(t, pipe());
    assert.equal(vmsplice(writeEnd, bytes), bytes.length);
    assert.equal(sha256(readExactly(readEnd, bytes.length)), sha256(bytes));
  });

  it('gathers a list of Buffers, TypedArrays and DataViews in order', (t) => {
    const parts = [randomBytes(1000), new Uint16Array([1, 2, 3]), new DataView(randomBytes(64).buffer, 8, 32)];
    const expected = Buffer.concat(parts.map((part) => Buffer.from(part.buffer, part.byteOffset, part.byteLength)));
    const [readEnd, writeEnd] = closeAfter(t, pipe());
    assert.equal(vmsplice(writeEnd, parts), expected.length);
    assert.equal(sha256(readExactly(readEnd, expected.length)), sha256(expected));
  });

  it('returns 0 for an empty list and for an empty buffer', (t) => {
    const [, writeEnd] = closeAfter(t, pipe());
    assert.equal(vmsplice(writeEnd, []), 0);
    assert.equal(vmsplice(writeEnd, Buffer.alloc(0)), 0);
  });

  it('queues only what fits in a non-blocking pipe, then fails with EAGAIN', (t) => {
    const bytes = randomBytes(256 * KiB);
    const [readEnd, writeEnd] = closeAfter(t, pipe({ nonBlocking: true }));
    const queued = vmsplice(writeEnd, bytes, { nonBlocking: true });
    assert.ok(queued > 0 && queued < bytes.length, `queued ${queued}`);
    throwsSystemError(() => vmsplice(writeEnd, bytes.subarray(queued), { nonBlocking: true }), 'EAGAIN', 'vmsplice');
    assert.equal(sha256(readExactly(readEnd, queued)), sha256(bytes.subarray(0, queued)));
  });

  it('fails with EBADF on a descriptor that is not a pipe', (t) => {
    const file = openFor(t, randomFile(t, 16).path);
    throwsSystemError(() => vmsplice(file, Buffer.from('x')), 'EBADF', 'vmsplice');
  });

  it('refuses more than IOV_MAX (1024) buffers with EINVAL before calling the kernel', (t) => {
    const [readEnd, writeEnd] = closeAfter(t, pipe({ nonBlocking: true }));
    const many = Array.from({ length: 1025 }, () => Buffer.from('x'));
    throwsSystemError(() => vmsplice(writeEnd, many), 'EINVAL', 'vmsplice');
    throwsCode(() => readSync(readEnd, Buffer.alloc(1)), 'EAGAIN');
  });

  it('refuses things that are not byte views with ERR_INVALID_ARG_TYPE', (t) => {
    const [, writeEnd] = closeAfter(t, pipe());
    throwsCode(() => vmsplice(writeEnd, wrongType('text')), 'ERR_INVALID_ARG_TYPE');
    throwsCode(() => vmsplice(writeEnd, wrongType(new ArrayBuffer(8))), 'ERR_INVALID_ARG_TYPE');
    throwsCode(() => vmsplice(writeEnd, wrongType([Buffer.from('ok'), 'not ok'])), 'ERR_INVALID_ARG_TYPE');
    throwsCode(() => vmsplice(wrongType(-2), Buffer.from('x')), 'ERR_OUT_OF_RANGE');
  });
});

describe('pipe', () => {
  it('gives two close-on-exec ends that carry bytes from the second to the first', (t) => {
    const [readEnd, writeEnd] = closeAfter(t, pipe());
    assert.ok(isCloseOnExec(readEnd) && isCloseOnExec(writeEnd));
    assert.equal(describeDescriptor(readEnd).kind, 'pipe');
    assert.equal(describeDescriptor(readEnd).accessMode, 'read');
    assert.equal(describeDescriptor(writeEnd).accessMode, 'write');
    assert.equal(describeDescriptor(readEnd).nonBlocking, false);
    writeSync(writeEnd, 'through');
    assert.equal(readExactly(readEnd, 7).toString(), 'through');
  });

  it('with nonBlocking, makes both ends O_NONBLOCK', (t) => {
    const [readEnd, writeEnd] = closeAfter(t, pipe({ nonBlocking: true }));
    assert.equal(describeDescriptor(readEnd).nonBlocking, true);
    assert.equal(describeDescriptor(writeEnd).nonBlocking, true);
    throwsCode(() => readSync(readEnd, Buffer.alloc(1)), 'EAGAIN');
  });

  it('with a size, asks for at least that capacity', (t) => {
    const [readEnd, writeEnd] = closeAfter(t, pipe({ size: 256 * KiB }));
    assert.equal(getPipeSize(writeEnd), 256 * KiB);
    assert.equal(getPipeSize(readEnd), 256 * KiB);
  });

  it('refuses bad options', () => {
    throwsCode(() => pipe(wrongType('big')), 'ERR_INVALID_ARG_TYPE');
    throwsCode(() => pipe({ size: 0 }), 'ERR_OUT_OF_RANGE');
    throwsCode(() => pipe({ size: 1.5 }), 'ERR_OUT_OF_RANGE');
    throwsCode(() => pipe({ nonBlocking: wrongType('true') }), 'ERR_INVALID_ARG_TYPE');
  });

  describe('capacity (F_GETPIPE_SZ / F_SETPIPE_SZ)', () => {
    it('is 64 KiB by default', (t) => {
      const [, writeEnd] = closeAfter(t, pipe());
      assert.equal(getPipeSize(writeEnd), 64 * KiB);
    });

    it('rounds a requested size up to a power of two pages and returns what it granted', (t) => {
      const [readEnd, writeEnd] = closeAfter(t, pipe());
      assert.equal(setPipeSize(writeEnd, 100_000), 128 * KiB);
      assert.equal(getPipeSize(readEnd), 128 * KiB);
      assert.equal(setPipeSize(writeEnd, 1), binding().constants.PAGE_SIZE);
    });

    it('holds that many bytes before a non-blocking write says EAGAIN', (t) => {
      const [, writeEnd] = closeAfter(t, pipe({ nonBlocking: true, size: 128 * KiB }));
      assert.equal(fillUntilFull(writeEnd), 128 * KiB);
    });

    it('cannot shrink below the bytes already in the pipe (EBUSY)', (t) => {
      const [, writeEnd] = closeAfter(t, pipe());
      writeSync(writeEnd, Buffer.alloc(40 * KiB));
      throwsSystemError(() => setPipeSize(writeEnd, 4096), 'EBUSY', 'fcntl');
    });

    it('above pipe-max-size: EPERM without CAP_SYS_RESOURCE, granted with it', (t) => {
      const max = Number(readFileSync('/proc/sys/fs/pipe-max-size', 'utf8'));
      const [, writeEnd] = closeAfter(t, pipe());
      if (hasCapability(CAP_SYS_RESOURCE)) {
        t.diagnostic('this process has CAP_SYS_RESOURCE: the limit does not apply to it');
        assert.ok(setPipeSize(writeEnd, max * 2) >= max * 2);
      } else {
        t.diagnostic(`no CAP_SYS_RESOURCE here (even as uid ${process.getuid?.()}): the limit applies`);
        throwsSystemError(() => setPipeSize(writeEnd, max * 2), 'EPERM', 'fcntl');
        throwsSystemError(() => pipe({ size: max * 2 }), 'EPERM', 'fcntl');
      }
      assert.equal(setPipeSize(writeEnd, max), max);
    });

    it('fails with EBADF on a descriptor that is not a pipe', (t) => {
      const file = openFor(t, randomFile(t, 16).path);
      throwsSystemError(() => getPipeSize(file), 'EBADF', 'fcntl');
      throwsSystemError(() => setPipeSize(file, 8192), 'EBADF', 'fcntl');
    });

    it('refuses sizes that are not positive 32-bit integers', (t) => {
      const [, writeEnd] = closeAfter(t, pipe());
      throwsCode(() => setPipeSize(writeEnd, 0), 'ERR_OUT_OF_RANGE');
      throwsCode(() => setPipeSize(writeEnd, 2 ** 31), 'ERR_OUT_OF_RANGE');
      throwsCode(() => setPipeSize(writeEnd, wrongType('64k')), 'ERR_INVALID_ARG_TYPE');
    });
  });
});
