// --workers N --balance rr|shared|reuseport: how 200 connections spread over 2 workers of
// zerocopy serve, and that zerocopy proxy moves bytes under each policy.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { createServer, connect as netConnect, type Server } from 'node:net';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';

import { parseBalance, resolveBalance, reusePortSupported } from '../../src/cli/workers.js';
import { cliEntry, collect, sha256, tempDir } from '../support/fixtures.js';
import { rawRequest, startServe } from './support.js';

const CONNECTIONS = 200;

/** Which worker (pid) answered each of `count` connections, one request each. */
async function pidsOf(t: TestContext, port: number, count: number): Promise<Map<number, number>> {
  const spread = new Map<number, number>();
  for (let i = 0; i < count; i++) {
    const response = await rawRequest(t, port, 'GET', '/_zerocopy/status');
    assert.equal(response.status, 200);
    const { pid } = JSON.parse(response.body.toString()) as { pid: number };
    spread.set(pid, (spread.get(pid) ?? 0) + 1);
  }
  return spread;
}

async function serveSpread(t: TestContext, balance: string) {
  const dir = tempDir(t);
  const data = randomBytes(300 * 1024);
  writeFileSync(join(dir, 'data.bin'), data);
  const serve = await startServe(t, [dir, '--port', '0', '--workers', '2', '--balance', balance, '--log', 'off']);
  // Both workers listen before the count starts (the first to listen announces the URL).
  await new Promise((resolve) => setTimeout(resolve, 500));
  const spread = await pidsOf(t, serve.port, CONNECTIONS);
  for (let i = 0; i < 4; i++) {
    const response = await rawRequest(t, serve.port, 'GET', '/data.bin');
    assert.equal(response.body.length, data.length);
    assert.equal(sha256(response.body), sha256(data));
  }
  t.diagnostic(`${balance}: ${[...spread.values()].join(' / ')} of ${CONNECTIONS} connections`);
  serve.child.kill('SIGTERM');
  assert.equal(await serve.exited, 0);
  return { spread, serve };
}

describe('--balance for --workers', () => {
  it('parses rr, shared and reuseport and rejects anything else', () => {
    assert.equal(parseBalance(undefined), undefined);
    assert.equal(parseBalance('rr'), 'rr');
    assert.equal(parseBalance('shared'), 'shared');
    assert.equal(parseBalance('reuseport'), 'reuseport');
    assert.throws(() => parseBalance('random'), /--balance must be one of rr, shared, reuseport, not 'random'/);
  });

  it('knows which Node versions take listen({ reusePort })', () => {
    assert.equal(reusePortSupported('20.19.0'), false);
    assert.equal(reusePortSupported('22.11.0'), false);
    assert.equal(reusePortSupported('22.12.0'), true);
    assert.equal(reusePortSupported('23.0.0'), false);
    assert.equal(reusePortSupported('23.1.0'), true);
    assert.equal(reusePortSupported('24.0.0'), true);
  });

  it('falls back to shared where reuseport cannot be had, saying why only when it was asked for', () => {
    assert.deepEqual(resolveBalance(undefined, 'rr'), { balance: 'rr' });
    assert.deepEqual(resolveBalance('shared', 'rr'), { balance: 'shared' });
    const unix = resolveBalance('reuseport', 'rr', true);
    assert.equal(unix.balance, 'shared');
    assert.match(unix.note ?? '', /not Unix sockets; using shared/);
    assert.deepEqual(resolveBalance(undefined, 'reuseport', true), { balance: 'shared' });
    const tcp = resolveBalance('reuseport', 'rr');
    if (reusePortSupported()) assert.deepEqual(tcp, { balance: 'reuseport' });
    else assert.match(tcp.note ?? '', /has no listen\(\{ reusePort \}\)/);
  });

  it('serve --balance rr: the primary deals the connections out in turn', async (t) => {
    const { spread } = await serveSpread(t, 'rr');
    assert.equal(spread.size, 2, 'both workers answered');
    for (const count of spread.values()) assert.ok(count >= CONNECTIONS * 0.4, `${count} of ${CONNECTIONS}`);
  });

  it('serve --balance reuseport: the kernel hashes connections over a socket per worker', async (t) => {
    const { spread, serve } = await serveSpread(t, 'reuseport');
    assert.equal(spread.size, 2, 'both workers answered');
    if (!reusePortSupported()) {
      // Shared's spread is whoever the kernel wakes first: not promised.
      assert.match(serve.errors(), /--balance reuseport: .*using shared/);
      assert.match(serve.output(), /2 workers, shared/);
      return;
    }
    assert.match(serve.output(), /2 workers, reuseport/);
    // A fair coin over 200 connections: under 60 either way is more than five deviations off.
    for (const count of spread.values()) assert.ok(count >= 60, `${count} of ${CONNECTIONS}`);
  });

  it('serve --balance shared: every connection is answered from the one shared socket', async (t) => {
    const { spread, serve } = await serveSpread(t, 'shared');
    assert.match(serve.output(), /2 workers, shared/);
    // Whoever the kernel wakes first accepts: the spread is not promised, only the answers.
    assert.equal(
      [...spread.values()].reduce((a, b) => a + b, 0),
      CONNECTIONS,
    );
  });

  for (const balance of ['rr', 'shared', 'reuseport']) {
    it(`proxy --workers 2 --balance ${balance}: bytes through every connection`, async (t) => {
      const upstream: Server = createServer((socket) => socket.pipe(socket));
      await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
      t.after(() => upstream.close());
      const upstreamPort = (upstream.address() as { port: number }).port;
      const child: ChildProcess = spawn(
        process.execPath,
        [
          cliEntry,
          'proxy',
          '--listen',
          '127.0.0.1:0',
          '--to',
          `127.0.0.1:${upstreamPort}`,
          '--workers',
          '2',
          '--balance',
          balance,
          '--log',
          'off',
        ],
        { stdio: ['ignore', 'pipe', 'pipe'] },
      );
      let output = '';
      child.stdout?.on('data', (chunk: Buffer) => {
        output += chunk.toString();
      });
      const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
      t.after(() => {
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      });
      const deadline = Date.now() + 10_000;
      let port: number | undefined;
      while (port === undefined) {
        const match = /listening on 127\.0\.0\.1:(\d+)/.exec(output);
        if (match) port = Number(match[1]);
        else if (Date.now() > deadline || child.exitCode !== null) throw new Error(`proxy did not start: ${output}`);
        else await new Promise((resolve) => setTimeout(resolve, 20));
      }
      await new Promise((resolve) => setTimeout(resolve, 500));
      for (let i = 0; i < 20; i++) {
        const payload = randomBytes(64 * 1024 + i);
        const socket = netConnect(port, '127.0.0.1');
        const echoed = collect(socket);
        socket.end(payload);
        const received = await echoed;
        assert.equal(received.length, payload.length);
        assert.equal(sha256(received), sha256(payload));
      }
      child.kill('SIGTERM');
      assert.equal(await exited, 0);
    });
  }
});
