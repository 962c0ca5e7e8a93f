// pipeSockets(): two connected sockets joined both ways, checked on real loopback sockets.
import assert from 'node:assert/strict';
import { connect, createServer, type Socket } from 'node:net';
import { describe, it, type TestContext } from 'node:test';

import { type PipeSocketsOptions, type PipeSocketsReport, pipeSockets } from '../../src/proxy/pipe-sockets.js';
import { idlePipeCount } from '../../src/transfer/index.js';
import { delay, MiB, openDescriptorCount, sha256, tlsPair } from '../support/fixtures.js';
import { dial, echoServer, listen, payload, rawServer, receiveAll, receiveExactly, send, waitFor } from './support.js';

/** A client connected to a hand-made proxy whose two sockets are joined by pipeSockets. */
async function joined(
  t: TestContext,
  upstreamPort: number,
  options?: PipeSocketsOptions,
): Promise<{ client: Socket; report: Promise<PipeSocketsReport>; sides: Socket[] }> {
  let resolveReport!: (report: PipeSocketsReport) => void;
  const report = new Promise<PipeSocketsReport>((resolve) => {
    resolveReport = resolve;
  });
  const sides: Socket[] = [];
  const listener = createServer({ allowHalfOpen: true, pauseOnConnect: true }, (accepted) => {
    const upstream = connect({ port: upstreamPort, host: '127.0.0.1', allowHalfOpen: true });
    sides.push(accepted, upstream);
    upstream.once('connect', () => {
      void pipeSockets(accepted, upstream, options).then(resolveReport);
    });
  });
  const port = await listen(t, listener);
  const client = await dial(t, port);
  t.after(() => {
    for (const side of sides) side.destroy();
  });
  return { client, report, sides };
}

describe('pipeSockets', () => {
  for (const splice of ['auto', 'always', 'never'] as const) {
    it(`moves bulk data both ways at once, byte for byte (splice: ${splice})`, async (t) => {
      // The upstream sends its own payload while it receives ours.
      const down = payload(24 * MiB);
      let upstreamReceived: Promise<Buffer> | undefined;
      const upstream = await rawServer(t, (socket) => {
        upstreamReceived = receiveAll(socket);
        void send(socket, down.bytes);
      });
      const up = payload(24 * MiB);
      const { client, report } = await joined(t, upstream.port, { splice });
      const received = receiveAll(client);
      await send(client, up.bytes);
      assert.equal(sha256(await received), down.hash);
      const result = await waitFor(report, 20_000, 'report');
      assert.equal(result.outcome, 'complete', result.error?.message);
      assert.equal(sha256(await (upstreamReceived as Promise<Buffer>)), up.hash);
      assert.equal(result.aToB.bytes, up.bytes.byteLength);
      assert.equal(result.bToA.bytes, down.bytes.byteLength);
      assert.ok(result.aToB.ended && result.bToA.ended);
      if (splice === 'never') {
        assert.equal(result.aToB.method, 'copy');
        assert.equal(result.aToB.reason, 'splice disabled');
      } else {
        assert.equal(result.aToB.method, 'splice');
        assert.equal(result.bToA.method, 'splice');
        // auto copies only the first few reads before handing the direction to the kernel.
        assert.ok(result.aToB.splicedBytes > result.aToB.bytes / 2, JSON.stringify(result.aToB));
      }
    });
  }

  it('keeps small request/response exchanges on the copy path, and says why', async (t) => {
    const echo = await echoServer(t);
    const { client, report } = await joined(t, echo.port);
    for (let round = 0; round < 50; round++) {
      const message = Buffer.from(`request ${round} `.padEnd(200, '.'));
      client.write(message);
      assert.deepEqual(await receiveExactly(client, message.byteLength), message);
    }
    client.end();
    await receiveAll(client);
    const result = await waitFor(report, 5_000, 'report');
    assert.equal(result.outcome, 'complete');
    assert.equal(result.aToB.method, 'copy');
    assert.match(result.aToB.reason ?? '', /small exchanges/);
    assert.equal(result.aToB.bytes, 50 * 200);
    // Plain sockets with descriptors: the native relay copied, not Node's streams.
    assert.equal(result.aToB.copiedBy, 'native');
    assert.equal(result.bToA.copiedBy, 'native');
  });

  it('tells onProgress the running totals while the native relay copies', async (t) => {
    const echo = await echoServer(t);
    const seen: Array<{ aToB: number; bToA: number }> = [];
    const { client, report } = await joined(t, echo.port, { onProgress: (progress) => seen.push(progress) });
    for (let round = 0; round < 20; round++) {
      client.write(Buffer.alloc(100, round));
      await receiveExactly(client, 100);
    }
    client.end();
    await receiveAll(client);
    const result = await waitFor(report, 5_000, 'report');
    assert.equal(result.aToB.copiedBy, 'native');
    assert.ok(seen.length >= 20, `progress reports: ${seen.length}`);
    for (let i = 1; i < seen.length; i++) {
      assert.ok(seen[i]!.aToB >= seen[i - 1]!.aToB && seen[i]!.bToA >= seen[i - 1]!.bToA, 'totals only grow');
    }
    assert.deepEqual(seen.at(-1), { aToB: 2000, bToA: 2000 });
  });

  it('sends what Node had already read from a socket first, then the rest', async (t) => {
    const echo = await echoServer(t);
    let resolveReport!: (report: PipeSocketsReport) => void;
    const report = new Promise<PipeSocketsReport>((resolve) => {
      resolveReport = resolve;
    });
    // No pauseOnConnect: Node reads the early bytes into the accepted socket's buffer.
    const listener = createServer({ allowHalfOpen: true }, (accepted) => {
      t.after(() => accepted.destroy());
      void (async () => {
        while (accepted.readableLength === 0) await delay(5);
        const upstream = connect({ port: echo.port, host: '127.0.0.1', allowHalfOpen: true });
        t.after(() => upstream.destroy());
        upstream.once('connect', () => void pipeSockets(accepted, upstream).then(resolveReport));
      })();
    });
    const client = await dial(t, await listen(t, listener));
    const early = Buffer.from('sent before the upstream was even dialled|');
    client.write(early);
    const late = payload(256 * 1024);
    const received = receiveAll(client);
    await delay(50);
    await send(client, late.bytes);
    const bytes = await received;
    assert.deepEqual(bytes.subarray(0, early.length), early);
    assert.equal(sha256(bytes.subarray(early.length)), late.hash);
    const result = await waitFor(report, 5_000, 'report');
    assert.equal(result.outcome, 'complete', result.error?.message);
    assert.equal(result.aToB.bytes, early.length + late.bytes.length);
    assert.equal(result.aToB.copiedBy, 'native');
  });

  it('copies TLS sockets through Node, both ways, and says so', async (t) => {
    const near = await tlsPair(t);
    const far = await tlsPair(t);
    if (near === undefined || far === undefined) return;
    // near.client <-TLS-> near.server ==pipeSockets== far.client <-TLS-> far.server
    const report = pipeSockets(near.server, far.client);
    const up = payload(1 * MiB);
    const down = payload(300 * 1024);
    const upReceived = receiveExactly(far.server, up.bytes.length);
    const downReceived = receiveExactly(near.client, down.bytes.length);
    near.client.write(up.bytes);
    far.server.write(down.bytes);
    assert.equal(sha256(await upReceived), up.hash);
    assert.equal(sha256(await downReceived), down.hash);
    near.client.end();
    far.server.end();
    const result = await waitFor(report, 5_000, 'report');
    assert.equal(result.outcome, 'complete', result.error?.message);
    assert.equal(result.aToB.copiedBy, 'node');
    assert.equal(result.bToA.copiedBy, 'node');
    assert.equal(result.aToB.bytes, up.bytes.length);
  });

  it('reports the reset that ends a pair the native relay copies', async (t) => {
    let upstreamSocket: Socket | undefined;
    const upstream = await rawServer(t, (socket) => {
      upstreamSocket = socket;
      socket.on('data', () => {});
    });
    const { client, report, sides } = await joined(t, upstream.port, { splice: 'never' });
    const message = Buffer.from('a request the upstream takes and then resets on');
    client.write(message);
    await delay(100);
    upstreamSocket?.write('partial answer');
    await receiveExactly(client, 'partial answer'.length);
    upstreamSocket?.resetAndDestroy();
    const result = await waitFor(report, 5_000, 'report');
    assert.equal(result.outcome, 'error');
    assert.equal((result.error as NodeJS.ErrnoException).code, 'ECONNRESET');
    assert.equal(result.bToA.copiedBy, 'native');
    assert.ok(sides.every((side) => side.destroyed));
    await receiveAll(client).catch(() => Buffer.alloc(0));
  });

  it('passes a FIN from the client on and keeps the other direction open (half-close)', async (t) => {
    const reply = payload(8 * MiB);
    // Answers only after the request has ended, as a half-close aware server does.
    const upstream = await rawServer(t, (socket) => {
      void receiveAll(socket).then(async (request) => {
        await delay(50);
        await send(socket, Buffer.concat([Buffer.from(sha256(request)), reply.bytes]));
      });
    });
    const { client, report } = await joined(t, upstream.port);
    const request = payload(3 * MiB);
    const received = receiveAll(client);
    await send(client, request.bytes);
    const bytes = await received;
    assert.equal(bytes.subarray(0, 64).toString(), request.hash);
    assert.equal(sha256(bytes.subarray(64)), reply.hash);
    assert.equal((await waitFor(report, 5_000, 'report')).outcome, 'complete');
  });

  it('passes a FIN from the upstream on while the client keeps sending', async (t) => {
    const greeting = Buffer.from('hello, then FIN\n');
    let upstreamReceived: Promise<Buffer> | undefined;
    const upstream = await rawServer(t, (socket) => {
      socket.end(greeting);
      upstreamReceived = receiveAll(socket);
    });
    const { client, report } = await joined(t, upstream.port);
    const received = await receiveAll(client);
    assert.deepEqual(received, greeting);
    // The client's direction still works after the upstream's FIN.
    const late = payload(4 * MiB);
    await send(client, late.bytes);
    const result = await waitFor(report, 5_000, 'report');
    assert.equal(result.outcome, 'complete', result.error?.message);
    assert.equal(sha256(await (upstreamReceived as Promise<Buffer>)), late.hash);
  });

  it('ends both sides with outcome error when the client aborts mid-stream', async (t) => {
    const upstream = await rawServer(t, (socket) => {
      void send(socket, payload(64 * MiB).bytes).catch(() => {});
    });
    const { client, report, sides } = await joined(t, upstream.port, { splice: 'always' });
    await receiveExactly(client, 1 * MiB);
    client.resetAndDestroy();
    const result = await waitFor(report, 5_000, 'report');
    assert.equal(result.outcome, 'error');
    assert.ok(result.bToA.bytes >= 1 * MiB);
    assert.ok(sides.every((side) => side.destroyed));
  });

  it('closes a pair that moved nothing for idleTimeoutMs', async (t) => {
    const upstream = await rawServer(t, () => {});
    const { client, report } = await joined(t, upstream.port, { idleTimeoutMs: 150 });
    client.write('one small request that is never answered');
    const started = performance.now();
    const result = await waitFor(report, 3_000, 'report');
    assert.equal(result.outcome, 'idle-timeout');
    assert.equal((result.error as NodeJS.ErrnoException).code, 'ERR_ZEROCOPY_IDLE_TIMEOUT');
    assert.ok(performance.now() - started >= 100);
    await receiveAll(client);
  });

  it('keeps a pair whose bytes keep moving past idleTimeoutMs, however long it lives', async (t) => {
    const echo = await echoServer(t);
    const { client, report } = await joined(t, echo.port, { idleTimeoutMs: 150 });
    const started = performance.now();
    for (let round = 0; performance.now() - started < 700; round++) {
      client.write(`ping ${round}`.padEnd(16));
      await receiveExactly(client, 16);
      await delay(40);
    }
    client.end();
    await receiveAll(client);
    const result = await waitFor(report, 3_000, 'report');
    assert.equal(result.outcome, 'complete', result.error?.message);
    assert.equal(result.aToB.copiedBy, 'native');
  });

  it('ends with outcome aborted when its signal fires', async (t) => {
    const echo = await echoServer(t);
    const controller = new AbortController();
    const { client, report } = await joined(t, echo.port, { signal: controller.signal });
    client.write('x');
    await receiveExactly(client, 1);
    controller.abort();
    assert.equal((await waitFor(report, 3_000, 'report')).outcome, 'aborted');
  });

  it('never returns a pipe that held bytes when a side failed to the pool', async (t) => {
    // The upstream never reads: the proxy's pipe fills, then the upstream resets.
    const upstream = await rawServer(t, (socket) => socket.pause());
    const before = idlePipeCount();
    const { client, report } = await joined(t, upstream.port, { splice: 'always' });
    void send(client, payload(32 * MiB).bytes).catch(() => {});
    await delay(300);
    for (const socket of upstream.sockets) socket.resetAndDestroy();
    const result = await waitFor(report, 5_000, 'report');
    assert.equal(result.outcome, 'error');
    // Both directions took a pipe; only the empty one (upstream -> client) came back.
    assert.equal(idlePipeCount(), before - Math.min(before, 2) + 1);
  });

  it('rejects bad arguments before touching the sockets', async (t) => {
    const echo = await echoServer(t);
    const client = await dial(t, echo.port);
    await assert.rejects(pipeSockets(client, client), { code: 'ERR_INVALID_ARG_VALUE' });
    const other = await dial(t, echo.port);
    await assert.rejects(pipeSockets(client, other, { splice: 'sometimes' as 'auto' }), {
      code: 'ERR_INVALID_ARG_VALUE',
    });
    await assert.rejects(pipeSockets(client, other, { idleTimeoutMs: -1 }), { code: 'ERR_OUT_OF_RANGE' });
  });

  it('leaves no descriptor behind after many joined pairs', async (t) => {
    const echo = await echoServer(t);
    // transfer()'s poller is made at its first use: make it before the baseline.
    await joined(t, echo.port, { splice: 'always' }).then(async ({ client, report }) => {
      const received = receiveAll(client);
      client.end('warm-up');
      await received;
      await waitFor(report, 3_000, 'report');
      client.destroy();
    });
    const baseline = openDescriptorCount() - 2 * idlePipeCount();
    const bulk = payload(1 * MiB);
    for (let round = 0; round < 100; round++) {
      const splice = (['always', 'auto', 'never'] as const)[round % 3];
      const { client, report } = await joined(t, echo.port, { splice });
      // Every other 'auto' round streams enough for the relay to splice it through a pipe of its own.
      const message = round % 6 === 1 ? bulk.bytes : Buffer.from(`round ${round}`);
      const received = receiveAll(client);
      client.end(message);
      assert.equal(sha256(await received), sha256(message));
      const result = await waitFor(report, 3_000, 'report');
      assert.equal(result.outcome, 'complete');
      if (round % 6 === 1) assert.equal(result.aToB.method, 'splice', JSON.stringify(result.aToB));
      client.destroy();
    }
    await delay(50);
    // Listeners of each round are still open until the test ends: 1 descriptor per round.
    assert.equal(openDescriptorCount() - 2 * idlePipeCount(), baseline + 100);
  });
});
