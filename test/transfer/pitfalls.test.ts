// The places where zero-copy code usually goes wrong: per-call caps, offsets past 4 GiB,
// copy_file_range rounds, a file copied onto itself, a file that shrinks, a pipe left
// holding bytes, splice's ambiguous EAGAIN, and input that must be refused before any write.
import assert from 'node:assert/strict';
import * as fsSync from 'node:fs';
import {
  closeSync,
  ftruncateSync,
  linkSync,
  mkdirSync,
  openSync,
  readFileSync,
  statSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { open } from 'node:fs/promises';
import type { Socket } from 'node:net';
import { join } from 'node:path';
import { before, describe, it, type TestContext } from 'node:test';

import { idlePipeCount, type TransferError, transfer } from '../../src/transfer/index.js';
import { closeQuietly, sha256, tcpPair, tempDir } from '../support/fixtures.js';
import {
  drain,
  eventually,
  fileWith,
  GB,
  KB,
  MB,
  payload,
  pipeSocket,
  requireAddon,
  testPipe,
  within,
} from '../support/transfer.js';

before(requireAddon);

function transferError(error: unknown): TransferError {
  assert.ok(error instanceof Error, `expected an Error, got ${String(error)}`);
  return error as TransferError;
}

/** Reads a socket, counting bytes and keeping the bytes at a few absolute offsets. */
function probeReader(socket: Socket, offsets: number[], width: number) {
  let count = 0;
  const seen = new Map<number, Buffer>(offsets.map((offset) => [offset, Buffer.alloc(0)]));
  socket.on('data', (chunk: Buffer) => {
    const start = count;
    count += chunk.byteLength;
    for (const offset of offsets) {
      const have = seen.get(offset) as Buffer;
      if (have.byteLength >= width) continue;
      const from = offset + have.byteLength;
      if (from >= start && from < count) {
        const take = chunk.subarray(from - start, Math.min(chunk.byteLength, from - start + width - have.byteLength));
        seen.set(offset, Buffer.concat([have, take]));
      }
    }
  });
  const done = new Promise<number>((resolve) => socket.once('end', () => resolve(count)));
  return { done, seen };
}

describe('sendfile past its per-call cap', () => {
  it('sends a 2.1 GiB sparse file to a counting reader with the right count and markers', async (t) => {
    const size = 2 * GB + 100 * MB;
    const markers = [0, 2 * GB - 3, size - 16];
    const path = sparseWithMarkers(tempDir(t, 'zc-big-'), size, markers);
    const { client, server } = await tcpPair(t);
    const reader = probeReader(server, markers, 16);
    const started = Date.now();
    const report = await within(transfer(path, client), 60_000, 'a 2.1 GiB sendfile');
    client.end();
    const count = await within(reader.done, 30_000, 'the reader to count everything');
    t.diagnostic(`2.1 GiB sparse -> TCP in ${Date.now() - started} ms, ${report.syscalls} calls`);
    assert.equal(report.method, 'sendfile');
    assert.equal(report.bytes, size);
    assert.equal(count, size);
    for (const offset of markers) assert.deepEqual(reader.seen.get(offset), marker(offset));
  });
});

function marker(offset: number): Buffer {
  return Buffer.from(`@${offset.toString(16).padStart(15, '0')}`);
}

/** A sparse file of `size` bytes with a 16-byte marker at each offset. */
function sparseWithMarkers(dir: string, size: number, offsets: number[]): string {
  const path = join(dir, 'sparse.bin');
  const fd = openSync(path, 'w+');
  try {
    ftruncateSync(fd, size);
    for (const offset of offsets) writeSync(fd, marker(offset), 0, 16, offset);
  } finally {
    closeSync(fd);
  }
  return path;
}

describe('ranges past 4 GiB of a sparse file', () => {
  const FOUR = 4 * GB;
  const at = FOUR + 5 * MB + 7;
  const size = FOUR + 16 * MB;
  const range = { offset: at - 100, length: 2 * MB };
  const expected = Buffer.alloc(range.length);
  marker(at).copy(expected, 100);

  it('file -> file (copy_file_range) copies exactly the range', async (t) => {
    const dir = tempDir(t, 'zc-4g-');
    const source = sparseWithMarkers(dir, size, [at]);
    const destination = join(dir, 'out.bin');
    const report = await transfer(source, destination, range);
    assert.equal(report.method, 'copy_file_range');
    assert.equal(report.bytes, range.length);
    assert.ok(readFileSync(destination).equals(expected));
  });

  it('file -> socket (sendfile) sends exactly the range', async (t) => {
    const source = sparseWithMarkers(tempDir(t, 'zc-4g-'), size, [at]);
    const { client, server } = await tcpPair(t);
    const received = drain(server);
    const report = await transfer(source, client, range);
    client.end();
    assert.equal(report.method, 'sendfile');
    assert.equal((await received.done).hash, sha256(expected));
  });

  it('file -> pipe (splice) sends exactly the range', async (t) => {
    const source = sparseWithMarkers(tempDir(t, 'zc-4g-'), size, [at]);
    const { readFd, writeFd } = testPipe(t);
    const received = drain(pipeSocket(readFd, 'read'));
    const report = await transfer(source, writeFd, range);
    closeSync(writeFd);
    assert.equal(report.method, 'splice');
    assert.equal((await received.done).hash, sha256(expected));
  });

  it('the last byte of a 4 GiB + 1 file, by offset alone', async (t) => {
    const dir = tempDir(t, 'zc-4g-');
    const source = join(dir, 'edge.bin');
    const fd = openSync(source, 'w+');
    ftruncateSync(fd, FOUR + 1);
    writeSync(fd, Buffer.from('Z'), 0, 1, FOUR);
    closeSync(fd);
    const destination = join(dir, 'out.bin');
    const report = await transfer(source, destination, { offset: FOUR, smallTransferBytes: 0 });
    assert.equal(report.bytes, 1);
    assert.equal(readFileSync(destination, 'latin1'), 'Z');
  });
});

describe('copy_file_range in rounds', () => {
  it('a 200 MiB sparse file arrives whole, in several calls, with every marker in place', async (t) => {
    const dir = tempDir(t, 'zc-rounds-');
    const size = 200 * MB + 3;
    const markers = [0, 64 * MB - 8, 64 * MB + 8, 128 * MB, size - 16];
    const source = sparseWithMarkers(dir, size, markers);
    const destination = join(dir, 'copy.bin');
    const report = await transfer(source, destination);
    assert.equal(report.method, 'copy_file_range');
    assert.equal(report.bytes, size);
    assert.ok(report.syscalls >= 4, `expected several rounds, got ${report.syscalls}`);
    assert.equal(statSync(destination).size, size);
    const fd = openSync(destination, 'r');
    t.after(() => closeQuietly(fd));
    for (const offset of markers) {
      const got = Buffer.alloc(16);
      readSyncAt(fd, got, offset);
      assert.deepEqual(got, marker(offset), `marker at ${offset}`);
    }
  });
});

function readSyncAt(fd: number, into: Buffer, position: number): void {
  fsSync.readSync(fd, into, 0, into.byteLength, position);
}

describe('a file copied onto itself', () => {
  it('by path: ERR_ZEROCOPY_SAME_FILE and the file intact', async (t) => {
    const { bytes, hash } = payload(MB + 1);
    const path = fileWith(t, bytes);
    await assert.rejects(transfer(path, path), { code: 'ERR_ZEROCOPY_SAME_FILE' });
    assert.equal(sha256(readFileSync(path)), hash);
  });

  it('by a hard link: the same inode is refused too', async (t) => {
    const { bytes, hash } = payload(MB + 1);
    const path = fileWith(t, bytes);
    const link = `${path}.link`;
    linkSync(path, link);
    await assert.rejects(transfer(path, link), { code: 'ERR_ZEROCOPY_SAME_FILE' });
    assert.equal(sha256(readFileSync(path)), hash);
  });

  it('by descriptor and by FileHandle: refused, the file intact', async (t) => {
    const { bytes, hash } = payload(MB + 1);
    const path = fileWith(t, bytes);
    const reading = openSync(path, 'r');
    const writing = openSync(path, 'r+');
    t.after(() => {
      closeQuietly(reading);
      closeQuietly(writing);
    });
    await assert.rejects(transfer(reading, writing), { code: 'ERR_ZEROCOPY_SAME_FILE' });
    await assert.rejects(transfer(writing, writing), { code: 'ERR_ZEROCOPY_SAME_FILE' });
    const handle = await open(path, 'r+');
    t.after(() => handle.close().catch(() => {}));
    await assert.rejects(transfer(handle, path), { code: 'ERR_ZEROCOPY_SAME_FILE' });
    await assert.rejects(transfer(path, handle), { code: 'ERR_ZEROCOPY_SAME_FILE' });
    assert.equal(sha256(readFileSync(path)), hash);
  });
});

describe('a file that shrinks mid-transfer', () => {
  for (const to of ['socket (sendfile)', 'pipe (splice)', 'TLS-less copy (O_APPEND file)'] as const) {
    it(`-> ${to}: ERR_ZEROCOPY_SOURCE_TRUNCATED with progress, never a hang`, async (t) => {
      const size = 64 * MB;
      const path = fileWith(t, payload(size).bytes);
      let destination: number | Socket;
      let progress: () => number;
      let resume: () => void;
      if (to === 'socket (sendfile)') {
        const { client, server } = await tcpPair(t);
        const received = drain(server, { keep: true });
        server.pause();
        destination = client;
        progress = received.bytes;
        resume = () => server.resume();
        // Let the kernel buffers fill, then the reader drains slowly.
        setTimeout(() => server.resume(), 50);
      } else if (to === 'pipe (splice)') {
        const { readFd, writeFd } = testPipe(t);
        const reader = pipeSocket(readFd, 'read');
        t.after(() => reader.destroy());
        const received = drain(reader);
        destination = writeFd;
        progress = received.bytes;
        resume = () => {};
      } else {
        const out = join(tempDir(t), 'append.bin');
        const fd = openSync(out, 'a');
        t.after(() => closeQuietly(fd));
        destination = fd;
        progress = () => statSync(out).size;
        resume = () => {};
      }
      const pending = transfer(path, destination);
      const outcome = pending.then(
        (report) => ({ report, error: undefined }),
        (error: unknown) => ({ report: undefined, error }),
      );
      await within(
        eventually(() => progress() > 0, 10_000, 'the first bytes'),
        11_000,
        'the first bytes',
      );
      const cut = openSync(path, 'r+');
      ftruncateSync(cut, MB);
      closeSync(cut);
      resume();
      const { report, error } = await within(outcome, 15_000, 'the transfer of a shrinking file');
      assert.equal(report, undefined, `a transfer that outran the truncation: ${JSON.stringify(report)}`);
      const failure = transferError(error);
      assert.equal(failure.code, 'ERR_ZEROCOPY_SOURCE_TRUNCATED', failure.message);
      assert.ok(failure.bytesTransferred >= MB && failure.bytesTransferred < size, String(failure.bytesTransferred));
    });
  }
});

describe('a pooled pipe that holds bytes when a transfer fails', () => {
  it('is destroyed, and the next transfer through the pool carries no stale bytes', async (t) => {
    const size = 32 * MB;
    const { client: feeder, server: source } = await tcpPair(t);
    const { client: destination, server: peer } = await tcpPair(t);
    feeder.on('error', () => {});
    peer.on('error', () => {});
    feeder.write(payload(size).bytes);
    // The peer never reads, then goes away while the pipe is full.
    peer.pause();
    const idleBefore = idlePipeCount();
    const pending = transfer(source, destination);
    const settled = pending.catch((error: unknown) => error);
    await new Promise((resolve) => setTimeout(resolve, 200));
    peer.resetAndDestroy();
    const failure = transferError(await within(settled, 10_000, 'the failed transfer'));
    assert.ok(['EPIPE', 'ECONNRESET'].includes(failure.code), failure.message);
    assert.ok(idlePipeCount() <= idleBefore, `a pipe went back to the pool: ${idlePipeCount()} > ${idleBefore}`);
    assert.ok(destination.destroyed, 'the destination socket is destroyed after a failure');

    // The pool still hands out clean pipes: socket -> socket carries exactly its own bytes.
    const { client: feeder2, server: source2 } = await tcpPair(t);
    const { client: destination2, server: peer2 } = await tcpPair(t);
    const received = drain(peer2);
    const { bytes, hash } = payload(MB + 1);
    feeder2.end(bytes);
    const report = await within(transfer(source2, destination2), 10_000, 'the next transfer');
    destination2.end();
    assert.equal(report.method, 'splice');
    assert.equal((await received.done).hash, hash);
  });
});

describe("splice's ambiguous EAGAIN", () => {
  it('socket -> socket through the pooled pipe with a slow writer and a slow reader', async (t) => {
    const { client: feeder, server: source } = await tcpPair(t);
    const { client: destination, server: reader } = await tcpPair(t);
    reader.setNoDelay(true);
    const { bytes, hash } = payload(4 * MB + 17);
    // Slow writer: uneven pieces with pauses.
    const writing = (async () => {
      let at = 0;
      for (let step = 0; at < bytes.byteLength && step < 10_000; step++) {
        const piece = (step % 7) * 37 * KB + 1;
        feeder.write(bytes.subarray(at, at + piece));
        at += piece;
        if (step % 5 === 0) await new Promise((resolve) => setTimeout(resolve, 2));
      }
      feeder.end();
    })();
    // Slow reader: pauses for a few ms every few chunks.
    const received = drain(reader);
    let chunks = 0;
    reader.on('data', () => {
      if (++chunks % 4 === 0) {
        reader.pause();
        setTimeout(() => reader.resume(), 3);
      }
    });
    const [report] = await within(Promise.all([transfer(source, destination), writing]), 30_000, 'slow -> slow');
    destination.end();
    assert.equal(report.method, 'splice');
    assert.equal(report.bytes, bytes.byteLength);
    assert.ok(report.waits > 0, 'a slow pair must have made the transfer wait');
    const arrived = await within(received.done, 10_000, 'the reader');
    assert.equal(arrived.bytes, bytes.byteLength);
    assert.equal(arrived.hash, hash);
  });
});

describe('ranges and offsets', () => {
  it('offset and length select the same bytes on every path', async (t) => {
    const { bytes } = payload(MB + 1);
    const path = fileWith(t, bytes);
    const range = { offset: 12345, length: 300 * KB };
    const expected = sha256(bytes.subarray(range.offset, range.offset + range.length));
    const out = join(tempDir(t), 'range.bin');
    const toFile = await transfer(path, out, range);
    assert.equal(toFile.method, 'copy_file_range');
    assert.equal(sha256(readFileSync(out)), expected);
    const { client, server } = await tcpPair(t);
    const received = drain(server);
    await transfer(path, client, range);
    client.end();
    assert.equal((await received.done).hash, expected);
    const fromBuffer = join(tempDir(t), 'buffer-range.bin');
    await transfer(bytes, fromBuffer, range);
    assert.equal(sha256(readFileSync(fromBuffer)), expected);
  });

  it('never moves the file position of a descriptor source', async (t) => {
    const path = fileWith(t, payload(MB + 1).bytes);
    const fd = openSync(path, 'r');
    t.after(() => closeQuietly(fd));
    fsSync.readSync(fd, Buffer.alloc(10), 0, 10, null);
    await transfer(fd, join(tempDir(t), 'out.bin'));
    const next = Buffer.alloc(4);
    fsSync.readSync(fd, next, 0, 4, null);
    assert.deepEqual(next, payload(MB + 1).bytes.subarray(10, 14));
  });

  it('writes at the current position of a descriptor destination', async (t) => {
    const path = fileWith(t, payload(MB + 1).bytes);
    const out = join(tempDir(t), 'out.bin');
    const fd = openSync(out, 'w');
    t.after(() => closeQuietly(fd));
    writeSync(fd, 'header:');
    await transfer(path, fd);
    writeSync(fd, ':trailer');
    closeSync(fd);
    const written = readFileSync(out);
    assert.equal(written.subarray(0, 7).toString(), 'header:');
    assert.equal(sha256(written.subarray(7, 7 + MB + 1)), payload(MB + 1).hash);
    assert.equal(written.subarray(7 + MB + 1).toString(), ':trailer');
  });
});

describe('bad input is refused before anything is written', () => {
  const EXISTING = 'the destination must survive bad input\n';

  async function refusedIntact(t: TestContext, options: object, code: string) {
    const source = fileWith(t, payload(MB + 1).bytes);
    const destination = join(tempDir(t), 'keep.txt');
    writeFileSync(destination, EXISTING);
    await assert.rejects(transfer(source, destination, options), (error: unknown) => {
      assert.equal(transferError(error).code, code, String(error));
      return true;
    });
    assert.equal(readFileSync(destination, 'utf8'), EXISTING);
  }

  for (const [name, options] of [
    ['a negative offset', { offset: -1 }],
    ['a fractional offset', { offset: 1.5 }],
    ['a negative length', { length: -5 }],
    ['a fractional length', { length: 0.25 }],
    ['an offset past the end', { offset: MB + 2 }],
    ['a length past the end', { length: MB + 2 }],
    ['offset + length past the end', { offset: MB, length: 2 }],
    ['an offset above 2^53', { offset: 2n ** 60n }],
  ] as const) {
    it(`${name}: ERR_OUT_OF_RANGE, the destination file untouched`, async (t) => {
      await refusedIntact(t, options, 'ERR_OUT_OF_RANGE');
    });
  }

  it('an unknown reflink mode: ERR_INVALID_ARG_VALUE, untouched', async (t) => {
    await refusedIntact(t, { reflink: 'sometimes' }, 'ERR_INVALID_ARG_VALUE');
  });

  it('an offset on a socket source: ERR_INVALID_ARG_VALUE, nothing read or written', async (t) => {
    const { client, server } = await tcpPair(t);
    client.write('still here');
    const destination = join(tempDir(t), 'keep.txt');
    writeFileSync(destination, EXISTING);
    await assert.rejects(transfer(server, destination, { offset: 1 }), { code: 'ERR_INVALID_ARG_VALUE' });
    assert.equal(readFileSync(destination, 'utf8'), EXISTING);
    const first = await new Promise<Buffer>((resolve) => server.once('data', resolve));
    assert.equal(first.toString(), 'still here');
  });

  it('a directory as source or destination: EISDIR, no descriptor left open', async (t) => {
    const dir = tempDir(t);
    const inner = join(dir, 'sub');
    mkdirSync(inner);
    const source = fileWith(t, payload(1).bytes);
    const before = fsSync.readdirSync('/proc/self/fd').length;
    await assert.rejects(transfer(inner, join(dir, 'x')), { code: 'EISDIR' });
    await assert.rejects(transfer(source, inner), { code: 'EISDIR' });
    const dirFd = openSync(inner, 'r');
    await assert.rejects(transfer(dirFd, join(dir, 'y')), { code: 'EISDIR' });
    closeSync(dirFd);
    await new Promise((resolve) => setTimeout(resolve, 20));
    assert.equal(fsSync.readdirSync('/proc/self/fd').length, before);
  });

  it('a closed socket, a closed descriptor, an unknown object, a missing file', async (t) => {
    const { client } = await tcpPair(t);
    client.destroy();
    const source = fileWith(t, payload(1).bytes);
    await assert.rejects(transfer(source, client), { code: 'ERR_SOCKET_CLOSED' });
    const fd = openSync(source, 'r');
    closeSync(fd);
    await assert.rejects(transfer(fd, join(tempDir(t), 'x')), { code: 'EBADF' });
    await assert.rejects(transfer(asSource({ read: () => 0 }), join(tempDir(t), 'x')), {
      code: 'ERR_INVALID_ARG_TYPE',
    });
    await assert.rejects(transfer(source, asDestination({ write: () => 0 })), { code: 'ERR_INVALID_ARG_TYPE' });
    await assert.rejects(transfer(source, asDestination(Buffer.alloc(4))), { code: 'ERR_INVALID_ARG_TYPE' });
    await assert.rejects(transfer(join(tempDir(t), 'missing'), join(tempDir(t), 'x')), { code: 'ENOENT' });
    await assert.rejects(transfer(asSource(-1), join(tempDir(t), 'x')), { code: 'ERR_OUT_OF_RANGE' });
    await assert.rejects(transfer(source, join(tempDir(t), 'x'), asOptions('fast')), { code: 'ERR_INVALID_ARG_TYPE' });
  });
});

function asSource(value: unknown): Parameters<typeof transfer>[0] {
  return value as Parameters<typeof transfer>[0];
}
function asDestination(value: unknown): Parameters<typeof transfer>[1] {
  return value as Parameters<typeof transfer>[1];
}
function asOptions(value: unknown): Parameters<typeof transfer>[2] {
  return value as Parameters<typeof transfer>[2];
}

describe('a Buffer into a pipe', () => {
  it('is what the reader gets even if the caller reuses the Buffer once transfer() resolves', async (t) => {
    const { readFd, writeFd } = testPipe(t, true);
    const bytes = Buffer.alloc(32 * KB, 0x41);
    const report = await transfer(bytes, writeFd);
    assert.equal(report.bytes, bytes.byteLength);
    // The caller owns its Buffer again: reusing it must not reach into the pipe.
    bytes.fill(0x42);
    const read = Buffer.alloc(32 * KB);
    const count = fsSync.readSync(readFd, read, 0, read.byteLength, null);
    assert.equal(count, bytes.byteLength);
    assert.ok(
      read.every((byte) => byte === 0x41),
      `the reader saw bytes written after the transfer (${report.method})`,
    );
  });

  it('with lendBuffer the pipe refers to the Buffer itself (vmsplice), and the reader gets its bytes', async (t) => {
    const { readFd, writeFd } = testPipe(t, true);
    const reader = pipeSocket(readFd, 'read');
    t.after(() => reader.destroy());
    const received = drain(reader);
    const { bytes, hash } = payload(3 * MB + 7);
    const report = await within(transfer(bytes, writeFd, { lendBuffer: true }), 10_000, 'Buffer -> pipe, lent');
    closeSync(writeFd);
    assert.equal(report.method, 'vmsplice');
    assert.equal(report.bytes, bytes.byteLength);
    assert.equal((await received.done).hash, hash);
  });

  it('a blocking pipe with a slow reader gets every byte', async (t) => {
    const { readFd, writeFd } = testPipe(t);
    const reader = pipeSocket(readFd, 'read');
    t.after(() => reader.destroy());
    const received = drain(reader);
    const { bytes, hash } = payload(4 * MB + 1);
    const report = await within(transfer(bytes, writeFd), 10_000, 'Buffer -> blocking pipe');
    closeSync(writeFd);
    assert.equal(report.method, 'write');
    assert.equal((await received.done).hash, hash);
  });
});
