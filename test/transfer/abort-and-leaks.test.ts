// Aborting transfers at every stage, and what is left afterwards: descriptors, pooled
// pipes, sockets, and whether the process can still exit.
import assert from 'node:assert/strict';
import { closeSync, existsSync, openSync, readdirSync, readlinkSync } from 'node:fs';
import type { Socket } from 'node:net';
import { join } from 'node:path';
import { before, describe, it, type TestContext } from 'node:test';

import { pipe } from '../../src/primitives/index.js';

import { idlePipeCount, type TransferError, transfer } from '../../src/transfer/index.js';
import { fillUntilFull, openDescriptorCount, tcpPair, tempDir } from '../support/fixtures.js';
import {
  drain,
  eventually,
  fileWith,
  KB,
  MB,
  payload,
  requireAddon,
  slowDrain,
  testPipe,
  tinyReceiveBuffer,
  tinySendBuffer,
  warmReadiness,
  within,
} from '../support/transfer.js';

before(async () => {
  requireAddon();
  await warmReadiness();
});

function isAbort(error: unknown, progress: 'some' | 'none' | 'any' = 'any'): boolean {
  assert.ok(error instanceof Error, String(error));
  const failure = error as TransferError;
  assert.equal(failure.name, 'AbortError', failure.message);
  assert.equal(failure.code, 'ABORT_ERR');
  assert.equal(typeof failure.bytesTransferred, 'number');
  if (progress === 'some') assert.ok(failure.bytesTransferred > 0, 'expected progress before the abort');
  if (progress === 'none') assert.equal(failure.bytesTransferred, 0);
  return true;
}

/** Descriptors settle a moment after the handles that own them close. */
async function descriptorsBackTo(baseline: number): Promise<void> {
  await eventually(() => openDescriptorCount() <= baseline, 5000, `descriptors back to ${baseline}`).catch(() => {});
  const open = readdirSync('/proc/self/fd').map((fd) => {
    try {
      return `${fd}->${readlinkSync(`/proc/self/fd/${fd}`)}`;
    } catch {
      return fd;
    }
  });
  assert.equal(openDescriptorCount(), baseline, `descriptors left open: ${open.join(' ')}`);
}

/** Fills a socket's kernel buffers (not Node's queue) so that the next write on it waits. */
async function stalled(t: TestContext): Promise<{ client: Socket; server: Socket }> {
  const pair = await tcpPair(t);
  pair.server.pause();
  tinySendBuffer(pair.client, 16 * KB);
  tinyReceiveBuffer(pair.server, 16 * KB);
  await new Promise((resolve) => setTimeout(resolve, 10));
  const fd = (pair.client as unknown as { _handle: { fd: number } })._handle.fd;
  fillUntilFull(fd);
  return pair;
}

/**
 * Descriptors made once per process, before any is counted: the private epoll set (on the
 * first wait) and libuv's spare descriptor for EMFILE (on the first listen).
 */
before(async () => {
  const { createServer } = await import('node:net');
  const listener = createServer();
  await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', resolve));
  await new Promise((resolve) => listener.close(resolve));
  const [readFd, writeFd] = pipe({ nonBlocking: true });
  const controller = new AbortController();
  const pending = transfer(readFd, '/dev/null', { signal: controller.signal });
  setTimeout(() => controller.abort(), 5);
  await pending.catch(() => {});
  closeSync(readFd);
  closeSync(writeFd);
});

describe('abort via signal', () => {
  it('an already aborted signal: AbortError before anything is opened or created', async (t) => {
    const source = fileWith(t, payload(MB + 1).bytes);
    const destination = join(tempDir(t), 'never.bin');
    const controller = new AbortController();
    controller.abort();
    await assert.rejects(transfer(source, destination, { signal: controller.signal }), (error) =>
      isAbort(error, 'none'),
    );
    assert.equal(existsSync(destination), false);
  });

  it('mid-transfer to a slow socket: AbortError with progress, the socket destroyed, descriptors back', async (t) => {
    const source = fileWith(t, payload(64 * MB).bytes);
    const baseline = openDescriptorCount();
    const { client, server } = await tcpPair(t);
    client.on('error', () => {});
    const received = slowDrain(server, 64 * KB, 5);
    const controller = new AbortController();
    const pending = transfer(source, client, { signal: controller.signal });
    await eventually(() => received.bytes() > MB, 10_000, 'the first MiB');
    controller.abort();
    await assert.rejects(within(pending, 5000, 'the aborted transfer'), (error) => isAbort(error, 'some'));
    assert.ok(client.destroyed, 'the destination socket is destroyed after an abort');
    server.destroy();
    await descriptorsBackTo(baseline);
  });

  it('socket -> socket through the pooled pipe: both sockets destroyed, the pipe not pooled with bytes in it', async (t) => {
    const baseline = openDescriptorCount();
    const idleBefore = idlePipeCount();
    const { client: feeder, server: source } = await tcpPair(t);
    const { client: destination, server: reader } = await tcpPair(t);
    feeder.on('error', () => {});
    destination.on('error', () => {});
    feeder.write(payload(16 * MB).bytes);
    const received = slowDrain(reader, 32 * KB, 5);
    const controller = new AbortController();
    const pending = transfer(source, destination, { signal: controller.signal });
    await eventually(() => received.bytes() > 256 * KB, 10_000, 'the first bytes');
    controller.abort();
    await assert.rejects(within(pending, 5000, 'the aborted splice'), (error) => isAbort(error, 'some'));
    assert.ok(destination.destroyed);
    assert.ok(source.destroyed, 'a source socket whose bytes were partly consumed is destroyed');
    assert.ok(idlePipeCount() <= Math.max(idleBefore, 1));
    feeder.destroy();
    reader.destroy();
    // The pool may keep one clean pipe (two descriptors) from this transfer.
    await eventually(() => openDescriptorCount() <= baseline + 2, 5000, 'descriptors back').catch(() => {});
    assert.ok(openDescriptorCount() <= baseline + 2 * (idlePipeCount() - idleBefore + 0), 'descriptors left open');
  });

  it('file -> file (copy_file_range rounds): stops within a round', async (t) => {
    const dir = tempDir(t);
    const source = join(dir, 'big.bin');
    const fd = openSync(source, 'w');
    closeSync(fd);
    // 1 GiB of holes: copy_file_range still copies it round by round on ext4.
    const { truncateSync } = await import('node:fs');
    truncateSync(source, 1024 * MB);
    const controller = new AbortController();
    const pending = transfer(source, join(dir, 'copy.bin'), { signal: controller.signal });
    setTimeout(() => controller.abort(), 30);
    const started = Date.now();
    const outcome = await within(
      pending.then(
        () => undefined,
        (error: unknown) => error,
      ),
      10_000,
      'an aborted copy',
    );
    if (outcome === undefined) {
      t.diagnostic('the copy finished before the abort landed');
      return;
    }
    isAbort(outcome);
    assert.ok(Date.now() - started < 5000);
  });

  it("while Node's own queued writes wait for a peer that does not read: AbortError, nothing lost", async (t) => {
    const source = fileWith(t, payload(MB + 1).bytes);
    const { client } = await stalled(t);
    client.write('queued by Node');
    assert.ok(client.writableLength > 0);
    const controller = new AbortController();
    const pending = transfer(source, client, { signal: controller.signal });
    setTimeout(() => controller.abort(), 20);
    await assert.rejects(within(pending, 2000, 'an abort while Node flushes'), (error) => isAbort(error, 'none'));
    assert.equal(client.destroyed, false, 'nothing of ours was written: the socket stays usable');
  });

  it('waiting on an empty pipe: the abort is immediate and the descriptors go', async (t) => {
    const baseline = openDescriptorCount();
    const { readFd, writeFd } = testPipe(t, true);
    const controller = new AbortController();
    const pending = transfer(readFd, join(tempDir(t), 'never.bin'), { signal: controller.signal });
    setTimeout(() => controller.abort(), 20);
    await assert.rejects(within(pending, 2000, 'an abort while waiting'), (error) => isAbort(error, 'none'));
    closeSync(readFd);
    closeSync(writeFd);
    await descriptorsBackTo(baseline);
  });
});

describe('descriptor leaks', () => {
  it('2000 aborted waits (file -> a full socket) leave no descriptor and no armed poll behind', async (t) => {
    const source = fileWith(t, payload(MB + 1).bytes);
    const { client, server } = await stalled(t);
    const baseline = openDescriptorCount();
    for (let i = 0; i < 2000; i++) {
      const controller = new AbortController();
      const pending = transfer(source, client, { signal: controller.signal });
      if (i % 2 === 0) setImmediate(() => controller.abort());
      else queueMicrotask(() => controller.abort());
      await assert.rejects(pending, (error) => isAbort(error, 'none'));
      assert.equal(client.destroyed, false, 'nothing was written: the socket stays usable');
    }
    await descriptorsBackTo(baseline);
    // The socket still works: drain it and send one more file.
    const received = drain(server);
    const report = await within(transfer(source, client), 10_000, 'a transfer after 2000 aborts');
    client.end();
    assert.equal(report.bytes, MB + 1);
    await within(received.done, 10_000, 'the reader');
  });

  it('1000 aborted pipe -> file and 300 aborted socket -> socket transfers leave nothing behind', async (t) => {
    const dir = tempDir(t);
    const baseline = openDescriptorCount();
    const { readFd, writeFd } = testPipe(t, true);
    for (let i = 0; i < 1000; i++) {
      const controller = new AbortController();
      const pending = transfer(readFd, join(dir, `out-${i % 4}.bin`), { signal: controller.signal });
      setImmediate(() => controller.abort());
      await assert.rejects(pending, (error) => isAbort(error, 'none'));
    }
    closeSync(readFd);
    closeSync(writeFd);
    const idleBefore = idlePipeCount();
    for (let i = 0; i < 300; i++) {
      const a = await tcpPair(t);
      const b = await tcpPair(t);
      for (const socket of [a.client, a.server, b.client, b.server]) socket.on('error', () => {});
      a.client.write(payload(MB).bytes);
      b.server.pause();
      const controller = new AbortController();
      const pending = transfer(a.server, b.client, { signal: controller.signal });
      setTimeout(() => controller.abort(), 1);
      await assert.rejects(within(pending, 5000, 'an aborted splice'), (error) => isAbort(error));
      for (const socket of [a.client, a.server, b.client, b.server]) socket.destroy();
    }
    assert.ok(idlePipeCount() <= 64, `the pool is bounded: ${idlePipeCount()}`);
    const pooled = 2 * (idlePipeCount() - idleBefore);
    await eventually(() => openDescriptorCount() <= baseline + pooled, 5000, 'descriptors back').catch(() => {});
    assert.equal(openDescriptorCount(), baseline + pooled, 'descriptors left open');
  });

  it('a process whose transfer was aborted mid-wait still exits by itself', async (t) => {
    const dir = tempDir(t);
    const script = join(dir, 'child.mjs');
    const entry = new URL('../../src/transfer/index.js', import.meta.url).href;
    const primitives = new URL('../../src/primitives/index.js', import.meta.url).href;
    const { writeFileSync } = await import('node:fs');
    writeFileSync(
      script,
      `import { transfer } from ${JSON.stringify(entry)};
import { pipe } from ${JSON.stringify(primitives)};
import { closeSync } from 'node:fs';
const [readFd, writeFd] = pipe({ nonBlocking: true });
const controller = new AbortController();
setTimeout(() => controller.abort(), 20);
try { await transfer(readFd, ${JSON.stringify(join(dir, 'x.bin'))}, { signal: controller.signal }); }
catch (error) { console.log(error.code); }
closeSync(readFd); closeSync(writeFd);
`,
    );
    const { execFile } = await import('node:child_process');
    const output = await within(
      new Promise<string>((resolve, reject) =>
        execFile(process.execPath, [script], { timeout: 10_000 }, (error, stdout) =>
          error === null ? resolve(stdout) : reject(error),
        ),
      ),
      12_000,
      'the child to exit',
    );
    assert.equal(output.trim(), 'ABORT_ERR');
  });
});
