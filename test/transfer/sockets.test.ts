// Node's own sockets as endpoints: bytes Node had already read come first, the socket goes
// back to Node afterwards (keep-alive), slow and vanishing peers, HTTP responses, child
// process stdio, and many transfers at once.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { openSync, readFileSync } from 'node:fs';
import { createServer as createHttpServer, type ServerResponse } from 'node:http';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';

import { type TransferError, transfer } from '../../src/transfer/index.js';
import { closeQuietly, sha256, tcpPair, tempDir } from '../support/fixtures.js';
import {
  drain,
  eventually,
  feed,
  fileWith,
  KB,
  listen,
  MB,
  payload,
  requireAddon,
  slowDrain,
  tinyReceiveBuffer,
  tinySendBuffer,
  unixPair,
  within,
} from '../support/transfer.js';

before(requireAddon);

/** Node has received the end of the stream (not necessarily emitted 'end' yet). */
function readableEnded(socket: Socket): boolean {
  return (socket as unknown as { _readableState: { ended: boolean } })._readableState.ended;
}

describe('a Node socket as the source', () => {
  it('delivers the bytes Node had already read first, then the rest, in order', async (t) => {
    const { client, server } = await tcpPair(t);
    const { bytes, hash } = payload(4 * MB + 3);
    // Node reads the first piece into its own buffer (a 'readable' listener, nobody calls read()).
    client.write(bytes.subarray(0, 1000));
    await new Promise<void>((resolve) => server.once('readable', () => resolve()));
    assert.ok(server.readableLength > 0, 'Node holds bytes it has read');
    const destination = join(tempDir(t), 'out.bin');
    const [report] = await within(
      Promise.all([transfer(server, destination), feed(client, bytes.subarray(1000))]),
      10_000,
      'socket -> file',
    );
    assert.equal(report.method, 'splice');
    assert.equal(report.bytes, bytes.byteLength);
    assert.equal(sha256(readFileSync(destination)), hash);
  });

  it('with a length: stops there, and Node reads what follows (the socket is Node’s again)', async (t) => {
    const { client, server } = await tcpPair(t);
    const first = payload(MB + 1).bytes;
    client.write(first);
    client.write('NEXT-REQUEST');
    const destination = join(tempDir(t), 'body.bin');
    const report = await within(transfer(server, destination, { length: first.byteLength }), 10_000, 'body');
    assert.equal(report.bytes, first.byteLength);
    assert.equal(sha256(readFileSync(destination)), payload(MB + 1).hash);
    let rest = '';
    server.setEncoding('latin1');
    server.on('data', (chunk: string) => {
      rest += chunk;
    });
    await within(
      eventually(() => rest.length >= 12, 5000, 'the next bytes via Node'),
      6000,
      'Node to read after the transfer',
    );
    assert.equal(rest, 'NEXT-REQUEST');
    client.end('!');
    await within(new Promise((resolve) => server.once('end', resolve)), 5000, "Node to see the peer's end");
    assert.equal(rest, 'NEXT-REQUEST!');
  });

  it('a length shorter than what Node had read: the rest stays for Node, in order', async (t) => {
    const { client, server } = await tcpPair(t);
    client.write('ABCDEFGHIJ');
    await eventually(() => server.readableLength === 10, 5000, 'Node to read ten bytes');
    const destination = join(tempDir(t), 'four.bin');
    const report = await transfer(server, destination, { length: 4 });
    assert.equal(report.bytes, 4);
    assert.equal(readFileSync(destination, 'latin1'), 'ABCD');
    let rest = '';
    server.setEncoding('latin1');
    server.on('data', (text: string) => {
      rest += text;
    });
    client.write('KLM');
    await eventually(() => rest.length >= 9, 5000, 'the rest via Node');
    assert.equal(rest, 'EFGHIJKLM');
  });

  it('a peer that already sent its FIN (Node saw the end): the bytes arrive and nothing throws', async (t) => {
    const { client, server } = await tcpPair(t);
    // Smaller than Node's high-water mark, so Node reads all of it and the FIN.
    const { bytes, hash } = payload(8 * KB + 5);
    const errors: Error[] = [];
    server.on('error', (error) => errors.push(error));
    const sawEnd = new Promise<void>((resolve) => server.once('end', resolve));
    client.end(bytes);
    await eventually(() => readableEnded(server), 5000, 'Node to read the bytes and the FIN');
    assert.equal(server.readableLength, bytes.byteLength);
    const destination = join(tempDir(t), 'out.bin');
    const report = await within(transfer(server, destination), 5000, 'socket (ended) -> file');
    assert.equal(report.bytes, bytes.byteLength);
    assert.equal(sha256(readFileSync(destination)), hash);
    server.resume();
    await within(sawEnd, 5000, "the socket's 'end'");
    await new Promise((resolve) => setTimeout(resolve, 20));
    assert.deepEqual(errors, []);
  });

  it('a stream source that ends before `length`: ERR_ZEROCOPY_SOURCE_ENDED with progress', async (t) => {
    const { client, server } = await tcpPair(t);
    client.end(payload(MB).bytes);
    const destination = join(tempDir(t), 'short.bin');
    await assert.rejects(transfer(server, destination, { length: 2 * MB }), (error: unknown) => {
      const failure = error as TransferError;
      assert.equal(failure.code, 'ERR_ZEROCOPY_SOURCE_ENDED', failure.message);
      assert.equal(failure.bytesTransferred, MB);
      return true;
    });
  });
});

describe('a Node socket as the destination', () => {
  it('bytes Node had queued (cork, a pending write) go first, and Node writes after the transfer', async (t) => {
    const { client, server } = await tcpPair(t);
    const received = drain(server);
    const { bytes } = payload(MB + 1);
    const source = fileWith(t, bytes);
    client.cork();
    client.write('HEADER\n');
    const report = await transfer(source, client);
    client.end('\nTRAILER');
    assert.equal(report.method, 'sendfile');
    const all = await within(received.done, 10_000, 'everything');
    const expected = Buffer.concat([Buffer.from('HEADER\n'), bytes, Buffer.from('\nTRAILER')]);
    assert.equal(all.hash, sha256(expected));
  });

  it('a slow reader with a tiny receive buffer still gets every byte, and the transfer waited', async (t) => {
    const { client, server } = await tcpPair(t);
    // 16 KiB: below that, loopback TCP (MSS 64 KiB) crawls on its persist timer whoever sends.
    tinyReceiveBuffer(server, 16 * KB);
    // And a small send buffer, so that the sender cannot park the whole file in the kernel.
    tinySendBuffer(client, 64 * KB);
    const { bytes, hash } = payload(4 * MB);
    const source = fileWith(t, bytes);
    const received = slowDrain(server, 64 * KB, 2);
    const ticks = { count: 0 };
    const timer = setInterval(() => ticks.count++, 5);
    t.after(() => clearInterval(timer));
    const report = await within(transfer(source, client), 30_000, 'file -> slow reader');
    client.end();
    clearInterval(timer);
    assert.equal(report.method, 'sendfile');
    assert.ok(report.waits > 0, 'the transfer must have waited for the slow reader');
    assert.ok(ticks.count > 0, 'timers ran during the transfer');
    const arrived = await within(received.done, 30_000, 'the slow reader');
    assert.equal(arrived.bytes, bytes.byteLength);
    assert.equal(arrived.hash, hash);
  });

  it('the peer closing mid-transfer: rejects with progress, the socket destroyed', async (t) => {
    const { client, server } = await tcpPair(t);
    const source = fileWith(t, payload(64 * MB).bytes);
    client.on('error', () => {});
    let seen = 0;
    server.on('data', (chunk: Buffer) => {
      seen += chunk.byteLength;
      if (seen > MB) server.resetAndDestroy();
    });
    server.on('error', () => {});
    await assert.rejects(within(transfer(source, client), 10_000, 'a transfer to a vanishing peer'), (error) => {
      const failure = error as TransferError;
      assert.ok(['EPIPE', 'ECONNRESET'].includes(failure.code), failure.message);
      assert.ok(failure.bytesTransferred > 0);
      assert.equal(failure.method, 'sendfile');
      return true;
    });
    assert.ok(client.destroyed);
  });

  it('Node keeps reading the same socket while transfer() waits to write it (no second poll handle)', async (t) => {
    const { client, server } = await tcpPair(t);
    tinyReceiveBuffer(server, 16 * KB);
    const { bytes, hash } = payload(4 * MB);
    const source = fileWith(t, bytes);
    // Both directions at once: Node reads `client` while transfer() writes it.
    const echoes: string[] = [];
    client.setEncoding('latin1');
    client.on('data', (text: string) => echoes.push(text));
    const received = slowDrain(server, 256 * KB, 1);
    const pending = transfer(source, client);
    for (let i = 0; i < 5; i++) {
      server.write(`ping${i};`);
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    const report = await within(pending, 30_000, 'the transfer');
    assert.ok(report.waits > 0);
    await eventually(() => echoes.join('').length >= 30, 5000, 'pings read by Node during the transfer');
    assert.equal(echoes.join(''), 'ping0;ping1;ping2;ping3;ping4;');
    client.end();
    assert.equal((await within(received.done, 10_000, 'reader')).hash, hash);
  });
});

describe('HTTP: headers by Node, the body by transfer(), on a keep-alive connection', () => {
  it('several requests in a row on one connection (raw client), each body intact', async (t) => {
    const sizes = [0, 1, 100 * KB, MB + 1, 3 * MB];
    const dir = tempDir(t);
    const files = sizes.map((size) => fileWith(t, payload(size).bytes, `f${size}.bin`, dir));
    let connections = 0;
    const server = createHttpServer(async (req, res) => {
      const index = Number(new URL(req.url ?? '/', 'http://x').searchParams.get('i'));
      const path = files[index] as string;
      const fd = openSync(path, 'r');
      try {
        res.writeHead(200, { 'Content-Length': String(sizes[index]), 'Content-Type': 'application/octet-stream' });
        res.flushHeaders();
        await transfer(fd, await responseSocket(res));
        res.end();
      } catch (error) {
        res.destroy(error as Error);
      } finally {
        closeQuietly(fd);
      }
    });
    server.on('connection', () => connections++);
    const port = await listen(t, server);
    const socket = connect(port, '127.0.0.1');
    t.after(() => socket.destroy());
    const reader = httpReader(socket);
    for (let round = 0; round < 2; round++) {
      for (const [index, size] of sizes.entries()) {
        socket.write(`GET /?i=${index} HTTP/1.1\r\nHost: localhost\r\nConnection: keep-alive\r\n\r\n`);
        const response = await within(reader.next(), 10_000, `response ${index}`);
        assert.equal(response.status, 200);
        assert.equal(response.body.byteLength, size);
        assert.equal(sha256(response.body), payload(size).hash);
      }
    }
    assert.equal(connections, 1, 'every request used the same connection');
  });

  it('fetch() over keep-alive: several bodies in a row, each intact', async (t) => {
    const { bytes, hash } = payload(2 * MB + 9);
    const path = fileWith(t, bytes);
    const perConnection = new Map<Socket, number>();
    const server = createHttpServer(async (req, res) => {
      perConnection.set(req.socket, (perConnection.get(req.socket) ?? 0) + 1);
      res.writeHead(200, { 'Content-Length': String(bytes.byteLength) });
      res.flushHeaders();
      try {
        await transfer(path, res.socket as Socket);
        res.end();
      } catch (error) {
        res.destroy(error as Error);
      }
    });
    const port = await listen(t, server);
    for (let i = 0; i < 4; i++) {
      const response = await within(fetch(`http://127.0.0.1:${port}/${i}`), 10_000, 'fetch');
      const body = Buffer.from(await response.arrayBuffer());
      assert.equal(sha256(body), hash);
    }
    // undici decides how many connections it opens; at least one must have carried several responses.
    assert.ok(Math.max(...perConnection.values()) >= 2, `requests per connection: ${[...perConnection.values()]}`);
    server.closeAllConnections();
  });
});

/**
 * The socket a response writes to. A pipelined request's response gets its socket only
 * when the responses before it have finished (until then `res.socket` is null).
 */
async function responseSocket(res: ServerResponse): Promise<Socket> {
  if (res.socket !== null) return res.socket;
  const [socket] = (await once(res, 'socket')) as [Socket];
  return socket;
}

/** Parses HTTP/1.1 responses with Content-Length from a raw socket, one at a time. */
function httpReader(socket: Socket) {
  let buffer = Buffer.alloc(0);
  let wake: (() => void) | undefined;
  socket.on('data', (chunk: Buffer) => {
    buffer = Buffer.concat([buffer, chunk]);
    wake?.();
  });
  return {
    async next(): Promise<{ status: number; body: Buffer }> {
      for (let turns = 0; turns < 100_000; turns++) {
        const end = buffer.indexOf('\r\n\r\n');
        if (end >= 0) {
          const head = buffer.subarray(0, end).toString('latin1');
          const length = Number(/content-length: *(\d+)/i.exec(head)?.[1] ?? 'NaN');
          if (buffer.byteLength >= end + 4 + length) {
            const body = buffer.subarray(end + 4, end + 4 + length);
            buffer = buffer.subarray(end + 4 + length);
            return { status: Number(head.split(' ')[1]), body: Buffer.from(body) };
          }
        }
        await new Promise<void>((resolve) => {
          wake = resolve;
        });
      }
      throw new Error('no complete response');
    },
  };
}

describe('child process stdio (AF_UNIX socket pairs)', () => {
  it('file -> cat -> file, both ends by transfer()', async (t) => {
    const child = spawn('cat', [], { stdio: ['pipe', 'pipe', 'inherit'] });
    t.after(() => child.kill());
    const { bytes, hash } = payload(8 * MB + 1);
    const source = fileWith(t, bytes);
    const destination = join(tempDir(t), 'from-cat.bin');
    const reading = transfer(child.stdout as Socket, destination);
    const writing = transfer(source, child.stdin as Socket).then((report) => {
      child.stdin.end();
      return report;
    });
    const [written, read] = await within(Promise.all([writing, reading]), 20_000, 'through cat');
    assert.equal(written.destination, 'socket');
    assert.equal(read.source, 'socket');
    assert.equal(read.bytes, bytes.byteLength);
    assert.equal(sha256(readFileSync(destination)), hash);
  });
});

describe('many transfers at once', () => {
  it('1000 concurrent file -> socket transfers over loopback all arrive intact', async (t) => {
    const count = 1000;
    const { bytes, hash } = payload(64 * KB + 1);
    const source = fileWith(t, bytes);
    const server = (await import('node:net')).createServer();
    const received: Promise<{ bytes: number; hash: string }>[] = [];
    server.on('connection', (socket: Socket) => received.push(drain(socket).done));
    const port = await listen(t, server);
    const clients: Socket[] = [];
    t.after(() => {
      for (const client of clients) client.destroy();
    });
    for (let i = 0; i < count; i++) {
      const client = connect(port, '127.0.0.1');
      clients.push(client);
    }
    await within(
      Promise.all(clients.map((client) => new Promise((resolve) => client.once('connect', resolve)))),
      20_000,
      'connections',
    );
    const reports = await within(
      Promise.all(clients.map((client) => transfer(source, client))),
      30_000,
      'concurrent transfers',
    );
    for (const client of clients) client.end();
    for (const report of reports) assert.equal(report.bytes, bytes.byteLength);
    await eventually(() => received.length === count, 10_000, 'every connection accepted');
    const results = await within(Promise.all(received), 30_000, 'every reader');
    for (const result of results) assert.equal(result.hash, hash);
  });

  it('200 concurrent socket -> socket splices (Unix and TCP) all arrive intact', async (t) => {
    const count = 100;
    const { bytes, hash } = payload(256 * KB + 7);
    const jobs: Promise<void>[] = [];
    for (let i = 0; i < count; i++) {
      for (const make of [tcpPair, unixPair]) {
        jobs.push(
          (async () => {
            const input = await make(t);
            const output = await make(t);
            const received = drain(output.server);
            await Promise.all([transfer(input.server, output.client), feed(input.client, bytes)]);
            output.client.end();
            const arrived = await received.done;
            assert.equal(arrived.hash, hash);
          })(),
        );
      }
    }
    await within(Promise.all(jobs), 60_000, 'concurrent splices');
  });
});
