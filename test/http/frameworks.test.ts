// serveStatic inside real Express and Fastify servers.
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { describe, it } from 'node:test';

import express from 'express';
import Fastify from 'fastify';

import { fastifyServeStatic, serveStatic } from '../../src/http/index.js';
import { makeSite, RawClient, rawRequest } from './support.js';

describe('Express', () => {
  it('as middleware under a mount path, with fallthrough to later routes', async (t) => {
    const { root } = makeSite(t);
    const app = express();
    app.use('/static', serveStatic(root));
    app.get('/static/generated', (_req, res) => {
      res.type('text/plain').send('from a route');
    });
    app.post('/static/hello.txt', (_req, res) => {
      res.send('posted');
    });
    const server = app.listen(0, '127.0.0.1');
    await new Promise((resolve) => server.once('listening', resolve));
    t.after(() => {
      server.closeAllConnections();
      server.close();
    });
    const { port } = server.address() as AddressInfo;

    const client = await RawClient.open(t, port);
    const file = await client.exchange('GET', '/static/digits.txt', { Range: 'bytes=0-4' });
    assert.equal(file.status, 206);
    assert.equal(file.body.toString(), '01234');
    assert.equal((await client.exchange('GET', '/static/generated')).body.toString(), 'from a route');
    client.send('POST /static/hello.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n');
    assert.equal((await client.readResponse(false)).body.toString(), 'posted', 'non-GET falls through');
    assert.equal((await client.exchange('GET', '/static/missing')).status, 404, "Express's own 404");
    assert.equal((await client.exchange('HEAD', '/static/hello.txt')).status, 200);
    assert.equal(await client.leftover(), 0);
    assert.equal((await client.exchange('GET', '/static/%2e%2e/outside.txt')).status, 403);
    const sub = await client.exchange('GET', '/static/sub');
    assert.equal(sub.status, 301);
    assert.equal(sub.headers.location, '/static/sub/', 'the URL the client sent, mount point included');
  });

  it('fallthrough: false answers 404 itself', async (t) => {
    const { root } = makeSite(t);
    const app = express();
    app.use(serveStatic(root, { fallthrough: false }));
    app.use((_req, res) => {
      res.status(418).end();
    });
    const server = app.listen(0, '127.0.0.1');
    await new Promise((resolve) => server.once('listening', resolve));
    t.after(() => {
      server.closeAllConnections();
      server.close();
    });
    const { port } = server.address() as AddressInfo;
    assert.equal((await rawRequest(t, port, 'GET', '/missing')).status, 404);
  });
});

describe('Fastify', () => {
  it('as a plugin under a prefix: files, ranges, conditional GET, HEAD, not-found handler', async (t) => {
    const { root } = makeSite(t);
    const app = Fastify();
    await app.register(fastifyServeStatic, { root, prefix: '/assets' });
    app.get('/api', async () => ({ ok: true }));
    app.setNotFoundHandler((_request, reply) => {
      void reply.code(404).send({ missing: true });
    });
    await app.listen({ port: 0, host: '127.0.0.1' });
    t.after(() => app.close());
    const { port } = app.server.address() as AddressInfo;

    const client = await RawClient.open(t, port);
    const file = await client.exchange('GET', '/assets/hello.txt');
    assert.equal(file.status, 200);
    assert.equal(file.body.toString(), 'hello, world\n');
    const etag = file.headers.etag ?? '';
    assert.equal((await client.exchange('GET', '/assets/hello.txt', { 'If-None-Match': etag })).status, 304);
    const range = await client.exchange('GET', '/assets/digits.txt', { Range: 'bytes=-3' });
    assert.equal(range.body.toString(), '789');
    assert.equal((await client.exchange('HEAD', '/assets/digits.txt')).headers['content-length'], '1000');
    assert.equal(await client.leftover(), 0);
    const missing = await client.exchange('GET', '/assets/nope.txt');
    assert.equal(missing.status, 404);
    assert.equal(missing.body.toString(), '{"missing":true}');
    assert.equal((await client.exchange('GET', '/assets/%2e%2e/outside.txt')).status, 403);
    const dir = await client.exchange('GET', '/assets/sub?q=1');
    assert.equal(dir.status, 301);
    assert.equal(dir.headers.location, '/assets/sub/?q=1');
    assert.equal((await client.exchange('GET', '/api')).body.toString(), '{"ok":true}');
  });
});
