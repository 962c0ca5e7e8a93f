// The native front applies node:http's own limits the way node:http does: the server's
// maxHeaderSize, maxRequestsPerSocket and maxHeadersCount. Each case runs against the same
// files served by node:http alone, and the answers must match (status, fields but Date,
// connection kept or closed). Also: the status page counts the front's 304s and 206s as such,
// and the addon's layout describes what stats() returns.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { createServer, type Server, type ServerOptions } from 'node:http';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';

import { binding } from '../../src/binding/load.js';
import { createNativeFront, type NativeFront, nativeFrontAvailable, serveStatic } from '../../src/index.js';
import { delay, sha256, tempDir } from '../support/fixtures.js';
import { FRONT_ENGINE_UNDER_TEST, RawClient, type RawResponse, rawRequest, startServe } from './support.js';

const BODY = Buffer.from('0123456789abcdefghijklmnopqrstuvwxyz\n'.repeat(20));

/** A directory with a.txt, old enough to be cached (a file changed within the last second never is). */
async function site(t: TestContext): Promise<string> {
  const dir = tempDir(t);
  writeFileSync(join(dir, 'a.txt'), BODY);
  await delay(1100);
  return dir;
}

interface Pair {
  front: NativeFront;
  /** The front's port, and node:http's alone with the same options. */
  fronted: number;
  plain: number;
}

async function servers(
  t: TestContext,
  options: ServerOptions,
  tune: (server: Server) => void = () => {},
): Promise<Pair> {
  const dir = await site(t);
  const start = (server: Server) => {
    tune(server);
    t.after(() => {
      server.closeAllConnections();
      server.close();
    });
  };
  const plainServer = createServer(options, serveStatic(dir));
  start(plainServer);
  await new Promise<void>((resolve) => plainServer.listen(0, '127.0.0.1', resolve));
  const files = serveStatic(dir);
  const frontServer = createServer(options, files);
  start(frontServer);
  const front = createNativeFront(frontServer, files);
  t.after(() => front.close());
  const address = await front.listen(0, '127.0.0.1');
  return { front, fronted: address.port, plain: (plainServer.address() as { port: number }).port };
}

/** Status and fields, Date left out (it moves). */
function comparable(response: RawResponse): { status: number; fields: Record<string, string>; body: string } {
  const { date: _date, ...fields } = response.headers;
  return { status: response.status, fields, body: sha256(response.body) };
}

/** Whether the server closes the connection soon after what was exchanged. */
async function closedSoon(client: RawClient): Promise<boolean> {
  await Promise.race([client.closed, new Promise((resolve) => setTimeout(resolve, 300))]);
  return client.ended;
}

describe('the native front applies node:http limits', {
  skip: !nativeFrontAvailable() && 'no native front here',
}, () => {
  it("hands a head over the server's own maxHeaderSize to node:http, which answers 431", async (t) => {
    const { front, fronted, plain } = await servers(t, { maxHeaderSize: 2048 });
    const long = { 'X-Padding': 'p'.repeat(3000) };
    // Warm the cache, so the front could answer a.txt by itself.
    await rawRequest(t, fronted, 'GET', '/a.txt');
    const before = front.stats().requests;
    const viaFront = await rawRequest(t, fronted, 'GET', '/a.txt', long);
    const alone = await rawRequest(t, plain, 'GET', '/a.txt', long);
    assert.equal(alone.status, 431);
    assert.deepEqual(comparable(viaFront), comparable(alone));
    assert.equal(front.stats().requests, before, 'the long head was not answered natively');
    // Just under the limit, the front answers.
    const short = { 'X-Padding': 'p'.repeat(1500) };
    assert.deepEqual(
      comparable(await rawRequest(t, fronted, 'GET', '/a.txt', short)),
      comparable(await rawRequest(t, plain, 'GET', '/a.txt', short)),
    );
    assert.equal(front.stats().requests, before + 1);
  });

  it('counts requests per connection as maxRequestsPerSocket does, the last one told to close', async (t) => {
    const { front, fronted, plain } = await servers(t, {}, (server) => {
      server.maxRequestsPerSocket = 3;
    });
    await rawRequest(t, fronted, 'GET', '/a.txt');
    const before = front.stats().requests;
    const run = async (port: number) => {
      const client = await RawClient.open(t, port);
      const answers = [];
      for (let i = 0; i < 3; i++) answers.push(comparable(await client.exchange('GET', '/a.txt')));
      return { answers, closed: await closedSoon(client) };
    };
    const viaFront = await run(fronted);
    const alone = await run(plain);
    assert.equal(alone.answers[0]?.fields['keep-alive'], 'timeout=5, max=3');
    assert.equal(alone.answers[2]?.fields.connection, 'close');
    assert.deepEqual(viaFront, alone);
    assert.equal(front.stats().requests - before, 3, 'all three answered natively');
  });

  it('refuses a request past maxRequestsPerSocket with the 503 node:http sends', async (t) => {
    const { front, fronted, plain } = await servers(t, {}, (server) => {
      server.maxRequestsPerSocket = 2;
    });
    await rawRequest(t, fronted, 'GET', '/a.txt');
    const before = front.stats();
    // A client that ignores "Connection: close": node:http refuses what comes after, and keeps
    // the connection open.
    const run = async (port: number) => {
      const client = await RawClient.open(t, port);
      const answers = [];
      for (let i = 0; i < 2; i++) answers.push(comparable(await client.exchange('GET', '/a.txt')));
      answers.push(comparable(await client.exchange('HEAD', '/a.txt')));
      answers.push(comparable(await client.exchange('GET', '/a.txt')));
      return { answers, closed: await closedSoon(client), leftover: await client.leftover(0) };
    };
    const viaFront = await run(fronted);
    const alone = await run(plain);
    assert.deepEqual(
      alone.answers.map((answer) => answer.status),
      [200, 200, 503, 503],
    );
    assert.deepEqual(viaFront, alone);
    const after = front.stats();
    assert.equal(after.requests - before.requests, 4, 'all four answered natively');
    assert.equal((after.byStatus['503'] ?? 0) - (before.byStatus['503'] ?? 0), 2);
  });

  it('hands over a request with more header fields than node:http keeps (maxHeadersCount)', async (t) => {
    const { front, fronted, plain } = await servers(t, {}, (server) => {
      server.maxHeadersCount = 5;
    });
    await rawRequest(t, fronted, 'GET', '/a.txt');
    // Range is the seventh field: node:http 20 keeps five and never sees it, so answers 200;
    // Node 24 refuses the head (431). Either way the front leaves it to node:http.
    const many: Record<string, string> = {};
    for (let i = 0; i < 5; i++) many[`X-Filler-${i}`] = 'x';
    many.Range = 'bytes=0-9';
    const before = front.stats();
    const viaFront = await rawRequest(t, fronted, 'GET', '/a.txt', many);
    const alone = await rawRequest(t, plain, 'GET', '/a.txt', many);
    assert.ok([200, 431].includes(alone.status), `node:http answered ${alone.status}`);
    assert.deepEqual(comparable(viaFront), comparable(alone));
    assert.equal(front.stats().requests, before.requests);
    // Few enough fields: the front answers the range itself.
    const few = { Range: 'bytes=0-9' };
    const partial = await rawRequest(t, fronted, 'GET', '/a.txt', few);
    assert.deepEqual(comparable(partial), comparable(await rawRequest(t, plain, 'GET', '/a.txt', few)));
    assert.equal(partial.status, 206);
    assert.equal(front.stats().responsesPartial, before.responsesPartial + 1);
  });

  it('with no maxHeadersCount set, keeps to node:http default of 1000 fields', async (t) => {
    const { front, fronted, plain } = await servers(t, { maxHeaderSize: 64 * 1024 });
    await rawRequest(t, fronted, 'GET', '/a.txt');
    const many: Record<string, string> = {};
    for (let i = 0; i < 1200; i++) many[`x${i}`] = 'y';
    many.Range = 'bytes=0-9';
    const before = front.stats().requests;
    const viaFront = await rawRequest(t, fronted, 'GET', '/a.txt', many);
    const alone = await rawRequest(t, plain, 'GET', '/a.txt', many);
    assert.ok([200, 431].includes(alone.status), `node:http answered ${alone.status}`);
    assert.deepEqual(comparable(viaFront), comparable(alone));
    assert.equal(front.stats().requests, before);
  });
});

describe('the native front on the status page', { skip: !nativeFrontAvailable() && 'no native front here' }, () => {
  it('counts the 304s and 206s it answered under their own status', async (t) => {
    const dir = await site(t);
    const serve = await startServe(t, [dir, '--port', '0', '--log', 'off']);
    const client = await RawClient.open(t, serve.port);
    const whole = await client.exchange('GET', '/a.txt');
    assert.equal(whole.status, 200);
    for (let i = 0; i < 3; i++) {
      assert.equal((await client.exchange('GET', '/a.txt', { 'If-None-Match': whole.headers.etag ?? '' })).status, 304);
      assert.equal((await client.exchange('GET', '/a.txt', { Range: 'bytes=0-9' })).status, 206);
    }
    const status = JSON.parse((await rawRequest(t, serve.port, 'GET', '/_zerocopy/status')).body.toString()) as {
      worker: { byStatus: Record<string, number> };
      nativeFront: { responsesNotModified: number; responsesPartial: number };
    };
    // The first of each may have gone through JavaScript (the cache filled then).
    assert.ok(status.nativeFront.responsesNotModified >= 2, JSON.stringify(status.nativeFront));
    assert.ok(status.nativeFront.responsesPartial >= 2, JSON.stringify(status.nativeFront));
    assert.equal(status.worker.byStatus['304'], 3, JSON.stringify(status.worker.byStatus));
    assert.equal(status.worker.byStatus['206'], 3, JSON.stringify(status.worker.byStatus));
    assert.equal(status.worker.byStatus['200'], 1, JSON.stringify(status.worker.byStatus));
  });

  it('shows exactly the counters the addon says stats() has', async (t) => {
    const serve = await startServe(t, [await site(t), '--port', '0', '--log', 'off']);
    const status = JSON.parse((await rawRequest(t, serve.port, 'GET', '/_zerocopy/status')).body.toString()) as {
      nativeFront: Record<string, unknown>;
    };
    const { layout } = binding().NativeFront;
    assert.deepEqual(Object.keys(status.nativeFront).sort(), ['enabled', 'engine', ...layout.stats].sort());
    // The engine the front tests run against is the one that answered them.
    assert.deepEqual(status.nativeFront.engine, { engine: FRONT_ENGINE_UNDER_TEST });
    assert.deepEqual(Object.keys(status.nativeFront.byStatus as object).map(Number), [...layout.statuses]);
  });
});

describe('NativeFront.layout', { skip: !nativeFrontAvailable() && 'no native front here' }, () => {
  it('numbers every log and fill field once, within the record', () => {
    const { layout } = binding().NativeFront;
    for (const [fields, indexes] of [
      [layout.logFields, Object.values(layout.logField)],
      [layout.fillFields, Object.values(layout.fillField)],
    ] as const) {
      assert.deepEqual(
        [...indexes].sort((a, b) => a - b),
        Array.from({ length: fields }, (_, i) => i),
      );
    }
    assert.ok(Object.isFrozen(layout));
  });
});
