// zerocopy broadcast with real HTTP clients: curl, and raw sockets that check the framing
// (a close-delimited body: no Content-Length, no chunks, bytes exactly as the source said).
import assert from 'node:assert/strict';
import { type ChildProcessWithoutNullStreams, execFile, spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { appendFileSync, closeSync, openSync, writeFileSync, writeSync } from 'node:fs';
import { connect, createServer, type Socket } from 'node:net';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';

import { cliEntry, requireTool, sha256, tempDir } from '../support/fixtures.js';
import { eventually, KB, MB, payload, tinyReceiveBuffer, within } from '../support/transfer.js';

interface Broadcast {
  child: ChildProcessWithoutNullStreams;
  port: number;
  output: () => string;
  exited: Promise<number | null>;
}

async function startBroadcast(t: TestContext, args: string[]): Promise<Broadcast> {
  const child = spawn(process.execPath, [cliEntry, 'broadcast', '--listen', '127.0.0.1:0', ...args]);
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  child.stderr.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  t.after(() => {
    if (child.exitCode === null) child.kill('SIGKILL');
  });
  await eventually(() => /at http:\/\/127\.0\.0\.1:\d+/.test(output) || child.exitCode !== null, 10_000, 'listening');
  const port = Number(/at http:\/\/127\.0\.0\.1:(\d+)/.exec(output)?.[1]);
  assert.ok(port > 0, output);
  return { child, port, output: () => output, exited };
}

interface Status {
  clientsNow: number;
  clients: number;
  sourceBytes: number;
  outcomes: Record<string, number>;
  bytesByMethod: Record<string, number>;
}

async function status(port: number): Promise<Status> {
  const response = await fetch(`http://127.0.0.1:${port}/_zerocopy/status`);
  return (await response.json()) as Status;
}

/** A raw HTTP/1.1 GET: the head as text, and the body's length and hash, once the server closes. */
function rawGet(port: number, options: { keep?: boolean; request?: string; tinyReceive?: boolean } = {}) {
  const socket = connect(port, '127.0.0.1');
  if (options.tinyReceive === true) socket.once('connect', () => tinyReceiveBuffer(socket));
  const hasher = createHash('sha256');
  let head = '';
  let pending = Buffer.alloc(0);
  let bodyBytes = 0;
  let inBody = false;
  socket.write(options.request ?? 'GET / HTTP/1.1\r\nHost: x\r\n\r\n');
  const done = new Promise<{ head: string; bytes: number; hash: string }>((resolve) => {
    socket.on('data', (chunk: Buffer) => {
      if (inBody) {
        bodyBytes += chunk.byteLength;
        hasher.update(chunk);
        return;
      }
      pending = Buffer.concat([pending, chunk]);
      const end = pending.indexOf('\r\n\r\n');
      if (end < 0) return;
      head = pending.subarray(0, end).toString('latin1');
      inBody = true;
      const rest = pending.subarray(end + 4);
      bodyBytes += rest.byteLength;
      hasher.update(rest);
    });
    socket.once('close', () => resolve({ head, bytes: bodyBytes, hash: hasher.digest('hex') }));
    socket.once('error', () => {});
  });
  if (options.keep === true) socket.pause();
  return { socket, done, bytes: () => bodyBytes };
}

function curl(port: number, path = '/'): Promise<{ bytes: number; hash: string; code: number }> {
  return new Promise((resolve, reject) => {
    execFile(
      'curl',
      ['-s', '-o', '-', '-w', '', `http://127.0.0.1:${port}${path}`],
      { encoding: 'buffer', maxBuffer: 256 * MB },
      (error, stdout) => {
        if (error !== null && typeof error.code !== 'number') reject(error);
        else
          resolve({ bytes: stdout.byteLength, hash: sha256(stdout), code: (error?.code as number | undefined) ?? 0 });
      },
    );
  });
}

describe('zerocopy broadcast', () => {
  it('sends standard input to curl and raw clients, close-delimited, every byte', async (t) => {
    if (!(await requireTool(t, 'curl', ['--version'], 'a real HTTP client reads the stream'))) return;
    const { bytes, hash } = payload(24 * MB + 11);
    const broadcast = await startBroadcast(t, ['--from', '-', '--content-type', 'video/mp2t']);
    const curls = [curl(broadcast.port), curl(broadcast.port)];
    const raw = rawGet(broadcast.port);
    await within(
      (async () => {
        while ((await status(broadcast.port)).clientsNow < 3) await new Promise((r) => setTimeout(r, 20));
      })(),
      10_000,
      'three clients',
    );
    broadcast.child.stdin.end(bytes);
    const [first, second] = await within(Promise.all(curls), 30_000, 'curl');
    const framed = await within(raw.done, 30_000, 'the raw client');
    assert.deepEqual(first, { bytes: bytes.byteLength, hash, code: 0 });
    assert.deepEqual(second, { bytes: bytes.byteLength, hash, code: 0 });
    assert.equal(framed.bytes, bytes.byteLength);
    assert.equal(framed.hash, hash);
    assert.match(framed.head, /^HTTP\/1\.1 200 OK\r\n/);
    assert.match(framed.head, /\r\nContent-Type: video\/mp2t\r\n/i);
    assert.match(framed.head, /\r\nConnection: close(\r\n|$)/i);
    assert.doesNotMatch(framed.head, /Content-Length|Transfer-Encoding/i);
    assert.equal(await within(broadcast.exited, 10_000, 'the exit'), 0);
    // One access-log line per client, saying how its body left.
    assert.equal(broadcast.output().match(/^GET \/ 200 24\.0MiB .* splice$/gm)?.length, 3, broadcast.output());
  });

  it('a client that joins late starts at the live position', async (t) => {
    const { bytes } = payload(4 * MB);
    const broadcast = await startBroadcast(t, ['--from', '-']);
    const early = rawGet(broadcast.port);
    await eventually(() => early.bytes() === 0, 1000, 'the first client');
    await within(
      (async () => {
        while ((await status(broadcast.port)).clientsNow < 1) await new Promise((r) => setTimeout(r, 20));
      })(),
      10_000,
      'the first client',
    );
    broadcast.child.stdin.write(bytes.subarray(0, 1 * MB));
    await eventually(() => early.bytes() === 1 * MB, 10_000, 'the first part');
    const late = rawGet(broadcast.port);
    await within(
      (async () => {
        while ((await status(broadcast.port)).clientsNow < 2) await new Promise((r) => setTimeout(r, 20));
      })(),
      10_000,
      'the late client',
    );
    broadcast.child.stdin.end(bytes.subarray(1 * MB));
    const [a, b] = await within(Promise.all([early.done, late.done]), 30_000, 'both clients');
    assert.equal(a.hash, sha256(bytes));
    assert.equal(b.bytes, 3 * MB);
    assert.equal(b.hash, sha256(bytes.subarray(1 * MB)));
  });

  it('reads a TCP source, a FIFO, and a growing file', async (t) => {
    const dir = tempDir(t);
    const { bytes, hash } = payload(3 * MB);

    // tcp:HOST:PORT — the source server sends once a client is watching.
    let upstream: Socket | undefined;
    const server = createServer((socket) => {
      upstream = socket;
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    t.after(() => server.close());
    const sourcePort = (server.address() as { port: number }).port;
    // HOST:PORT with no file of that name is a TCP address (tcp:HOST:PORT says so outright).
    const fromTcp = await startBroadcast(t, ['--from', `127.0.0.1:${sourcePort}`]);
    const tcpClient = rawGet(fromTcp.port);
    await eventually(() => upstream !== undefined, 5000, 'the source connection');
    while ((await status(fromTcp.port)).clientsNow < 1) await new Promise((r) => setTimeout(r, 20));
    upstream?.end(bytes);
    assert.equal((await within(tcpClient.done, 20_000, 'the TCP-sourced client')).hash, hash);

    // A FIFO.
    const fifo = join(dir, 'live.fifo');
    assert.equal(spawnSync('mkfifo', [fifo]).status, 0);
    const fromFifo = await startBroadcast(t, ['--from', fifo]);
    const fifoClient = rawGet(fromFifo.port);
    while ((await status(fromFifo.port)).clientsNow < 1) await new Promise((r) => setTimeout(r, 20));
    const writer = openSync(fifo, 'w');
    writeSync(writer, bytes);
    closeSync(writer);
    assert.equal((await within(fifoClient.done, 20_000, 'the FIFO client')).hash, hash);

    // A growing file: followed from its end until the command is told to stop.
    const log = join(dir, 'growing.log');
    writeFileSync(log, 'old lines\n');
    const fromFile = await startBroadcast(t, ['--from', log]);
    const fileClient = rawGet(fromFile.port);
    while ((await status(fromFile.port)).clientsNow < 1) await new Promise((r) => setTimeout(r, 20));
    appendFileSync(log, 'new line 1\n');
    appendFileSync(log, 'new line 2\n');
    await eventually(() => fileClient.bytes() === 22, 10_000, 'the new lines');
    fromFile.child.kill('SIGTERM');
    const got = await within(fileClient.done, 10_000, 'the file client');
    assert.equal(got.hash, sha256('new line 1\nnew line 2\n'));
    assert.equal(await fromFile.exited, 0);
  });

  it("drops a client that falls behind ('drop'), and the others get everything", async (t) => {
    const size = 24 * MB;
    const { bytes, hash } = payload(size);
    const broadcast = await startBroadcast(t, ['--from', '-', '--lag-limit', String(2 * MB)]);
    const fast = [rawGet(broadcast.port), rawGet(broadcast.port)];
    const slow = rawGet(broadcast.port, { keep: true, tinyReceive: true });
    while ((await status(broadcast.port)).clientsNow < 3) await new Promise((r) => setTimeout(r, 20));
    for (let offset = 0; offset < size; offset += 256 * KB) {
      const more = broadcast.child.stdin.write(bytes.subarray(offset, offset + 256 * KB));
      if (!more) await new Promise((resolve) => broadcast.child.stdin.once('drain', resolve));
      await new Promise((resolve) => setTimeout(resolve, 2));
    }
    await eventually(() => /dropped/.test(broadcast.output()), 20_000, 'the slow client dropped');
    const counters = await status(broadcast.port);
    assert.equal(counters.outcomes.dropped, 1);
    broadcast.child.stdin.end();
    for (const client of fast) assert.equal((await within(client.done, 30_000, 'a fast client')).hash, hash);
    slow.socket.destroy();
    assert.match(broadcast.output(), /^GET \/ 200 .* splice ABORTED dropped \(lag\)$/m);
  });

  it('answers HEAD with the head only, other methods with 405, and the status page', async (t) => {
    const broadcast = await startBroadcast(t, ['--from', '-', '--content-type', 'audio/mpeg']);
    const head = await fetch(`http://127.0.0.1:${broadcast.port}/`, { method: 'HEAD' });
    assert.equal(head.status, 200);
    assert.equal(head.headers.get('content-type'), 'audio/mpeg');
    const post = await fetch(`http://127.0.0.1:${broadcast.port}/`, { method: 'POST', body: 'x' });
    assert.equal(post.status, 405);
    assert.equal(post.headers.get('allow'), 'GET, HEAD');
    const counters = await status(broadcast.port);
    assert.equal(counters.clientsNow, 0);
    assert.equal(counters.sourceBytes, 0);
    broadcast.child.stdin.end();
    assert.equal(await within(broadcast.exited, 10_000, 'the exit'), 0);
  });

  it('refuses bad arguments', () => {
    for (const args of [[], ['--from', '-', '--policy', 'skip'], ['--from', '-', '--lag-limit', '0']]) {
      const result = spawnSync(process.execPath, [cliEntry, 'broadcast', ...args], { encoding: 'utf8' });
      assert.notEqual(result.status, 0, args.join(' '));
      assert.match(result.stderr, /zerocopy: /);
    }
  });
});
