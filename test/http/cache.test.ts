// The small-file cache: a hit answers exactly what a miss answers, a change on disk is seen
// once the validity window has passed, and nothing the uncached path refuses is ever served.
import assert from 'node:assert/strict';
import { renameSync, rmSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';

import { RACY_WINDOW_MS } from '../../src/http/file-cache.js';
import { type SendResult, type ServeStaticOptions, serveStatic } from '../../src/http/index.js';
import { listen, makeSite, RawClient, type RawResponse } from './support.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Files younger than the racy window are never cached; tests that want hits wait it out. */
async function settle(): Promise<void> {
  await sleep(RACY_WINDOW_MS + 100);
}

async function cachedServer(t: TestContext, root: string, options: ServeStaticOptions = {}) {
  const results: SendResult[] = [];
  const handler = serveStatic(root, { ...options, onResponse: (result) => results.push(result) });
  const { port } = await listen(t, handler);
  const client = await RawClient.open(t, port);
  const last = () => results[results.length - 1];
  return { handler, port, client, results, last };
}

/** Headers minus Date, which moves with the clock. */
function stable(res: RawResponse): Record<string, string> {
  const { date: _date, ...rest } = res.headers;
  return rest;
}

function assertFramed(res: RawResponse, method = 'GET'): void {
  if (res.headers['content-length'] !== undefined && res.status !== 304 && method !== 'HEAD') {
    assert.equal(res.body.length, Number(res.headers['content-length']), 'Content-Length equals the body');
  }
}

describe('small-file cache', () => {
  it('a hit returns the same status, headers and bytes as the miss that stored it, and as no cache at all', async (t) => {
    const { root } = makeSite(t);
    await settle();
    const cached = await cachedServer(t, root, { precompressed: true, maxAge: '1h', extensions: ['html'] });
    const uncached = await cachedServer(t, root, {
      precompressed: true,
      maxAge: '1h',
      extensions: ['html'],
      cacheValidity: 0,
    });
    assert.equal(uncached.handler.cache, undefined);
    for (const target of ['/hello.txt', '/', '/sub/', '/about', '/digits.txt', '/snow%20%E2%98%83/flake.txt']) {
      for (const headers of [{}, { 'Accept-Encoding': 'br, gzip' }] as Array<Record<string, string>>) {
        const miss = await cached.client.exchange('GET', target, headers);
        assert.equal(cached.last()?.cache, 'stored', `${target} is stored`);
        const hit = await cached.client.exchange('GET', target, headers);
        assert.equal(cached.last()?.cache, 'hit', `${target} is a hit`);
        const plain = await uncached.client.exchange('GET', target, headers);
        assert.equal(uncached.last()?.cache, undefined);
        assert.equal(hit.status, 200);
        assert.deepEqual(stable(hit), stable(miss), `${target}: hit headers`);
        assert.deepEqual(stable(hit), stable(plain), `${target}: same headers as without a cache`);
        assert.deepEqual(hit.body, miss.body);
        assert.deepEqual(hit.body, plain.body);
        assertFramed(hit);
      }
    }
    // The encoding is part of the key: br, gzip and identity are three entries.
    const br = await cached.client.exchange('GET', '/style.css', { 'Accept-Encoding': 'br' });
    const gzip = await cached.client.exchange('GET', '/style.css', { 'Accept-Encoding': 'gzip' });
    const identity = await cached.client.exchange('GET', '/style.css');
    const brAgain = await cached.client.exchange('GET', '/style.css', { 'Accept-Encoding': 'br' });
    assert.equal(cached.last()?.cache, 'hit');
    assert.equal(br.body.toString(), 'BROTLI-BYTES');
    assert.equal(brAgain.body.toString(), 'BROTLI-BYTES');
    assert.equal(brAgain.headers['content-encoding'], 'br');
    assert.equal(gzip.body.toString(), 'GZIP-BYTES');
    assert.equal(identity.body.toString(), 'body { color: red }\n');
    assert.equal(identity.headers['content-encoding'], undefined);
    for (const res of [br, gzip, identity, brAgain]) assert.equal(res.headers.vary, 'Accept-Encoding');
    assert.equal(await cached.client.leftover(), 0, 'keep-alive framing intact');
  });

  it('HEAD, conditional GET, Range, multipart and 416 on a hit answer as the uncached path does', async (t) => {
    const { root } = makeSite(t);
    await settle();
    const cached = await cachedServer(t, root);
    const uncached = await cachedServer(t, root, { cacheValidity: 0 });
    const first = await cached.client.exchange('GET', '/digits.txt');
    const etag = first.headers.etag!;
    const lastModified = first.headers['last-modified']!;
    const cases: Array<[string, Record<string, string>]> = [
      ['HEAD', {}],
      ['GET', { 'If-None-Match': etag }],
      ['HEAD', { 'If-None-Match': etag }],
      ['GET', { 'If-None-Match': '"other"' }],
      ['GET', { 'If-Modified-Since': lastModified }],
      ['GET', { 'If-Match': '"other"' }],
      ['GET', { 'If-Match': etag }],
      ['GET', { 'If-Unmodified-Since': 'Thu, 01 Jan 1970 00:00:00 GMT' }],
      ['GET', { Range: 'bytes=0-9' }],
      ['GET', { Range: 'bytes=-5' }],
      ['GET', { Range: 'bytes=990-' }],
      ['GET', { Range: 'bytes=0-1,500-501' }],
      ['GET', { Range: 'bytes=5000-6000' }],
      ['GET', { Range: 'bytes=5-2' }],
      ['GET', { Range: 'bytes=0-9', 'If-Range': etag }],
      ['GET', { Range: 'bytes=0-9', 'If-Range': '"stale"' }],
      ['HEAD', { Range: 'bytes=0-9' }],
    ];
    for (const [method, headers] of cases) {
      const hit = await cached.client.exchange(method, '/digits.txt', headers);
      assert.equal(cached.last()?.cache, hit.status === 412 || hit.status === 416 ? undefined : 'hit', method);
      const plain = await uncached.client.exchange(method, '/digits.txt', headers);
      const label = `${method} ${JSON.stringify(headers)}`;
      assert.equal(hit.status, plain.status, label);
      const [a, b] = [stable(hit), stable(plain)];
      // Multipart boundaries are random per response.
      if (a['content-type']?.startsWith('multipart/')) {
        assert.match(b['content-type'] ?? '', /^multipart\/byteranges; boundary=/);
        const boundary = (ct: string | undefined) => (ct ?? '').split('boundary=')[1] ?? '';
        const hb = boundary(a['content-type']);
        const pb = boundary(b['content-type']);
        assert.equal(hit.body.toString().replaceAll(hb, 'B'), plain.body.toString().replaceAll(pb, 'B'), label);
        delete a['content-type'];
        delete b['content-type'];
      } else {
        assert.deepEqual(hit.body, plain.body, label);
      }
      assert.deepEqual(a, b, label);
      if (method === 'HEAD') assert.equal(hit.body.length, 0);
      assertFramed(hit, method);
    }
    assert.equal(await cached.client.leftover(), 0);
  });

  it('a file changed on disk is served fresh once the validity window has passed, and framing always holds', async (t) => {
    const { root } = makeSite(t);
    await settle();
    const { client, last } = await cachedServer(t, root, { cacheValidity: 200 });
    const path = join(root, 'hello.txt');
    assert.equal((await client.exchange('GET', '/hello.txt')).body.toString(), 'hello, world\n');
    assert.equal((await client.exchange('GET', '/hello.txt')).body.toString(), 'hello, world\n');
    assert.equal(last()?.cache, 'hit');

    writeFileSync(path, 'a different and longer greeting\n');
    // Within the window either version may be served, but never a body of the wrong length.
    const during = await client.exchange('GET', '/hello.txt');
    assertFramed(during);
    assert.ok(['hello, world\n', 'a different and longer greeting\n'].includes(during.body.toString()));
    await sleep(250);
    const after = await client.exchange('GET', '/hello.txt');
    assert.equal(after.body.toString(), 'a different and longer greeting\n');
    assertFramed(after);
    assert.notEqual(after.headers.etag, during.headers.etag === after.headers.etag ? '' : during.headers.etag);

    // Same size, new bytes: ctime and mtime tell, not the length.
    writeFileSync(path, 'A DIFFERENT AND LONGER GREETING\n');
    await sleep(250);
    assert.equal((await client.exchange('GET', '/hello.txt')).body.toString(), 'A DIFFERENT AND LONGER GREETING\n');
    // A file replaced by rename (how deploys write) is a new inode.
    writeFileSync(join(root, 'hello.tmp'), 'renamed into place\n');
    renameSync(join(root, 'hello.tmp'), path);
    await sleep(250);
    assert.equal((await client.exchange('GET', '/hello.txt')).body.toString(), 'renamed into place\n');
    assert.equal(await client.leftover(), 0);
  });

  it('a file that was just written is not cached until it is older than the racy window', async (t) => {
    const { root } = makeSite(t);
    const { client, last } = await cachedServer(t, root);
    writeFileSync(join(root, 'fresh.txt'), 'just written\n');
    await client.exchange('GET', '/fresh.txt');
    assert.equal(last()?.cache, undefined);
    await client.exchange('GET', '/fresh.txt');
    assert.equal(last()?.cache, undefined, 'still not cached');
    await settle();
    await client.exchange('GET', '/fresh.txt');
    assert.equal(last()?.cache, 'stored');
  });

  it('a deleted file is 404 once the window has passed', async (t) => {
    const { root } = makeSite(t);
    await settle();
    const { client, last, handler } = await cachedServer(t, root, { cacheValidity: 150 });
    await client.exchange('GET', '/sub/page.txt');
    await client.exchange('GET', '/sub/page.txt');
    assert.equal(last()?.cache, 'hit');
    unlinkSync(join(root, 'sub', 'page.txt'));
    await sleep(200);
    assert.equal((await client.exchange('GET', '/sub/page.txt')).status, 404);
    assert.equal((await client.exchange('GET', '/sub/page.txt')).status, 404);
    assert.equal(handler.cache?.entries, 0, 'the entry is gone');
    // A directory deleted under an index file, too.
    await client.exchange('GET', '/noindex/a.txt');
    rmSync(join(root, 'noindex'), { recursive: true });
    await sleep(200);
    assert.equal((await client.exchange('GET', '/noindex/a.txt')).status, 404);
  });

  it('a symlink replaced by one that leads outside the root is refused once the window has passed', async (t) => {
    const { root, base } = makeSite(t);
    symlinkSync('hello.txt', join(root, 'swap.txt'));
    await settle();
    const { client, last } = await cachedServer(t, root, { cacheValidity: 150 });
    assert.equal((await client.exchange('GET', '/swap.txt')).body.toString(), 'hello, world\n');
    await client.exchange('GET', '/swap.txt');
    assert.equal(last()?.cache, 'hit');
    unlinkSync(join(root, 'swap.txt'));
    symlinkSync(join(base, 'outside.txt'), join(root, 'swap.txt'));
    await sleep(200);
    for (let i = 0; i < 3; i++) {
      const res = await client.exchange('GET', '/swap.txt');
      assert.equal(res.status, 403);
      assert.ok(!res.body.toString().includes('secret'));
    }
  });

  it('other spellings of a path share its decision and nothing refused is ever cached', async (t) => {
    const { root } = makeSite(t);
    await settle();
    const { client, last } = await cachedServer(t, root);
    await client.exchange('GET', '/hello.txt');
    for (const spelling of ['/hello.txt?x=1', '//hello.txt', '/./hello.txt', '/%68ello.txt', '/%2e/hello.txt']) {
      const res = await client.exchange('GET', spelling);
      assert.equal(res.body.toString(), 'hello, world\n', spelling);
      assert.equal(last()?.cache, 'hit', spelling);
    }
    for (let i = 0; i < 2; i++) {
      for (const refused of ['/.secret', '/%2esecret', '/sub/../.secret', '/../outside.txt', '/%2e%2e/outside.txt']) {
        const res = await client.exchange('GET', refused);
        assert.ok(res.status === 403 || res.status === 404 || res.status === 400, `${refused} -> ${res.status}`);
        assert.equal(last()?.cache, undefined);
      }
      assert.equal((await client.exchange('GET', '/link-out.txt')).status, 403);
      assert.equal((await client.exchange('GET', '/sub')).status, 301, 'redirects are not cached');
    }
  });

  it('the bounds hold: entries, bytes and largest file', async (t) => {
    const { root } = makeSite(t);
    for (let i = 0; i < 10; i++) writeFileSync(join(root, `f${i}.bin`), Buffer.alloc(100 * (i + 1), i));
    writeFileSync(join(root, 'big.bin'), Buffer.alloc(8192, 7));
    await settle();
    const byEntries = await cachedServer(t, root, { cacheMaxEntries: 3 });
    const byBytes = await cachedServer(t, root, { cacheMaxBytes: 1500 });
    const byFile = await cachedServer(t, root, { cacheMaxFileSize: 4096 });
    for (const server of [byEntries, byBytes, byFile]) {
      for (let round = 0; round < 2; round++) {
        for (let i = 0; i < 10; i++) {
          const res = await server.client.exchange('GET', `/f${i}.bin`);
          assert.equal(res.body.length, 100 * (i + 1));
          assert.ok(res.body.every((byte) => byte === i));
        }
      }
    }
    assert.ok(byEntries.handler.cache!.entries <= 3);
    assert.ok(byBytes.handler.cache!.bytes <= 1500);
    assert.ok(byBytes.handler.cache!.entries >= 1);
    await byFile.client.exchange('GET', '/big.bin');
    await byFile.client.exchange('GET', '/big.bin');
    assert.equal(byFile.last()?.cache, undefined, 'a file over the limit is never cached');
    assert.equal((await byFile.client.exchange('GET', '/big.bin')).body.length, 8192);
    // The most recently used entry survives eviction.
    await byEntries.client.exchange('GET', '/f9.bin');
    assert.equal(byEntries.last()?.cache, 'hit');
  });

  it('cacheValidity 0 turns the cache off: every request goes to the disk', async (t) => {
    const { root } = makeSite(t);
    await settle();
    const { client, last, handler } = await cachedServer(t, root, { cacheValidity: 0 });
    assert.equal(handler.cache, undefined);
    await client.exchange('GET', '/hello.txt');
    writeFileSync(join(root, 'hello.txt'), 'changed\n');
    assert.equal((await client.exchange('GET', '/hello.txt')).body.toString(), 'changed\n');
    assert.equal(last()?.cache, undefined);
    assert.equal(last()?.method, 'write');
  });

  it('setHeaders and headers set by an earlier middleware still apply on hits', async (t) => {
    const { root } = makeSite(t);
    await settle();
    const results: SendResult[] = [];
    const handler = serveStatic(root, {
      setHeaders: (res, path) => res.setHeader('X-File', path.endsWith('hello.txt') ? 'hello' : 'other'),
      onResponse: (result) => results.push(result),
    });
    const { port } = await listen(t, (req, res) => {
      res.setHeader('Content-Type', 'text/x-custom');
      handler(req, res);
    });
    const client = await RawClient.open(t, port);
    await client.exchange('GET', '/hello.txt');
    const hit = await client.exchange('GET', '/hello.txt');
    assert.equal(results[1]?.cache, 'hit');
    assert.equal(hit.headers['x-file'], 'hello');
    assert.equal(hit.headers['content-type'], 'text/x-custom');
    assert.equal(hit.body.toString(), 'hello, world\n');
  });
});
