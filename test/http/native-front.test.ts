// createNativeFront(): the native front before a node:http server of the user's own, with
// routes of its own beside serveStatic().
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';

import { createNativeFront, type NativeFront, serveStatic } from '../../src/index.js';
import { delay, tempDir } from '../support/fixtures.js';
import { FRONT_ENGINE_UNDER_TEST, rawRequest } from './support.js';

function site(t: TestContext): string {
  const dir = tempDir(t);
  writeFileSync(join(dir, 'hello.txt'), 'hello from a file\n');
  mkdirSync(join(dir, 'api'));
  // A file a route of the application shadows: the front must never answer it.
  writeFileSync(join(dir, 'api', 'status'), 'the file, not the route\n');
  return dir;
}

async function start(t: TestContext, dir: string): Promise<{ front: NativeFront; port: number }> {
  const files = serveStatic(dir);
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    if (req.url?.startsWith('/api/')) {
      res.end(`route ${req.url}\n`);
      return;
    }
    files(req, res);
  });
  const front = createNativeFront(server, files, {
    reserved: (target) => target.startsWith('/api/'),
    engine: FRONT_ENGINE_UNDER_TEST,
  });
  assert.deepEqual(front.engine, { engine: FRONT_ENGINE_UNDER_TEST });
  const address = await front.listen(0, '127.0.0.1');
  t.after(() => {
    front.close();
    server.close();
    server.closeAllConnections();
  });
  return { front, port: address.port };
}

describe('createNativeFront', () => {
  it('answers cached files natively and hands everything else to the server, reserved routes included', async (t) => {
    const dir = site(t);
    // Files changed within the last second are never cached.
    await delay(1100);
    const { front, port } = await start(t, dir);
    for (let i = 0; i < 3; i++) {
      const response = await rawRequest(t, port, 'GET', '/hello.txt');
      assert.equal(response.status, 200);
      assert.equal(response.body.toString(), 'hello from a file\n');
    }
    assert.ok(front.stats().requests >= 2, `native answers: ${front.stats().requests}`);

    const before = front.stats();
    const route = await rawRequest(t, port, 'GET', '/api/status');
    assert.equal(route.body.toString(), 'route /api/status\n');
    assert.equal((await rawRequest(t, port, 'GET', '/api/status')).body.toString(), 'route /api/status\n');
    assert.equal((await rawRequest(t, port, 'GET', '/missing.txt')).status, 404);
    const after = front.stats();
    assert.equal(after.requests, before.requests, 'none of these was answered natively');
    assert.ok(after.handOversUncached - before.handOversUncached >= 3);
  });

  it('refuses what it cannot front, with Node-style errors', (t) => {
    const dir = site(t);
    const files = serveStatic(dir);
    assert.throws(() => createNativeFront(createHttpsServer(), files), { code: 'ERR_INVALID_ARG_VALUE' });
    assert.throws(() => createNativeFront(createServer(), serveStatic(dir, { cacheValidity: 0 })), {
      code: 'ERR_INVALID_ARG_VALUE',
      message: /file cache/,
    });
    assert.throws(() => createNativeFront(createServer(), ((_req: IncomingMessage) => {}) as never), {
      code: 'ERR_INVALID_ARG_TYPE',
    });
  });

  it('rejects listen() on a port that is taken', async (t) => {
    const dir = site(t);
    const { port } = await start(t, dir);
    const files = serveStatic(dir);
    const server = createServer(files);
    const second = createNativeFront(server, files);
    t.after(() => second.close());
    await assert.rejects(second.listen(port, '127.0.0.1'), { code: 'EADDRINUSE' });
  });
});
