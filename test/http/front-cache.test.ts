// The native front's cache and disk reads against a client that means harm: unique targets
// must not push out hot files nor pile up descriptors, a deleted file must be let go, a client
// that left must not cost disk reads, and a reserved path must hold however it is spelled.
// Real `zerocopy serve` processes (and one server of our own), raw sockets.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readdirSync, readlinkSync, renameSync, statfsSync, unlinkSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { FileCache } from '../../src/http/file-cache.js';
import { createNativeFront, requestPath, serveStatic } from '../../src/index.js';
import { sha256, tempDir } from '../support/fixtures.js';
import {
  dropFromPageCache,
  FRONT_ENGINE_UNDER_TEST,
  nativeFrontStats,
  RawClient,
  rawRequest,
  startServe,
} from './support.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls `check` until it holds; fails with `what` after `limitMs`. */
async function eventually<T>(limitMs: number, what: string, check: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + limitMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`still not so after ${limitMs} ms: ${what}`);
    await sleep(50);
  }
}

/** Where each descriptor of process `pid` points. */
function descriptorTargets(pid: number): string[] {
  const targets: string[] = [];
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      targets.push(readlinkSync(`/proc/${pid}/fd/${fd}`));
    } catch {
      // closed while we looked
    }
  }
  return targets;
}

const TMPFS_MAGIC = 0x01021994;

/**
 * Sends HEAD for each target on one connection, `batch` pipelined at a time, and waits for
 * every response; returns their status codes.
 */
async function headEach(port: number, targets: readonly string[], batch = 100): Promise<number[]> {
  const socket: Socket = connect(port, '127.0.0.1');
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  const statuses: number[] = [];
  let text = '';
  let waiting: (() => void) | undefined;
  socket.on('data', (chunk: Buffer) => {
    text += chunk.toString('latin1');
    // HEAD responses have no body: each ends at its blank line.
    for (let end = text.indexOf('\r\n\r\n'); end !== -1; end = text.indexOf('\r\n\r\n')) {
      statuses.push(Number(text.slice(9, 12)));
      text = text.slice(end + 4);
    }
    waiting?.();
  });
  try {
    for (let i = 0; i < targets.length; i += batch) {
      const part = targets.slice(i, i + batch);
      socket.write(part.map((target) => RawClient.request('HEAD', target)).join(''));
      const expected = statuses.length + part.length;
      const deadline = Date.now() + 10_000;
      while (statuses.length < expected) {
        if (socket.destroyed || Date.now() > deadline) throw new Error(`${statuses.length} of ${expected} responses`);
        await new Promise<void>((resolve) => {
          waiting = resolve;
          setTimeout(resolve, 100);
        });
      }
    }
  } finally {
    socket.destroy();
  }
  return statuses;
}

describe('the native front under unique targets', () => {
  it('keeps hot files as hits while another client sends 20,000 unique targets', async (t) => {
    const dir = tempDir(t);
    const hotSmall = Buffer.from('hot and small\n');
    const hotMemfd = randomBytes(64 * 1024);
    writeFileSync(join(dir, 'hot.txt'), hotSmall);
    writeFileSync(join(dir, 'hot.bin'), hotMemfd);
    writeFileSync(join(dir, 'c.bin'), 'cold\n');
    await sleep(1100);
    // Nothing expires during the test: every fill is one a flood caused.
    const serve = await startServe(t, [dir, '--port', '0', '--log', 'off', '--cache-validity', '600000']);
    const hot = await RawClient.open(t, serve.port);
    for (const [path, bytes] of [
      ['/hot.txt', hotSmall],
      ['/hot.bin', hotMemfd],
    ] as const) {
      const response = await hot.exchange('GET', path);
      assert.equal(sha256(response.body), sha256(bytes), path);
    }
    await rawRequest(t, serve.port, 'GET', '/_zerocopy/status');
    const before = await nativeFrontStats(t, serve.port);

    const flooders = 4;
    const perFlooder = 5000;
    let flooding = true;
    const flood = Promise.all(
      Array.from({ length: flooders }, (_, f) =>
        headEach(
          serve.port,
          Array.from({ length: perFlooder }, (_, i) => `/c.bin?${f}-${i}`),
        ),
      ),
    ).finally(() => {
      flooding = false;
    });
    let hotRequests = 0;
    while (flooding) {
      for (const [path, bytes] of [
        ['/hot.txt', hotSmall],
        ['/hot.bin', hotMemfd],
      ] as const) {
        const response = await hot.exchange('GET', path);
        assert.equal(response.status, 200);
        assert.equal(sha256(response.body), sha256(bytes), path);
        hotRequests++;
      }
    }
    const statuses = (await flood).flat();
    assert.equal(statuses.length, flooders * perFlooder);
    assert.ok(
      statuses.every((status) => status === 200),
      'every unique target answered',
    );
    const after = await nativeFrontStats(t, serve.port);
    const fills = after.fills - before.fills;
    // One fill per unique target; none for the hot files (at most one for the status page).
    assert.ok(
      fills >= flooders * perFlooder && fills <= flooders * perFlooder + 1,
      `fills: ${fills} for ${flooders * perFlooder} unique targets and ${hotRequests} hot requests`,
    );
    assert.ok(
      after.requests - before.requests >= hotRequests + flooders * perFlooder,
      'all answered by the native front',
    );
    // Every target of c.bin shares one answer.
    assert.ok(after.entries <= 3, `answers held: ${after.entries}`);
    // The targets themselves are bounded too: the coldest make room.
    assert.ok(after.entryKeys < flooders * perFlooder, `request keys held: ${after.entryKeys}`);
  });

  it('bounds the bytes of the targets it remembers, however long a client makes them', async (t) => {
    const dir = tempDir(t);
    writeFileSync(join(dir, 'c.bin'), 'cold\n');
    await sleep(1100);
    const serve = await startServe(t, [dir, '--port', '0', '--log', 'off', '--cache-validity', '600000']);
    await rawRequest(t, serve.port, 'GET', '/_zerocopy/status');
    const before = await nativeFrontStats(t, serve.port);
    // 1,000 targets of 15 KB (under the 16 KiB head limit): 15 MB of keys.
    const padding = 'x'.repeat(15_000);
    const count = 1000;
    const statuses = await headEach(
      serve.port,
      Array.from({ length: count }, (_, i) => `/c.bin?${i}=${padding}`),
      // One at a time: a pipelined request cut at a packet boundary goes to node:http.
      1,
    );
    assert.ok(
      statuses.every((status) => status === 200),
      'every long target answered',
    );
    const after = await nativeFrontStats(t, serve.port);
    // One fill each, and one for the status page, whose key was the coldest.
    const fills = after.fills - before.fills;
    assert.ok(fills >= count && fills <= count + 1, `fills: ${fills}`);
    // The native side keeps 8 MiB of request keys: at most this many of these.
    const keysThatFit = Math.floor((8 * 1024 * 1024) / padding.length);
    assert.ok(after.entryKeys <= keysThatFit, `request keys held: ${after.entryKeys}`);
    assert.ok(after.entryKeys > 0);
  });

  it('keeps a hot file while many others pass through a full byte budget, least recently used first out', async (t) => {
    const dir = tempDir(t);
    const size = 64 * 1024;
    const hot = randomBytes(size);
    writeFileSync(join(dir, 'hot.bin'), hot);
    const cold = Array.from({ length: 40 }, (_, i) => {
      const bytes = randomBytes(size);
      writeFileSync(join(dir, `cold-${i}.bin`), bytes);
      return bytes;
    });
    await sleep(1100);
    // 1 MiB holds 16 of these files; 41 pass through.
    const budget = 1024 * 1024;
    const serve = await startServe(t, [
      dir,
      ...['--port', '0', '--log', 'off', '--cache-validity', '600000', '--cache-max-bytes', String(budget)],
    ]);
    const client = await RawClient.open(t, serve.port);
    assert.equal(sha256((await client.exchange('GET', '/hot.bin')).body), sha256(hot));
    await rawRequest(t, serve.port, 'GET', '/_zerocopy/status');
    const before = await nativeFrontStats(t, serve.port);
    for (const [i, bytes] of cold.entries()) {
      assert.equal(sha256((await client.exchange('GET', `/cold-${i}.bin`)).body), sha256(bytes), `cold-${i}`);
      assert.equal(sha256((await client.exchange('GET', '/hot.bin')).body), sha256(hot), 'hot');
    }
    const after = await nativeFrontStats(t, serve.port);
    // One fill per cold file; the hot file never left the table.
    assert.equal(after.fills - before.fills, cold.length);
    assert.equal(after.requests - before.requests, cold.length * 2, 'all answered by the native front');
    assert.ok(after.entriesEvicted > before.entriesEvicted, 'the budget was full');
    assert.ok(after.entryBytes <= budget, `bytes held: ${after.entryBytes}`);
  });

  it('holds one descriptor per large file however many targets name it', async (t) => {
    const dir = tempDir(t);
    const path = join(dir, 'big.bin');
    // Larger than the file cache takes (256 KiB): answered from the open file.
    const big = randomBytes(1024 * 1024 + 13);
    writeFileSync(path, big);
    await sleep(1100);
    const serve = await startServe(t, [dir, '--port', '0', '--log', 'off', '--cache-validity', '600000']);
    const pid = serve.child.pid!;
    assert.equal((await rawRequest(t, serve.port, 'HEAD', '/big.bin')).status, 200);
    await rawRequest(t, serve.port, 'GET', '/_zerocopy/status');
    await eventually(5000, 'connections closed', async () =>
      (await nativeFrontStats(t, serve.port)).connectionsOpen <= 1 ? true : undefined,
    );
    const baseline = descriptorTargets(pid).length;

    const spellings = (i: number) => [`/big.bin?${i}`, `/%62ig.bin?${i}`, `//big.bin?${i}`, `/./big.bin?q=${i}`];
    const targets = Array.from({ length: 600 }, (_, i) => spellings(i)).flat();
    const statuses = await headEach(serve.port, targets);
    assert.ok(
      statuses.every((status) => status === 200),
      'every spelling answered',
    );
    await eventually(5000, 'connections closed', async () =>
      (await nativeFrontStats(t, serve.port)).connectionsOpen <= 1 ? true : undefined,
    );
    const descriptors = descriptorTargets(pid);
    const ofBig = descriptors.filter((target) => target === path).length;
    assert.ok(ofBig <= 1, `descriptors of big.bin: ${ofBig}`);
    assert.ok(
      descriptors.length <= baseline + 4,
      `descriptors: ${descriptors.length}, ${baseline} before ${targets.length} targets`,
    );
    const counters = await nativeFrontStats(t, serve.port);
    assert.ok(counters.entryDescriptors <= 1, `body descriptors: ${counters.entryDescriptors}`);

    // Large files are still answered natively, bytes intact.
    const response = await rawRequest(t, serve.port, 'GET', '/big.bin?after');
    assert.equal(sha256(response.body), sha256(big));
    const later = await nativeFrontStats(t, serve.port);
    assert.equal(later.responsesSendfile - counters.responsesSendfile, 1);
    assert.equal(later.handOversRequest, counters.handOversRequest);
  });

  it("lets go of a deleted or replaced file's descriptor within the cache validity", async (t) => {
    const dir = tempDir(t);
    const deleted = join(dir, 'deleted.bin');
    const replaced = join(dir, 'replaced.bin');
    const first = randomBytes(512 * 1024);
    const second = randomBytes(600 * 1024);
    writeFileSync(deleted, first);
    writeFileSync(replaced, first);
    await sleep(1100);
    const validityMs = 300;
    const serve = await startServe(t, [dir, '--port', '0', '--log', 'off', '--cache-validity', String(validityMs)]);
    const pid = serve.child.pid!;
    for (const path of ['/deleted.bin', '/replaced.bin']) {
      assert.equal(sha256((await rawRequest(t, serve.port, 'GET', path)).body), sha256(first), path);
    }
    const open = descriptorTargets(pid);
    assert.ok(open.includes(deleted) && open.includes(replaced), 'both files held open after being served');

    unlinkSync(deleted);
    writeFileSync(join(dir, 'next.bin'), second);
    renameSync(join(dir, 'next.bin'), replaced);
    // The validity, a sweep (at most the validity apart here) and a margin for a busy machine.
    const gone = [`${deleted} (deleted)`, `${replaced} (deleted)`];
    await eventually(validityMs * 2 + 3000, 'no descriptor of the deleted and the replaced file', async () =>
      descriptorTargets(pid).some((target) => gone.includes(target)) ? undefined : true,
    );
    assert.equal((await rawRequest(t, serve.port, 'GET', '/deleted.bin')).status, 404);
    const now = await rawRequest(t, serve.port, 'GET', '/replaced.bin');
    assert.equal(sha256(now.body), sha256(second));
  });
});

describe('the native front and clients that leave', () => {
  it('drops and bounds the disk reads of clients that left, and counts them', async (t) => {
    const dir = tempDir(t);
    if (statfsSync(dir).type === TMPFS_MAGIC) {
      t.skip('the temporary directory is on tmpfs: a file cannot be made cold');
      return;
    }
    const path = join(dir, 'cold.bin');
    const bytes = randomBytes(64 * 1024 * 1024);
    writeFileSync(path, bytes);
    await sleep(1100);
    const serve = await startServe(t, [dir, '--port', '0', '--log', 'off', '--cache-validity', '600000']);
    assert.equal((await rawRequest(t, serve.port, 'HEAD', '/cold.bin')).status, 200);
    dropFromPageCache(path);
    const before = await nativeFrontStats(t, serve.port);

    const clients = 8;
    await Promise.all(
      Array.from(
        { length: clients },
        () =>
          new Promise<void>((resolve, reject) => {
            const socket = connect(serve.port, '127.0.0.1', () => {
              // The request, then close at once: nothing of the answer will ever be read.
              socket.write(RawClient.request('GET', '/cold.bin', { Range: 'bytes=0-' }), () => {
                socket.destroy();
                resolve();
              });
            });
            socket.once('error', reject);
          }),
      ),
    );
    const after = await eventually(10_000, 'every departed client closed, no disk read left', async () => {
      const counters = await nativeFrontStats(t, serve.port);
      return counters.connectionsOpen <= 1 && counters.diskReadsRunning === 0 && counters.diskReadsWaiting === 0
        ? counters
        : undefined;
    });
    const window = 8 * 1024 * 1024;
    const started = after.diskReads - before.diskReads;
    const read = after.diskReadBytes - before.diskReadBytes;
    const dropped = after.diskReadsDropped - before.diskReadsDropped;
    // At most one window each, never the next one: and most of them dropped before or while running.
    assert.ok(read <= clients * window, `read ${read} bytes for ${clients} clients that left`);
    assert.ok(started <= clients, `disk reads started: ${started} for ${clients} clients`);
    assert.ok(dropped >= 1, `disk reads dropped: ${dropped}`);

    // A client that stays gets its bytes.
    const part = await rawRequest(t, serve.port, 'GET', '/cold.bin', { Range: 'bytes=1000-1999' });
    assert.equal(part.status, 206);
    assert.equal(sha256(part.body), sha256(bytes.subarray(1000, 2000)));
  });
});

/** Spellings of `path` that the file lookup resolves to it (and two it refuses). */
function spellingsOf(path: string): string[] {
  const [first, ...rest] = path.slice(1).split('/');
  const letter = first!.charCodeAt(1).toString(16);
  const encoded = `/${first![0]}%${letter}${first!.slice(2)}/${rest.join('/')}`;
  return [
    path,
    `${path}?x=1`,
    encoded,
    `/${first}/${rest.map((segment) => `%${segment.charCodeAt(0).toString(16).toUpperCase()}${segment.slice(1)}`).join('/')}`,
    `/${path}`,
    `/${first}//${rest.join('/')}`,
    `/.${path}`,
    `/${first}/./${rest.join('/')}`,
    `/elsewhere/..${path}`,
    `${encoded}?y`,
  ];
}

describe('reserved paths under every spelling', () => {
  it('zerocopy serve: every spelling of the status path is the status page, never a file', async (t) => {
    const dir = tempDir(t);
    mkdirSync(join(dir, '_zerocopy'));
    writeFileSync(join(dir, '_zerocopy', 'status'), 'a file the status page shadows\n');
    writeFileSync(join(dir, 'plain.txt'), 'plain\n');
    await sleep(1100);
    const serve = await startServe(t, [dir, '--port', '0', '--log', 'off']);
    // The control: a plain file is answered natively from its second request on.
    for (let i = 0; i < 2; i++) await rawRequest(t, serve.port, 'GET', '/plain.txt');
    const before = await nativeFrontStats(t, serve.port);
    assert.ok(before.requests >= 1, 'the control was answered natively');
    for (const target of spellingsOf('/_zerocopy/status')) {
      for (let i = 0; i < 2; i++) {
        const response = await rawRequest(t, serve.port, 'GET', target);
        assert.ok(!response.body.toString().includes('shadows'), `${target}: the file was served`);
        if (target.includes('/..')) {
          assert.equal(response.status, 403, target);
        } else {
          assert.equal(response.status, 200, target);
          assert.ok('pid' in JSON.parse(response.body.toString()), `${target}: the status page`);
        }
      }
    }
    const after = await nativeFrontStats(t, serve.port);
    assert.equal(after.requests, before.requests, 'no spelling answered natively');
  });

  it('createNativeFront: reserved paths reach the middleware under every spelling', async (t) => {
    const dir = tempDir(t);
    mkdirSync(join(dir, 'private'));
    writeFileSync(join(dir, 'private', 'secret.txt'), 'a secret\n');
    writeFileSync(join(dir, 'public.txt'), 'public\n');
    await sleep(1100);
    const files = serveStatic(dir);
    const isPrivate = (path: string | undefined) => path?.startsWith('/private/') === true;
    const server = createServer((req: IncomingMessage, res: ServerResponse) => {
      if (isPrivate(requestPath(req.url))) {
        res.writeHead(403, { 'Content-Length': 7 });
        res.end('denied\n');
        return;
      }
      files(req, res);
    });
    const front = createNativeFront(server, files, { reserved: isPrivate, engine: FRONT_ENGINE_UNDER_TEST });
    const { port } = await front.listen(0, '127.0.0.1');
    t.after(() => {
      front.close();
      server.close();
      server.closeAllConnections();
    });
    for (let i = 0; i < 2; i++) assert.equal((await rawRequest(t, port, 'GET', '/public.txt')).status, 200);
    const before = front.stats();
    assert.ok(before.requests >= 1, 'the control was answered natively');
    for (const target of spellingsOf('/private/secret.txt')) {
      for (let i = 0; i < 2; i++) {
        const response = await rawRequest(t, port, 'GET', target);
        assert.equal(response.status, 403, target);
        assert.ok(!response.body.toString().includes('secret'), `${target}: the file was served`);
      }
    }
    assert.equal(front.stats().requests, before.requests, 'no spelling answered natively');
  });
});

describe('requestPath: the path a target names, as files are looked up', () => {
  it('gives every spelling of one path the same value', () => {
    const cases: Array<[string, string | undefined]> = [
      ['/private/x', '/private/x'],
      ['/private/x?q=1', '/private/x'],
      ['/%70rivate/x', '/private/x'],
      ['/private/%78', '/private/x'],
      ['//private/x', '/private/x'],
      ['/private//x', '/private/x'],
      ['/./private/x', '/private/x'],
      ['/private/./x?y', '/private/x'],
      ['/private/x/', '/private/x/'],
      ['/private%2Fx', '/private/x'],
      ['/', '/'],
      ['/?q', '/'],
      ['//', '/'],
      ['http://example.com/private/x?q', '/private/x'],
      ['/snow%20%E2%98%83/a', '/snow ☃/a'],
      ['/.hidden/a', '/.hidden/a'],
      // Refused by every file lookup: no path at all.
      ['/a/../private/x', undefined],
      ['/%2e%2e/private/x', undefined],
      ['/bad%zz', undefined],
      ['/a%00b', undefined],
      ['/a%5cb', undefined],
      ['*', undefined],
      ['', undefined],
    ];
    for (const [target, path] of cases) assert.equal(requestPath(target), path, target);
    assert.equal(requestPath(undefined), undefined);
  });
});

describe("the file cache's memo of request-targets", () => {
  it('starts over once its targets add up to too many characters', () => {
    const cache = new FileCache();
    const long = (i: number) => `/${i}?${'x'.repeat(100_000)}`;
    for (let i = 0; i < 100; i++) cache.rememberPathKey(long(i), `f/${i}`);
    assert.equal(cache.pathKeyOf(long(99)), 'f/99');
    assert.equal(cache.pathKeyOf(long(0)), undefined, '10 M characters are not all kept');
    cache.rememberPathKey('/short', 'f/short');
    assert.equal(cache.pathKeyOf('/short'), 'f/short');
  });
});
