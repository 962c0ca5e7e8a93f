// The root is a jail. Every payload here tries to leave it, hide in it, or crash the server.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { serveStatic } from '../../src/http/index.js';
import { listen, makeSite, RawClient, rawRequest } from './support.js';

// Traversal payloads: plain, percent-encoded (either case), encoded separators, backslashes,
// double encoding, overlong UTF-8, NUL bytes, and the sibling directory www-private.
const TRAVERSAL = [
  '/../outside.txt',
  '/../../../../etc/passwd',
  '/sub/../../outside.txt',
  '/%2e%2e/outside.txt',
  '/%2E%2E/outside.txt',
  '/.%2e/outside.txt',
  '/%2e./outside.txt',
  '/sub/%2e%2e/%2e%2e/outside.txt',
  '/..%2foutside.txt',
  '/..%2Foutside.txt',
  '/%2e%2e%2foutside.txt',
  '/sub%2f..%2f..%2foutside.txt',
  '/..%5coutside.txt',
  '/..%5Coutside.txt',
  '/..\\outside.txt',
  '/%2e%2e%5coutside.txt',
  '/%252e%252e/outside.txt',
  '/%252e%252e%252foutside.txt',
  '/%25%32%65%25%32%65/outside.txt',
  '/%c0%ae%c0%ae/outside.txt',
  '/%c0%af../outside.txt',
  '/%e0%80%ae%e0%80%ae/outside.txt',
  '/%c1%9c../outside.txt',
  '/..%00/outside.txt',
  '/hello.txt%00.html',
  '/%00',
  '/../www-private/secret.txt',
  '/%2e%2e/www-private/secret.txt',
  '/..%2fwww-private%2fsecret.txt',
  '/dirlink-out/secret.txt',
  '/link-out.txt',
  '/./../outside.txt',
  '//../outside.txt',
  '/%2f%2e%2e%2foutside.txt',
  '/%',
  '/%zz',
  '/%e2%98',
  'http://127.0.0.1/../outside.txt',
  '/sub/..%2F..%2F..%2Foutside.txt',
  '/....//outside.txt',
  '/..;/outside.txt',
];

describe('the root is a jail', () => {
  it('no traversal payload reads anything outside the root, and none gets 500', async (t) => {
    const { root } = makeSite(t);
    const { port } = await listen(t, serveStatic(root));
    for (const payload of TRAVERSAL) {
      // One connection per payload, and one keep-alive connection for all: both must survive.
      const res = await rawRequest(t, port, 'GET', payload);
      assert.ok([400, 403, 404].includes(res.status), `${payload} -> ${res.status}`);
      const text = res.body.toString();
      assert.ok(!text.includes('secret'), `${payload} leaked: ${text}`);
    }
    const client = await RawClient.open(t, port);
    for (const payload of TRAVERSAL) {
      const res = await client.exchange('GET', payload);
      assert.ok(res.status < 500, `${payload} -> ${res.status}`);
    }
    assert.equal((await client.exchange('GET', '/hello.txt')).status, 200, 'the server is still serving');
  });

  it('a sibling directory whose name starts with the root name is outside', async (t) => {
    const { base } = makeSite(t);
    // Serve ".../www" written without a trailing slash; ".../www-private" shares the prefix.
    const { port } = await listen(t, serveStatic(`${base}/www`));
    for (const target of ['/../www-private/secret.txt', '/dirlink-out/secret.txt']) {
      const res = await rawRequest(t, port, 'GET', target);
      assert.ok(res.status === 403 || res.status === 404, `${target} -> ${res.status}`);
    }
  });

  it('symlinks inside the root work; those leading outside are 403 unless allowed', async (t) => {
    const { root } = makeSite(t);
    const jailed = await listen(t, serveStatic(root));
    assert.equal((await rawRequest(t, jailed.port, 'GET', '/link-in.txt')).body.toString(), 'hello, world\n');
    assert.equal((await rawRequest(t, jailed.port, 'GET', '/link-out.txt')).status, 403);
    assert.equal((await rawRequest(t, jailed.port, 'GET', '/dirlink-out/secret.txt')).status, 403);
    const open = await listen(t, serveStatic(root, { allowSymlinksOutsideRoot: true }));
    assert.equal((await rawRequest(t, open.port, 'GET', '/link-out.txt')).body.toString(), 'outside secret\n');
  });

  it('a root reached through a symlink still serves its own files', async (t) => {
    const { base } = makeSite(t);
    const { symlinkSync } = await import('node:fs');
    symlinkSync(`${base}/www`, `${base}/www-link`);
    const { port } = await listen(t, serveStatic(`${base}/www-link`));
    assert.equal((await rawRequest(t, port, 'GET', '/hello.txt')).status, 200);
    assert.equal((await rawRequest(t, port, 'GET', '/link-out.txt')).status, 403);
  });

  it('a FIFO in the root is 404 and does not hang the server', async (t) => {
    const { root, fifo } = makeSite(t);
    if (!fifo) {
      t.skip('mkfifo is not available here');
      return;
    }
    const { port } = await listen(t, serveStatic(root));
    assert.equal((await rawRequest(t, port, 'GET', '/fifo')).status, 404);
  });
});

describe('dotfiles', () => {
  it('hidden by default: 404 for dotfiles and paths through dot-directories', async (t) => {
    const { root } = makeSite(t);
    const { port } = await listen(t, serveStatic(root));
    for (const target of ['/.secret', '/.hidden/file.txt', '/%2esecret', '/sub/../.secret']) {
      const res = await rawRequest(t, port, 'GET', target);
      assert.ok(res.status === 404 || res.status === 403, `${target} -> ${res.status}`);
      assert.ok(!res.body.toString().includes('secret'), target);
    }
  });

  it("dotfiles: 'deny' is 403, 'allow' serves them", async (t) => {
    const { root } = makeSite(t);
    const deny = await listen(t, serveStatic(root, { dotfiles: 'deny' }));
    assert.equal((await rawRequest(t, deny.port, 'GET', '/.secret')).status, 403);
    const allow = await listen(t, serveStatic(root, { dotfiles: 'allow' }));
    assert.equal((await rawRequest(t, allow.port, 'GET', '/.hidden/file.txt')).body.toString(), 'hidden dir\n');
  });
});

describe('bad requests never crash the server', () => {
  it('garbage request lines and oversized headers get 4xx and the server keeps serving', async (t) => {
    const { root } = makeSite(t);
    const { port } = await listen(t, serveStatic(root));
    const garbage = [
      'GET\r\n\r\n',
      'GET / HTTP/9.9\r\n\r\n',
      '\x00\x01\x02\r\n\r\n',
      `GET /${'a'.repeat(20_000)} HTTP/1.1\r\nHost: x\r\n\r\n`,
      `GET / HTTP/1.1\r\nHost: x\r\nX-Big: ${'b'.repeat(20_000)}\r\n\r\n`,
      'GET * HTTP/1.1\r\nHost: x\r\n\r\n',
      'GET hello.txt HTTP/1.1\r\nHost: x\r\n\r\n',
    ];
    for (const text of garbage) {
      const client = await RawClient.open(t, port);
      client.send(text);
      const res = await client.readResponse(false).catch(() => undefined);
      if (res !== undefined)
        assert.ok(res.status >= 400 && res.status < 500, `${JSON.stringify(text.slice(0, 30))} -> ${res.status}`);
      client.socket.destroy();
    }
    assert.equal((await rawRequest(t, port, 'GET', '/hello.txt')).status, 200);
  });
});
