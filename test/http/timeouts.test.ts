// zerocopy serve's timeouts mean what they say, whether the native front or node:http holds
// the connection: a sender too slow to finish its request head within --header-timeout, a
// connection that sends nothing, and a keep-alive connection idle for --idle-timeout are
// closed soon after, and the server answers everyone else meanwhile. The bounds are loose
// (three times the timeout): they catch a check that runs every 30 s, not a slow machine.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';

import { delay, tempDir } from '../support/fixtures.js';
import { RawClient, rawRequest, startServe } from './support.js';

const HEADER_TIMEOUT_MS = 1500;
/** Far from the others, so that the timeout under test is the one that closes. */
const LONG_TIMEOUT_MS = 30_000;
const IDLE_TIMEOUT_MS = 1500;
const SLOW_SENDERS = 200;
const SILENT = 50;
/** Past this, a connection held open counts as a timeout not applied. */
const BOUND_MS = 3 * HEADER_TIMEOUT_MS;

const MODES = [
  { name: 'with the native front', flags: [] as string[] },
  { name: 'with --no-native-front', flags: ['--no-native-front'] },
];

async function serveSite(
  t: TestContext,
  flags: string[],
  timeouts: { headerMs: number; idleMs: number },
): Promise<number> {
  const dir = tempDir(t);
  writeFileSync(join(dir, 'a.txt'), 'a small file\n');
  await delay(1100);
  const serve = await startServe(t, [
    dir,
    '--port',
    '0',
    '--log',
    'off',
    '--header-timeout',
    String(timeouts.headerMs),
    '--idle-timeout',
    String(timeouts.idleMs),
    ...flags,
  ]);
  return serve.port;
}

interface Watched {
  socket: Socket;
  /** Milliseconds from connecting to the server closing it; undefined while open. */
  closedAfterMs: number | undefined;
  received: Buffer[];
}

function watch(t: TestContext, port: number): Watched {
  const started = Date.now();
  const watched: Watched = { socket: connect(port, '127.0.0.1'), closedAfterMs: undefined, received: [] };
  watched.socket.on('data', (chunk: Buffer) => watched.received.push(chunk));
  watched.socket.on('error', () => undefined);
  watched.socket.on('close', () => {
    watched.closedAfterMs = Date.now() - started;
  });
  t.after(() => watched.socket.destroy());
  return watched;
}

/** Waits until every connection is closed, or BOUND_MS (plus a margin) has passed. */
async function untilClosed(connections: Watched[]): Promise<void> {
  const deadline = Date.now() + BOUND_MS + 1000;
  while (Date.now() < deadline && connections.some((c) => c.closedAfterMs === undefined)) await delay(50);
}

function lateOnes(connections: Watched[]): number[] {
  return connections.map((c) => c.closedAfterMs ?? Number.POSITIVE_INFINITY).filter((ms) => ms > BOUND_MS);
}

for (const mode of MODES) {
  describe(`zerocopy serve timeouts ${mode.name}`, () => {
    it('closes slow senders soon after --header-timeout and answers others meanwhile', async (t) => {
      const port = await serveSite(t, mode.flags, { headerMs: HEADER_TIMEOUT_MS, idleMs: LONG_TIMEOUT_MS });
      const senders = Array.from({ length: SLOW_SENDERS }, () => watch(t, port));
      for (const sender of senders) sender.socket.write('GET /a.txt HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ');
      // One more byte a second, never the end of the head; bounded by the test's own deadline.
      const drip = setInterval(() => {
        for (const sender of senders) if (sender.closedAfterMs === undefined) sender.socket.write('x');
      }, 1000);
      t.after(() => clearInterval(drip));
      await delay(500);
      const normal = await rawRequest(t, port, 'GET', '/a.txt');
      assert.equal(normal.status, 200);
      assert.equal(normal.body.toString(), 'a small file\n');
      await untilClosed(senders);
      clearInterval(drip);
      const late = lateOnes(senders);
      assert.equal(late.length, 0, `${late.length} of ${SLOW_SENDERS} still open after ${BOUND_MS} ms`);
      // None was closed before its time either.
      assert.ok(senders.every((s) => (s.closedAfterMs ?? 0) >= HEADER_TIMEOUT_MS - 100));
      // And the server still answers.
      assert.equal((await rawRequest(t, port, 'GET', '/a.txt')).status, 200);
    });

    it('closes connections that send nothing after --header-timeout, with a 408', async (t) => {
      // The keep-alive timeout (at most 5 s) must not be what closes them.
      const port = await serveSite(t, mode.flags, { headerMs: HEADER_TIMEOUT_MS, idleMs: LONG_TIMEOUT_MS });
      const silent = Array.from({ length: SILENT }, () => watch(t, port));
      await untilClosed(silent);
      const late = lateOnes(silent);
      assert.equal(late.length, 0, `${late.length} of ${SILENT} still open after ${BOUND_MS} ms`);
      for (const connection of silent) {
        assert.equal(
          Buffer.concat(connection.received).toString('latin1'),
          'HTTP/1.1 408 Request Timeout\r\nConnection: close\r\n\r\n',
        );
      }
    });

    it('closes a keep-alive connection idle for --idle-timeout', async (t) => {
      const port = await serveSite(t, mode.flags, { headerMs: LONG_TIMEOUT_MS, idleMs: IDLE_TIMEOUT_MS });
      const client = await RawClient.open(t, port);
      const started = Date.now();
      for (let i = 0; i < 2; i++) assert.equal((await client.exchange('GET', '/a.txt')).status, 200);
      await Promise.race([client.closed, delay(3 * IDLE_TIMEOUT_MS + 1000)]);
      assert.ok(client.ended, `idle connection still open after ${Date.now() - started} ms`);
      assert.ok(Date.now() - started < 3 * IDLE_TIMEOUT_MS, `closed after ${Date.now() - started} ms`);
      assert.equal(await client.leftover(0), 0);
    });
  });
}
