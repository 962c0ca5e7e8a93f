// The proxy server and `zerocopy proxy`: real upstreams (echo, HTTP), failures, limits, leaks.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { Agent, createServer as createHttpServer, request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { describe, it } from 'node:test';

import type { ConnectionRecord } from '../../src/proxy/server.js';
import { createProxy } from '../../src/proxy/server.js';
import { idlePipeCount } from '../../src/transfer/index.js';
import { cliEntry, delay, MiB, openDescriptorCount, sha256, tempDir } from '../support/fixtures.js';
import {
  dial,
  echoServer,
  listen,
  payload,
  rawServer,
  receiveAll,
  receiveExactly,
  send,
  startProxy,
  waitFor,
} from './support.js';

describe('proxy server', () => {
  it('relays an echo server over TCP, bulk and small', async (t) => {
    const echo = await echoServer(t);
    const records: ConnectionRecord[] = [];
    const { port } = await startProxy(t, {
      to: { host: '127.0.0.1', port: echo.port },
      onConnection: (r) => records.push(r),
    });
    const client = await dial(t, port);
    const data = payload(16 * MiB);
    const received = receiveAll(client);
    await send(client, data.bytes);
    assert.equal(sha256(await received), data.hash);
    await waitFor(
      (async () => {
        while (records.length === 0) await delay(5);
      })(),
      3000,
      'record',
    );
    const [record] = records;
    assert.equal(record?.outcome, 'complete');
    assert.equal(record?.method, 'splice');
    assert.equal(record?.up.bytes, 16 * MiB);
    assert.equal(record?.down.bytes, 16 * MiB);
  });

  it('relays to and listens on Unix sockets', async (t) => {
    const dir = tempDir(t);
    const upstreamPath = join(dir, 'upstream.sock');
    await echoServer(t, upstreamPath);
    const proxy = createProxy({ to: { path: upstreamPath } });
    const listenPath = join(dir, 'proxy.sock');
    await proxy.listen({ path: listenPath });
    t.after(() => proxy.close(0));
    const client = await dial(t, listenPath);
    const data = payload(4 * MiB);
    const received = receiveAll(client);
    await send(client, data.bytes);
    assert.equal(sha256(await received), data.hash);
  });

  it('keeps HTTP keep-alive framing intact, small and large bodies on one connection', async (t) => {
    const bodies = new Map<string, Buffer>([
      ['/small', Buffer.from('tiny')],
      ['/large', payload(6 * MiB).bytes],
      ['/medium', payload(200_000).bytes],
    ]);
    const connections = new Set<unknown>();
    const server = createHttpServer((req, res) => {
      connections.add(req.socket);
      const body = bodies.get(req.url ?? '') ?? Buffer.alloc(0);
      // Echo request bodies back on POST, so the client->upstream direction carries data too.
      if (req.method === 'POST') {
        const chunks: Buffer[] = [];
        req.on('data', (chunk: Buffer) => chunks.push(chunk));
        req.on('end', () => res.end(Buffer.concat(chunks)));
        return;
      }
      res.writeHead(200, { 'content-length': body.byteLength });
      res.end(body);
    });
    const upstreamPort = await listen(t, server);
    const { port } = await startProxy(t, { to: { host: '127.0.0.1', port: upstreamPort } });
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    t.after(() => agent.destroy());
    const fetchOne = (path: string, method = 'GET', body?: Buffer) =>
      new Promise<Buffer>((resolve, reject) => {
        const req = request({ host: '127.0.0.1', port, path, method, agent }, (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (chunk: Buffer) => chunks.push(chunk));
          res.on('end', () => resolve(Buffer.concat(chunks)));
          res.on('error', reject);
        });
        req.on('error', reject);
        req.end(body);
      });
    for (let round = 0; round < 4; round++) {
      for (const path of ['/small', '/large', '/medium', '/small']) {
        assert.deepEqual(await fetchOne(path), bodies.get(path), `${path} in round ${round}`);
      }
      const upload = payload(3 * MiB).bytes;
      assert.deepEqual(await fetchOne('/echo', 'POST', upload), upload);
    }
    assert.equal(connections.size, 1);
  });

  it('closes the client and records upstream-error when the upstream refuses', async (t) => {
    // Port 1 on loopback: nothing listens there, the kernel answers with a reset.
    const records: ConnectionRecord[] = [];
    const { port, proxy } = await startProxy(t, {
      to: { host: '127.0.0.1', port: 1 },
      onConnection: (r) => records.push(r),
    });
    const client = await dial(t, port);
    await receiveAll(client);
    assert.equal(records[0]?.outcome, 'upstream-error');
    assert.match(records[0]?.error ?? '', /ECONNREFUSED/);
    assert.equal(proxy.counters.upstreamErrors, 1);
  });

  it('cuts the client off when the upstream resets mid-stream', async (t) => {
    const upstream = await rawServer(t, (socket) => {
      // After the proxy has connected: a reset before that is an upstream-error instead.
      socket.write(payload(2 * MiB).bytes, () => setTimeout(() => socket.resetAndDestroy(), 50));
    });
    const records: ConnectionRecord[] = [];
    const { port } = await startProxy(t, {
      to: { host: '127.0.0.1', port: upstream.port },
      onConnection: (r) => records.push(r),
    });
    const client = await dial(t, port);
    client.on('error', () => {});
    const received = await receiveAll(client);
    assert.ok(received.byteLength <= 2 * MiB);
    await waitFor(
      (async () => {
        while (records.length === 0) await delay(5);
      })(),
      3000,
      'record',
    );
    assert.equal(records[0]?.outcome, 'error');
  });

  it('closes a stalled upstream after the idle timeout', async (t) => {
    const upstream = await rawServer(t, () => {});
    const records: ConnectionRecord[] = [];
    const { port } = await startProxy(t, {
      to: { host: '127.0.0.1', port: upstream.port },
      idleTimeoutMs: 200,
      onConnection: (r) => records.push(r),
    });
    const client = await dial(t, port);
    client.write('GET / HTTP/1.1\r\n\r\n');
    await waitFor(receiveAll(client), 3000, 'close');
    await delay(20);
    assert.equal(records[0]?.outcome, 'idle-timeout');
  });

  it('closes connections beyond maxConnections on arrival', async (t) => {
    const echo = await echoServer(t);
    const records: ConnectionRecord[] = [];
    const { port, proxy } = await startProxy(t, {
      to: { host: '127.0.0.1', port: echo.port },
      maxConnections: 2,
      onConnection: (r) => records.push(r),
    });
    const first = await dial(t, port);
    const second = await dial(t, port);
    first.write('1');
    second.write('2');
    await receiveExactly(first, 1);
    await receiveExactly(second, 1);
    const third = await dial(t, port);
    await waitFor(receiveAll(third), 3000, 'third closed');
    assert.equal(proxy.counters.overLimit, 1);
    assert.equal(records.find((r) => r.outcome === 'over-limit')?.error, 'connection limit reached');
  });

  it('opens and closes 2000 connections without leaking a descriptor or a pipe', async (t) => {
    const echo = await echoServer(t);
    const { port, proxy } = await startProxy(t, { to: { host: '127.0.0.1', port: echo.port }, splice: 'always' });
    // One connection first: transfer()'s poller (an epoll set, made at first use) and the
    // pipe pool's idle pipes are then part of the baseline.
    const warm = await dial(t, port);
    const echoed = receiveAll(warm);
    warm.end('warm-up');
    await echoed;
    warm.destroy();
    const allFinished = (what: string) =>
      waitFor(
        (async () => {
          while (proxy.counters.active > 0) await delay(10);
        })(),
        5000,
        what,
      );
    await allFinished('the warm-up connection to finish');
    const baseline = () => openDescriptorCount() - 2 * idlePipeCount();
    const before = baseline();
    const batch = 50;
    for (let done = 0; done < 2000; done += batch) {
      await Promise.all(
        Array.from({ length: batch }, async (_, i) => {
          const client = await dial(t, port);
          const message = Buffer.from(`connection ${done + i}`);
          const received = receiveAll(client);
          client.end(message);
          assert.deepEqual(await received, message);
          client.destroy();
        }),
      );
    }
    await allFinished('connections to finish');
    await delay(100);
    assert.equal(proxy.counters.completed, 2001);
    assert.ok(idlePipeCount() <= 64);
    assert.equal(baseline(), before);
  });

  it('lets open connections finish on close(), within the grace period', async (t) => {
    const echo = await echoServer(t);
    const proxy = createProxy({ to: { host: '127.0.0.1', port: echo.port } });
    const address = (await proxy.listen({ host: '127.0.0.1', port: 0 })) as AddressInfo;
    const client = await dial(t, address.port);
    client.write('before close');
    await receiveExactly(client, 12);
    const closing = proxy.close(5000);
    await delay(50);
    // Still served while closing.
    const received = receiveAll(client);
    client.end('after');
    assert.equal((await received).toString(), 'after');
    await waitFor(closing, 3000, 'close');
  });
});

describe('zerocopy proxy', () => {
  it('proxies, logs one line per connection and prints counters on SIGTERM', async (t) => {
    const echo = await echoServer(t);
    const child = spawn(
      process.execPath,
      [cliEntry, 'proxy', '--listen', '127.0.0.1:0', '--to', `127.0.0.1:${echo.port}`],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    t.after(() => child.kill('SIGKILL'));
    let stdout = '';
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
    });
    const port = await waitFor(
      (async () => {
        for (;;) {
          const match = /listening on 127\.0\.0\.1:(\d+)/.exec(stdout);
          if (match) return Number(match[1]);
          await delay(10);
        }
      })(),
      10_000,
      'listening line',
    );
    const client = await dial(t, port);
    const data = payload(8 * MiB);
    const received = receiveAll(client);
    await send(client, data.bytes);
    assert.equal(sha256(await received), data.hash);
    await delay(100);
    child.kill('SIGTERM');
    const code = await waitFor(new Promise<number | null>((resolve) => child.on('close', resolve)), 10_000, 'exit');
    assert.equal(code, 0);
    assert.match(stdout, /#1 127\.0\.0\.1:\d+ up=8388608 down=8388608 [\d.]+ms splice complete/);
    assert.match(stdout, /counters accepted=1 .*completed=1/);
  });
});
