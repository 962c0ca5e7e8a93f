// fanout(): one source to many destinations through tee(2), joins and leaves, lag policies,
// failures, abort, and no descriptor left behind.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { closeSync, openSync, readFileSync, readSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';

import { type DestinationReport, type FanoutError, fanout } from '../../src/fanout/index.js';
import { pipe } from '../../src/primitives/splice.js';
import { idlePipeCount } from '../../src/transfer/pipe-pool.js';
import { openDescriptorCount, sha256, tcpPair, tempDir, tlsPair } from '../support/fixtures.js';
import {
  drain,
  eventually,
  fileWith,
  KB,
  MB,
  payload,
  pipeSocket,
  requireAddon,
  tinyReceiveBuffer,
  tinySendBuffer,
  within,
} from '../support/transfer.js';
import { sha256Of, tcpReaders } from './support.js';

requireAddon();

/** The soft RLIMIT_NOFILE of this process (Node raises it to the hard limit at start-up). */
function openFileLimit(): number {
  const line = readFileSync('/proc/self/limits', 'utf8')
    .split('\n')
    .find((each) => each.startsWith('Max open files'));
  const soft = line?.split(/\s{2,}/)[1];
  return soft === undefined || soft === 'unlimited' ? Number.POSITIVE_INFINITY : Number(soft);
}

function outcomes(reports: DestinationReport[]): string[] {
  return reports.map((report) => report.outcome);
}

describe('fanout(): every destination gets every byte', () => {
  for (const count of [1, 2, 16, 500]) {
    it(`a file to ${count} TCP destinations`, async (t) => {
      // Each destination takes about six descriptors: two sockets, a dup, a pipe or two.
      if (openFileLimit() < count * 8) {
        t.skip(`the open-file limit (${openFileLimit()}) is too low for ${count} destinations`);
        return;
      }
      const size = count >= 500 ? 2 * MB + 3 : 16 * MB + 3;
      const { bytes, hash } = payload(size);
      const source = fileWith(t, bytes);
      const readers = await tcpReaders(t, count);
      const report = await within(
        fanout(
          source,
          readers.map((reader) => reader.socket),
        ).done,
        60_000,
        'the fan-out',
      );
      for (const reader of readers) reader.socket.end();
      const received = await Promise.all(readers.map((reader) => reader.drain.done));
      assert.equal(report.bytes, size);
      assert.equal(report.delivered, size * count);
      assert.equal(report.sourceMethod, 'splice');
      for (const each of received) assert.deepEqual(each, { bytes: size, hash });
      for (const each of report.destinations) {
        assert.equal(each.outcome, 'finished');
        assert.equal(each.method, 'splice');
        assert.equal(each.bytes, size);
      }
    });
  }

  it('a socket source to a file, a pipe and a socket at once', async (t) => {
    const size = 8 * MB + 7;
    const { bytes, hash } = payload(size);
    const dir = tempDir(t);
    const sourcePair = await tcpPair(t);
    const [readFd, writeFd] = pipe({ nonBlocking: true });
    const pipeReader = pipeSocket(readFd, 'read');
    const pipeChunks: Buffer[] = [];
    pipeReader.on('data', (chunk: Buffer) => pipeChunks.push(chunk));
    const pipeDone = new Promise((resolve) => pipeReader.once('end', resolve));
    const [reader] = await tcpReaders(t, 1);
    const file = join(dir, 'copy.bin');
    // Some bytes reach Node's buffer before the fan-out leases the socket: they come first.
    sourcePair.server.pause();
    sourcePair.client.write(bytes.subarray(0, 1000));
    await eventually(() => sourcePair.server.readableLength > 0 || true, 1000, 'bytes');
    const running = fanout(sourcePair.server, [file, writeFd, reader?.socket as never]);
    sourcePair.client.end(bytes.subarray(1000));
    const report = await within(running.done, 30_000, 'the fan-out');
    closeSync(writeFd);
    reader?.socket.end();
    await pipeDone;
    assert.equal(report.bytes, size);
    assert.deepEqual(outcomes(report.destinations), ['finished', 'finished', 'finished']);
    assert.deepEqual(
      report.destinations.map((each) => each.kind),
      ['file', 'pipe', 'socket'],
    );
    assert.equal(sha256(readFileSync(file)), hash);
    assert.equal(sha256Of(Buffer.concat(pipeChunks)), hash);
    assert.deepEqual(await reader?.drain.done, { bytes: size, hash });
  });

  it('a file from an offset, for a length', async (t) => {
    const { bytes } = payload(3 * MB);
    const source = fileWith(t, bytes);
    const out = join(tempDir(t), 'part.bin');
    const report = await fanout(source, [out], { offset: 100_000, length: 1_000_000 });
    assert.equal(report.bytes, 1_000_000);
    assert.equal(sha256(readFileSync(out)), sha256Of(bytes.subarray(100_000, 1_100_000)));
  });

  it('an append-only file is copied to, and the report says so', async (t) => {
    const { bytes } = payload(2 * MB + 1);
    const source = fileWith(t, bytes);
    const out = join(tempDir(t), 'log.bin');
    const fd = openSync(out, 'a');
    writeSync(fd, 'head:');
    try {
      const report = await fanout(source, [fd, join(tempDir(t), 'plain.bin')]);
      const [appended, plain] = report.destinations;
      assert.equal(appended?.method, 'copy');
      assert.deepEqual(appended?.fallback, { reason: 'append-only destination' });
      assert.equal(plain?.method, 'splice');
      assert.equal(plain?.fallback, undefined);
    } finally {
      closeSync(fd);
    }
    assert.equal(sha256(readFileSync(out)), sha256Of(Buffer.concat([Buffer.from('head:'), bytes])));
  });

  it('a TLS socket is copied to and read by copying, and the report says so', async (t) => {
    const size = 3 * MB + 17;
    const { bytes, hash } = payload(size);
    const toTls = await tlsPair(t);
    if (toTls === undefined) return;
    const [plain] = await tcpReaders(t, 1);
    assert.ok(plain !== undefined);
    const arrived = drain(toTls.server);
    const report = await fanout(fileWith(t, bytes), [toTls.client, plain.socket]);
    toTls.client.end();
    plain.socket.end();
    assert.deepEqual(await arrived.done, { bytes: size, hash });
    assert.deepEqual(await plain.drain.done, { bytes: size, hash });
    assert.equal(report.destinations[0]?.method, 'copy');
    assert.deepEqual(report.destinations[0]?.fallback, { reason: 'tls' });
    assert.equal(report.destinations[1]?.method, 'splice');

    const fromTls = await tlsPair(t);
    if (fromTls === undefined) return;
    const out = join(tempDir(t), 'from-tls.bin');
    const running = fanout(fromTls.server, [out]);
    fromTls.client.end(bytes);
    const fromReport = await within(running.done, 20_000, 'the fan-out from TLS');
    assert.equal(fromReport.sourceMethod, 'copy');
    assert.deepEqual(fromReport.sourceFallback, { reason: 'tls' });
    assert.equal(sha256(readFileSync(out)), hash);
  });

  it('follows a growing file until end()', async (t) => {
    const dir = tempDir(t);
    const source = join(dir, 'growing.log');
    const fd = openSync(source, 'w');
    t.after(() => closeSync(fd));
    writeSync(fd, 'first\n');
    const out = join(dir, 'out.log');
    const running = fanout(source, [out], { follow: true, followIntervalMs: 10 });
    await eventually(() => running.position === 6, 5000, 'the first line');
    writeSync(fd, 'second\n');
    await eventually(() => running.position === 13, 5000, 'the second line');
    running.end();
    const report = await within(running.done, 5000, 'the fan-out');
    assert.equal(report.bytes, 13);
    assert.equal(readFileSync(out, 'utf8'), 'first\nsecond\n');
  });
});

/** A live source: a TCP pair whose writing end the test feeds. */
async function liveSource(t: Parameters<typeof tcpPair>[0]) {
  const pair = await tcpPair(t);
  return { source: pair.server, feed: pair.client };
}

// The signal of the storm below. Not SIGUSR2: that is the diagnostic report's signal, and
// Node 24's test runner starts each test file with --report-signal=SIGUSR2, which turns
// report-on-signal on: a report file written per signal, the event loop too busy writing them
// to run the fan-out. SIGWINCH means nothing to Node off a terminal, and a late one after the
// listener is gone is ignored rather than fatal.
const STORM_SIGNAL = 'SIGWINCH';
// Signals that must arrive while the fan-out runs for the test to say anything: a 32 MiB
// fan-out to 4 readers over loopback takes a hundred or more (about 120 here).
const STORM_MINIMUM = 10;
// kill()s per millisecond. A signal does not queue behind one already pending, so a burst keeps
// one pending through more of each splice: with the core that took a short splice for a full
// socket, bursts of 8 stalled the fan-out in 4 runs of 6 on Node 24 and 3 of 3 on Node 20,
// single signals in 3 of 9 on Node 24 and 0 of 3 on Node 20.
const STORM_BURST = 8;

describe('fanout(): signals', () => {
  it('a stream of signals (a profiler, SIGCHLD) neither stalls nor corrupts it', async (t) => {
    // splice(2) stops early, with what it moved, when a signal is pending: a short write then
    // says nothing about the destination being full, and waiting for it to drain would hang.
    const size = 32 * MB + 5;
    const { bytes, hash } = payload(size);
    const source = fileWith(t, bytes);
    const readers = await tcpReaders(t, 4);
    if (process.report.reportOnSignal && process.report.signal === STORM_SIGNAL) {
      process.report.reportOnSignal = false;
      t.after(() => {
        process.report.reportOnSignal = true;
      });
    }
    let arrived = 0;
    const count = () => {
      arrived++;
    };
    process.on(STORM_SIGNAL, count);
    const sender = spawn(
      process.execPath,
      [
        '-e',
        `setInterval(() => { for (let i = 0; i < ${STORM_BURST}; i++) process.kill(${process.pid}, '${STORM_SIGNAL}'); }, 1); setTimeout(() => process.exit(0), 60000)`,
      ],
      { stdio: 'ignore' },
    );
    t.after(() => {
      sender.kill();
      process.off(STORM_SIGNAL, count);
    });
    await eventually(() => arrived > 0, 10_000, `the first ${STORM_SIGNAL}`);
    const before = arrived;
    const report = await within(
      fanout(
        source,
        readers.map((reader) => reader.socket),
      ).done,
      60_000,
      'the fan-out under signals',
    );
    const during = arrived - before;
    for (const reader of readers) reader.socket.end();
    for (const reader of readers) assert.deepEqual(await reader.drain.done, { bytes: size, hash });
    assert.deepEqual(outcomes(report.destinations), ['finished', 'finished', 'finished', 'finished']);
    assert.ok(during >= STORM_MINIMUM, `only ${during} ${STORM_SIGNAL} arrived during the fan-out`);
  });
});

describe('fanout(): joining and leaving while it runs', () => {
  it('a late joiner gets an exact suffix, from the position it joined at', async (t) => {
    const { bytes, hash } = payload(6 * MB);
    const { source, feed } = await liveSource(t);
    const [first, late] = await tcpReaders(t, 2);
    assert.ok(first !== undefined && late !== undefined);
    const running = fanout(source, [first.socket]);
    feed.write(bytes.subarray(0, 2 * MB));
    await eventually(() => running.position === 2 * MB, 10_000, 'the first part');
    const member = await running.add(late.socket);
    assert.equal(member.joinedAt, 2 * MB);
    feed.end(bytes.subarray(2 * MB));
    const report = await within(running.done, 30_000, 'the fan-out');
    first.socket.end();
    late.socket.end();
    assert.equal(report.bytes, 6 * MB);
    assert.deepEqual(await first.drain.done, { bytes: 6 * MB, hash });
    assert.deepEqual(await late.drain.done, { bytes: 4 * MB, hash: sha256Of(bytes.subarray(2 * MB)) });
    assert.equal(report.destinations[1]?.joinedAt, 2 * MB);
  });

  it('leave() ends one destination with what it got, a prefix; the others go on', async (t) => {
    const { bytes, hash } = payload(6 * MB);
    const { source, feed } = await liveSource(t);
    const [stayer, leaver] = await tcpReaders(t, 2);
    assert.ok(stayer !== undefined && leaver !== undefined);
    const running = fanout(source, [stayer.socket]);
    const leaving = await running.add(leaver.socket);
    feed.write(bytes.subarray(0, 3 * MB));
    await eventually(() => leaving.bytes === 3 * MB, 10_000, 'the first part at the leaver');
    leaving.leave();
    const left = await leaving.finished;
    feed.end(bytes.subarray(3 * MB));
    const report = await within(running.done, 30_000, 'the fan-out');
    stayer.socket.end();
    leaver.socket.end();
    assert.equal(left.outcome, 'left');
    assert.equal(left.bytes, 3 * MB);
    assert.deepEqual(await leaver.drain.done, { bytes: 3 * MB, hash: sha256Of(bytes.subarray(0, 3 * MB)) });
    assert.deepEqual(await stayer.drain.done, { bytes: 6 * MB, hash });
    assert.deepEqual(outcomes(report.destinations), ['finished', 'left']);
  });

  it('descriptors and pipes are back to their baseline after 2,000 joins and leaves', async (t) => {
    const { source, feed } = await liveSource(t);
    const running = fanout(source, []);
    feed.write('warm');
    await eventually(() => running.position === 4, 5000, 'the first bytes');
    const baseline = openDescriptorCount() - 2 * idlePipeCount();
    const [readFd, writeFd] = pipe({ nonBlocking: true });
    const chunk = Buffer.alloc(512, 1);
    for (let i = 0; i < 2000; i++) {
      const member = await running.add(writeFd, { policy: 'drop', lagLimit: 64 * KB });
      feed.write(chunk);
      if (i % 4 === 0) await eventually(() => member.bytes > 0 || member.lag === 0, 5000, 'a write');
      member.leave();
      await member.finished;
      // Keep the pipe from filling: it is the same reader for all of them.
      emptyPipe(readFd);
    }
    closeSync(readFd);
    closeSync(writeFd);
    // Pooled idle pipes are kept for reuse (at most 64); anything else would be a leak.
    assert.ok(idlePipeCount() <= 64);
    assert.equal(openDescriptorCount() - 2 * idlePipeCount(), baseline);
    feed.end();
    const report = await within(running.done, 10_000, 'the fan-out');
    assert.equal(report.destinations.length, 2000);
    assert.ok(report.destinations.every((each) => each.outcome === 'left'));
  });
});

/** Empties a non-blocking pipe (EAGAIN once it is empty). */
function emptyPipe(fd: number): void {
  const scratch = Buffer.allocUnsafe(64 * KB);
  try {
    while (readSync(fd, scratch, 0, scratch.byteLength, null) > 0);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EAGAIN') throw error;
  }
}

describe('fanout(): a destination that falls behind', () => {
  it("'drop' ends the slow one with its reason; the others get everything", async (t) => {
    // A live source: it says 32 MiB at its own pace, faster than the slow reader, slower than the others.
    const size = 32 * MB;
    const { bytes, hash } = payload(size);
    const { source, feed } = await liveSource(t);
    const readers = await tcpReaders(t, 4);
    const slow = readers[3];
    assert.ok(slow !== undefined);
    slow.far.pause(); // reads nothing
    const running = fanout(
      source,
      readers.map((reader) => reader.socket),
      { policy: 'drop', lagLimit: 4 * MB },
    );
    for (let offset = 0; offset < size; offset += 256 * KB) {
      feed.write(bytes.subarray(offset, offset + 256 * KB));
      await new Promise((resolve) => setTimeout(resolve, 2));
    }
    feed.end();
    const report = await within(running.done, 60_000, 'the fan-out');
    for (const reader of readers.slice(0, 3)) reader.socket.end();
    for (const reader of readers.slice(0, 3)) assert.deepEqual(await reader.drain.done, { bytes: size, hash });
    assert.deepEqual(outcomes(report.destinations), ['finished', 'finished', 'finished', 'dropped']);
    const dropped = report.destinations[3];
    assert.match(dropped?.reason ?? '', /lag limit of 4194304 bytes/);
    assert.ok((dropped?.bytes ?? size) < size);
    // Dropped mid-stream, its socket was destroyed: the reader sees the stream end early.
    assert.ok(slow.socket.destroyed);
  });

  it("'wait' lets the slowest gate everyone, and nobody loses a byte", async (t) => {
    const size = 32 * MB;
    const { bytes, hash } = payload(size);
    const source = fileWith(t, bytes);
    const readers = await tcpReaders(t, 3, { keep: true });
    const slow = readers[2];
    assert.ok(slow !== undefined);
    tinyReceiveBuffer(slow.far);
    tinySendBuffer(slow.socket);
    for (const reader of readers.slice(0, 2)) reader.far.resume();
    // The slow one starts reading only once the others have stalled behind it.
    const running = fanout(
      source,
      readers.map((reader) => reader.socket),
      { policy: 'wait', lagLimit: 1 * MB },
    );
    await new Promise((resolve) => setTimeout(resolve, 200));
    assert.ok(running.position < size, 'the source was held back by the paused reader');
    slow.far.resume();
    const report = await within(running.done, 60_000, 'the fan-out');
    for (const reader of readers) reader.socket.end();
    for (const reader of readers) assert.deepEqual(await reader.drain.done, { bytes: size, hash });
    assert.deepEqual(outcomes(report.destinations), ['finished', 'finished', 'finished']);
  });
});

describe('fanout(): failures', () => {
  it('a destination whose reader goes away ends alone, and says how far it got', async (t) => {
    const { bytes, hash } = payload(16 * MB);
    const source = fileWith(t, bytes);
    const readers = await tcpReaders(t, 3);
    const gone = readers[1];
    assert.ok(gone !== undefined);
    gone.far.once('data', () => gone.far.destroy());
    const report = await within(
      fanout(
        source,
        readers.map((reader) => reader.socket),
      ).done,
      30_000,
      'the fan-out',
    );
    for (const reader of readers) reader.socket.end();
    assert.equal(report.destinations[1]?.outcome, 'closed');
    assert.ok(
      ['EPIPE', 'ECONNRESET'].includes(
        (report.destinations[1]?.error as NodeJS.ErrnoException | undefined)?.code ?? '',
      ),
    );
    assert.ok((report.destinations[1]?.bytes ?? 0) < 16 * MB);
    for (const index of [0, 2]) {
      assert.equal(report.destinations[index]?.outcome, 'finished');
      assert.deepEqual(await readers[index]?.drain.done, { bytes: 16 * MB, hash });
    }
  });

  it('a pipe destination with no reader is closed (EPIPE)', async (t) => {
    const { bytes } = payload(1 * MB);
    const source = fileWith(t, bytes);
    const [readFd, writeFd] = pipe({ nonBlocking: true });
    closeSync(readFd);
    t.after(() => closeSync(writeFd));
    const report = await fanout(source, [writeFd, join(tempDir(t), 'ok.bin')]);
    assert.equal(report.destinations[0]?.outcome, 'closed');
    assert.equal((report.destinations[0]?.error as NodeJS.ErrnoException | undefined)?.code, 'EPIPE');
    assert.equal(report.destinations[1]?.outcome, 'finished');
  });

  it('abort rejects with an AbortError that says how far the source and each destination got', async (t) => {
    const { source, feed } = await liveSource(t);
    const readers = await tcpReaders(t, 2);
    const controller = new AbortController();
    const running = fanout(
      source,
      readers.map((reader) => reader.socket),
      { signal: controller.signal },
    );
    feed.write(Buffer.alloc(1 * MB, 7));
    await eventually(() => running.position === 1 * MB, 10_000, 'the first megabyte');
    const baseline = openDescriptorCount();
    controller.abort();
    const error = (await running.done.then(
      () => assert.fail('resolved'),
      (caught: unknown) => caught,
    )) as FanoutError;
    assert.equal(error.name, 'AbortError');
    assert.equal(error.code, 'ABORT_ERR');
    assert.equal(error.bytesTransferred, 1 * MB);
    assert.deepEqual(outcomes(error.destinations), ['aborted', 'aborted']);
    // Each destination's dup and pipes are closed; so is the source's dup.
    assert.ok(openDescriptorCount() < baseline);
  });

  it('a source that fails rejects with how far it and each destination got, after writing what was read', async (t) => {
    const { source, feed } = await liveSource(t);
    const out = join(tempDir(t), 'partial.bin');
    const running = fanout(source, [out]);
    feed.write(Buffer.alloc(1 * MB, 3));
    await eventually(() => running.position === 1 * MB, 10_000, 'the first megabyte');
    feed.resetAndDestroy();
    const error = (await running.done.then(
      () => assert.fail('resolved'),
      (caught: unknown) => caught,
    )) as FanoutError;
    assert.equal(error.code, 'ECONNRESET');
    assert.equal(error.bytesTransferred, 1 * MB);
    assert.equal(error.destinations[0]?.bytes, 1 * MB);
    assert.equal(readFileSync(out).byteLength, 1 * MB);
  });

  it('bad arguments throw before anything starts', () => {
    assert.throws(() => fanout('/dev/null', 'x' as never), { code: 'ERR_INVALID_ARG_TYPE' });
    assert.throws(() => fanout('/dev/null', [], { policy: 'skip' as never }), { code: 'ERR_INVALID_ARG_VALUE' });
    assert.throws(() => fanout('/dev/null', [], { lagLimit: 0 }), { code: 'ERR_OUT_OF_RANGE' });
  });

  it('add() after the end is refused', async (t) => {
    const source = fileWith(t, Buffer.from('abc'));
    const running = fanout(source, []);
    await running;
    await assert.rejects(running.add(join(tempDir(t), 'late')), { code: 'ERR_ZEROCOPY_FANOUT_ENDED' });
  });
});
