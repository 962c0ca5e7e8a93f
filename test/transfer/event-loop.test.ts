// The event loop keeps running while large transfers do: timers fire, and the loop delay
// stays low. The bounds are sanity checks on a shared machine, not speed claims.
import assert from 'node:assert/strict';
import { closeSync, openSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { after, before, describe, it } from 'node:test';

import { fadvise } from '../../src/primitives/index.js';
import { type TransferReport, transfer } from '../../src/transfer/index.js';
import { tcpPair, tempDir } from '../support/fixtures.js';
import { drain, feed, MB, pipeSocket, requireAddon, testPipe, within } from '../support/transfer.js';

before(requireAddon);

const SIZE = 256 * MB;
/** Generous: a loop held for this long would be a bug, not noise. */
const P99_BOUND_MS = 200;
const big = Buffer.alloc(SIZE, 0x61);
let bigFile = '';
let dir = '';

before(async () => {
  const { mkdtempSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  dir = mkdtempSync(join(tmpdir(), 'zc-loop-'));
  bigFile = join(dir, 'big.bin');
  writeFileSync(bigFile, big);
});
after(async () => {
  const { rmSync } = await import('node:fs');
  rmSync(dir, { recursive: true, force: true });
});

/** Runs `work` while a 10 ms interval ticks and the loop delay is sampled. */
async function whileTicking(work: () => Promise<TransferReport>) {
  const histogram = monitorEventLoopDelay({ resolution: 10 });
  histogram.enable();
  let ticks = 0;
  let longestGap = 0;
  let last = performance.now();
  const timer = setInterval(() => {
    const now = performance.now();
    longestGap = Math.max(longestGap, now - last);
    last = now;
    ticks++;
  }, 10);
  const started = performance.now();
  try {
    const report = await within(work(), 60_000, 'a 256 MiB transfer');
    return { report, ticks, longestGap, elapsed: performance.now() - started, p99: histogram.percentile(99) / 1e6 };
  } finally {
    clearInterval(timer);
    histogram.disable();
  }
}

function assertResponsive(result: Awaited<ReturnType<typeof whileTicking>>, t: { diagnostic(message: string): void }) {
  t.diagnostic(
    `${result.report.method}: ${result.elapsed.toFixed(0)} ms, ${result.ticks} ticks, longest gap ${result.longestGap.toFixed(1)} ms, p99 delay ${result.p99.toFixed(1)} ms`,
  );
  assert.equal(result.report.bytes, SIZE);
  // An interval of 10 ms over the transfer: at least a few ticks for each 100 ms it took.
  assert.ok(result.ticks >= Math.floor(result.elapsed / 100), `only ${result.ticks} ticks in ${result.elapsed} ms`);
  assert.ok(result.p99 < P99_BOUND_MS, `event-loop delay p99 ${result.p99} ms`);
  assert.ok(result.longestGap < 2 * P99_BOUND_MS, `a timer waited ${result.longestGap} ms`);
}

describe('the event loop during a 256 MiB transfer', () => {
  it('file -> socket (sendfile of a page-cached file, inline calls)', async (t) => {
    const { client, server } = await tcpPair(t);
    const received = drain(server);
    const result = await whileTicking(() => transfer(bigFile, client));
    client.end();
    assert.equal(result.report.method, 'sendfile');
    assertResponsive(result, t);
    assert.equal((await received.done).bytes, SIZE);
  });

  it('Buffer -> socket (send)', async (t) => {
    const { client, server } = await tcpPair(t);
    const received = drain(server);
    const result = await whileTicking(() => transfer(big, client));
    client.end();
    assert.equal(result.report.method, 'write');
    assertResponsive(result, t);
    assert.equal((await received.done).bytes, SIZE);
  });

  it('socket -> socket (splice through the pooled pipe)', async (t) => {
    const input = await tcpPair(t);
    const output = await tcpPair(t);
    const received = drain(output.server);
    const result = await whileTicking(async () => {
      const [report] = await Promise.all([transfer(input.server, output.client), feed(input.client, big)]);
      return report;
    });
    output.client.end();
    assert.equal(result.report.method, 'splice');
    assertResponsive(result, t);
    assert.equal((await received.done).bytes, SIZE);
  });

  it('file -> pipe (splice)', async (t) => {
    const { readFd, writeFd } = testPipe(t);
    const received = drain(pipeSocket(readFd, 'read'));
    const result = await whileTicking(() => transfer(bigFile, writeFd));
    closeSync(writeFd);
    assert.equal(result.report.method, 'splice');
    assertResponsive(result, t);
    assert.equal((await received.done).bytes, SIZE);
  });

  it('file -> file (copy_file_range on the thread pool)', async (t) => {
    const result = await whileTicking(() => transfer(bigFile, join(tempDir(t), 'copy.bin')));
    assert.equal(result.report.method, 'copy_file_range');
    assert.ok(result.report.offloaded > 0);
    assertResponsive(result, t);
  });
});

describe('a file not in the page cache', () => {
  it('is read on the thread pool, not on the event loop', async (t) => {
    const path = join(tempDir(t), 'cold.bin');
    writeFileSync(path, Buffer.alloc(8 * MB, 0x62));
    const fd = openSync(path, 'r');
    t.after(() => closeSync(fd));
    // Written pages must reach the disk before the kernel will drop them.
    const { fsyncSync } = await import('node:fs');
    fsyncSync(fd);
    fadvise(fd, 'dontneed');
    const { client, server } = await tcpPair(t);
    const received = drain(server);
    const report = await transfer(fd, client);
    client.end();
    assert.equal(report.method, 'sendfile');
    assert.ok(report.offloaded > 0, `expected calls on the thread pool: ${JSON.stringify(report)}`);
    assert.equal((await received.done).bytes, 8 * MB);
  });
});
