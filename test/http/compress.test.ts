// Compression that stays zero-copy: brotli and gzip variants of text files, computed once off
// the event loop, kept in sealed memfds and sent like files. Bytes are checked by decompressing
// them; the variant store's own counters and /proc/self/fd show what is held.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readdirSync, readlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { brotliDecompressSync, gunzipSync } from 'node:zlib';

import { type SendResult, sendFile, serveStatic } from '../../src/index.js';
import { delay, sha256, tempDir } from '../support/fixtures.js';
import { listen, nativeFrontStats, type RawResponse, rawRequest, startServe } from './support.js';

/** Realistic, compressible text: a script of a few hundred distinct lines. */
function script(lines: number, seed = 0): string {
  let text = '';
  for (let i = 0; i < lines; i++) {
    text += `export function handler${seed}_${i}(event, context) { return context.render('item-${(i * 7919 + seed) % 1000}', event.detail); }\n`;
  }
  return text;
}

/** A file's ctime must be older than the racy window before a variant is built of it. */
const RACY_WAIT_MS = 1100;

function decoded(response: RawResponse): Buffer {
  const encoding = response.headers['content-encoding'];
  if (encoding === 'br') return brotliDecompressSync(response.body);
  if (encoding === 'gzip') return gunzipSync(response.body);
  assert.equal(encoding, undefined, 'an encoding this test does not know');
  return response.body;
}

/** Requests until the answer comes encoded (the first ones are sent as they are while the variant is built). */
async function untilEncoded(
  t: TestContext,
  port: number,
  target: string,
  headers: Record<string, string>,
): Promise<RawResponse> {
  for (let attempt = 0; attempt < 100; attempt++) {
    const response = await rawRequest(t, port, 'GET', target, headers);
    if (response.headers['content-encoding'] !== undefined) return response;
    await delay(30);
  }
  throw new Error(`${target} was never sent encoded`);
}

function memfdsOfThisProcess(): number {
  let count = 0;
  for (const fd of readdirSync('/proc/self/fd')) {
    try {
      if (readlinkSync(`/proc/self/fd/${fd}`).startsWith('/memfd:zerocopy-')) count++;
    } catch {
      // closed while we looked
    }
  }
  return count;
}

async function site(t: TestContext, options: Parameters<typeof serveStatic>[1] = {}) {
  const root = tempDir(t, 'zerocopy-compress-');
  const files = {
    'app.js': script(400),
    'style.css': `.a { color: red; }\n${'.item { margin: 0 auto; padding: 4px 8px; }\n'.repeat(200)}`,
    'page.html': `<!doctype html><title>x</title>${'<p class="item">hello</p>\n'.repeat(200)}`,
    'small.js': 'export const x = 1;\n',
    'photo.png': Buffer.alloc(8192, 7),
    'sib.js': script(100, 1),
    'sib.js.br': 'PRECOMPRESSED-BR',
  };
  for (const [name, content] of Object.entries(files)) writeFileSync(join(root, name), content);
  await delay(RACY_WAIT_MS);
  const handler = serveStatic(root, { compress: true, precompressed: true, ...options });
  t.after(() => handler.variants?.close());
  const { port } = await listen(t, handler);
  return { root, files, handler, port };
}

describe('serveStatic({ compress: true })', () => {
  it('sends br and gzip variants that decompress to the file, after one answer as it is', async (t) => {
    const { files, port, handler } = await site(t);
    const first = await rawRequest(t, port, 'GET', '/app.js', { 'Accept-Encoding': 'gzip, deflate, br' });
    assert.equal(first.status, 200);
    assert.equal(first.headers['content-encoding'], undefined, 'the first request for a cold file is sent as it is');
    assert.equal(sha256(first.body), sha256(files['app.js']));
    const br = await untilEncoded(t, port, '/app.js', { 'Accept-Encoding': 'gzip, deflate, br' });
    assert.equal(br.headers['content-encoding'], 'br');
    assert.equal(Number(br.headers['content-length']), br.body.length);
    assert.ok(br.body.length < files['app.js'].length / 3, `br is ${br.body.length} bytes`);
    assert.equal(sha256(decoded(br)), sha256(files['app.js']));
    const gz = await untilEncoded(t, port, '/app.js', { 'Accept-Encoding': 'gzip' });
    assert.equal(gz.headers['content-encoding'], 'gzip');
    assert.equal(sha256(decoded(gz)), sha256(files['app.js']));
    for (const name of ['style.css', 'page.html'] as const) {
      const response = await untilEncoded(t, port, `/${name}`, { 'Accept-Encoding': 'br' });
      assert.equal(sha256(decoded(response)), sha256(files[name]), name);
    }
    const stats = handler.variants!.stats();
    assert.equal(stats.entries, 4);
    assert.equal(stats.failures, 0);
  });

  it('answers a small variant from the file cache, and a large one by sendfile from its memfd', async (t) => {
    const results: SendResult[] = [];
    const { port, root } = await site(t, { onResponse: (result) => results.push(result) });
    const large = randomBytes(96 * 1024).toString('base64');
    writeFileSync(join(root, 'large.txt'), large);
    await delay(RACY_WAIT_MS);
    const headers = { 'Accept-Encoding': 'br' };
    await untilEncoded(t, port, '/style.css', headers);
    results.length = 0;
    const hit = await rawRequest(t, port, 'GET', '/style.css', headers);
    assert.equal(hit.headers['content-encoding'], 'br');
    assert.deepEqual(
      results.map((r) => [r.cache, r.method, r.encoding]),
      [['hit', 'memory', 'br']],
    );
    const big = await untilEncoded(t, port, '/large.txt', headers);
    assert.ok(big.body.length > 64 * 1024);
    assert.equal(sha256(decoded(big)), sha256(large));
    assert.equal(results.at(-1)?.method, 'sendfile');
    assert.equal(results.at(-1)?.encoding, 'br');
  });

  it('says Vary: Accept-Encoding on every answer of a text type, identity and 304 included', async (t) => {
    const { port } = await site(t);
    const plain = await rawRequest(t, port, 'GET', '/app.js');
    assert.equal(plain.headers.vary, 'Accept-Encoding');
    assert.equal(plain.headers['content-encoding'], undefined);
    const small = await rawRequest(t, port, 'GET', '/small.js', { 'Accept-Encoding': 'br' });
    assert.equal(small.headers.vary, 'Accept-Encoding');
    assert.equal(small.headers['content-encoding'], undefined, 'below the threshold: sent as it is');
    const encoded = await untilEncoded(t, port, '/app.js', { 'Accept-Encoding': 'br' });
    assert.equal(encoded.headers.vary, 'Accept-Encoding');
    const notModified = await rawRequest(t, port, 'GET', '/app.js', {
      'Accept-Encoding': 'br',
      'If-None-Match': encoded.headers.etag!,
    });
    assert.equal(notModified.status, 304);
    assert.equal(notModified.headers.vary, 'Accept-Encoding');
    assert.equal(notModified.headers.etag, encoded.headers.etag);
    const plain304 = await rawRequest(t, port, 'GET', '/app.js', { 'If-None-Match': plain.headers.etag! });
    assert.equal(plain304.status, 304);
    assert.equal(plain304.headers.vary, 'Accept-Encoding');
    const png = await rawRequest(t, port, 'GET', '/photo.png', { 'Accept-Encoding': 'br, gzip' });
    assert.equal(png.headers['content-encoding'], undefined, 'not a text type');
  });

  it('honours q-values: q=0 refuses, a higher q wins, identity when nothing fits', async (t) => {
    const { port } = await site(t);
    await untilEncoded(t, port, '/app.js', { 'Accept-Encoding': 'br' });
    await untilEncoded(t, port, '/app.js', { 'Accept-Encoding': 'gzip' });
    const cases: Array<[string, string | undefined]> = [
      ['br;q=0, gzip', 'gzip'],
      ['gzip;q=0.5, br;q=0.4', 'gzip'],
      ['gzip, br', 'br'],
      ['*', 'br'],
      ['*;q=0.5, br;q=0', 'gzip'],
      ['br;q=0, gzip;q=0', undefined],
      ['identity', undefined],
      ['identity, br;q=0.5', undefined],
      ['compress, deflate', undefined],
      ['BR', 'br'],
    ];
    for (const [acceptEncoding, expected] of cases) {
      const response = await rawRequest(t, port, 'GET', '/app.js', { 'Accept-Encoding': acceptEncoding });
      assert.equal(response.headers['content-encoding'], expected, `Accept-Encoding: ${acceptEncoding}`);
      assert.equal(response.status, 200);
    }
  });

  it('gives each encoding its own ETag and answers Range with ranges of the encoded bytes', async (t) => {
    const { port } = await site(t);
    const br = await untilEncoded(t, port, '/app.js', { 'Accept-Encoding': 'br' });
    const gz = await untilEncoded(t, port, '/app.js', { 'Accept-Encoding': 'gzip' });
    const plain = await rawRequest(t, port, 'GET', '/app.js');
    assert.match(br.headers.etag!, /-br"$/);
    assert.match(gz.headers.etag!, /-gz"$/);
    assert.equal(new Set([br.headers.etag, gz.headers.etag, plain.headers.etag]).size, 3);
    // The identity ETag does not validate the br variant.
    const other = await rawRequest(t, port, 'GET', '/app.js', {
      'Accept-Encoding': 'br',
      'If-None-Match': plain.headers.etag!,
    });
    assert.equal(other.status, 200);
    assert.equal(other.headers['content-encoding'], 'br');

    const part = await rawRequest(t, port, 'GET', '/app.js', { 'Accept-Encoding': 'br', Range: 'bytes=10-99' });
    assert.equal(part.status, 206);
    assert.equal(part.headers['content-encoding'], 'br');
    assert.equal(part.headers['content-range'], `bytes 10-99/${br.body.length}`);
    assert.equal(sha256(part.body), sha256(br.body.subarray(10, 100)));
    const tail = await rawRequest(t, port, 'GET', '/app.js', { 'Accept-Encoding': 'gzip', Range: 'bytes=-100' });
    assert.equal(tail.status, 206);
    assert.equal(sha256(tail.body), sha256(gz.body.subarray(gz.body.length - 100)));
    const past = await rawRequest(t, port, 'GET', '/app.js', {
      'Accept-Encoding': 'br',
      Range: `bytes=${br.body.length}-`,
    });
    assert.equal(past.status, 416);
    assert.equal(past.headers['content-range'], `bytes */${br.body.length}`);
  });

  it('lets a .br sibling on disk win over a computed variant', async (t) => {
    const { port, handler } = await site(t);
    for (let i = 0; i < 3; i++) {
      const response = await rawRequest(t, port, 'GET', '/sib.js', { 'Accept-Encoding': 'br' });
      assert.equal(response.headers['content-encoding'], 'br');
      assert.equal(response.body.toString(), 'PRECOMPRESSED-BR');
    }
    assert.equal(handler.variants!.stats().built, 0);
  });

  it('never serves a changed file stale past cacheValidity', async (t) => {
    const { root, port } = await site(t, { cacheValidity: 200 });
    const headers = { 'Accept-Encoding': 'br' };
    await untilEncoded(t, port, '/app.js', headers);
    const changed = script(300, 9);
    writeFileSync(join(root, 'app.js'), changed);
    const changedAt = Date.now();
    // Within the validity the old bytes may still go out; past it, never.
    await delay(250);
    let sawEncoded = false;
    while (Date.now() - changedAt < RACY_WAIT_MS + 1500) {
      const response = await rawRequest(t, port, 'GET', '/app.js', headers);
      assert.equal(sha256(decoded(response)), sha256(changed), 'a stale variant was sent');
      if (response.headers['content-encoding'] === 'br') sawEncoded = true;
      await delay(50);
    }
    assert.ok(sawEncoded, 'the changed file got a variant of its own');
  });

  it('keeps variants within their byte budget under a flood of distinct files, and lets go of them', async (t) => {
    const before = memfdsOfThisProcess();
    const root = tempDir(t, 'zerocopy-compress-flood-');
    const count = 60;
    for (let i = 0; i < count; i++) writeFileSync(join(root, `f${i}.js`), script(80, i));
    await delay(RACY_WAIT_MS);
    const maxBytes = 16 * 1024;
    const handler = serveStatic(root, { compress: true, compressMaxBytes: maxBytes });
    const { port } = await listen(t, handler);
    const store = handler.variants!;
    let peakFds = 0;
    for (let round = 0; round < 3; round++) {
      for (let i = 0; i < count; i++) {
        const response = await rawRequest(t, port, 'GET', `/f${i}.js`, { 'Accept-Encoding': 'gzip' });
        assert.equal(sha256(decoded(response)), sha256(script(80, i)));
        const stats = store.stats();
        assert.ok(stats.bytes <= maxBytes, `${stats.bytes} bytes kept, budget ${maxBytes}`);
        peakFds = Math.max(peakFds, memfdsOfThisProcess() - before);
      }
    }
    const stats = store.stats();
    assert.ok(stats.built > stats.entries, 'the budget made the store evict');
    assert.ok(stats.evictions > 0);
    assert.ok(peakFds <= stats.entries + 2, `${peakFds} memfds open for ${stats.entries} variants`);
    await store.close();
    assert.equal(memfdsOfThisProcess(), before, 'every memfd closed');
  });
});

describe('sendFile(req, res, path, { compress: true })', () => {
  it('compresses without a handler of its own, and HEAD says what GET would send', async (t) => {
    const dir = tempDir(t, 'zerocopy-compress-send-');
    const text = script(200, 5);
    const path = join(dir, 'bundle.js');
    writeFileSync(path, text);
    await delay(RACY_WAIT_MS);
    const { port } = await listen(t, (req, res) => {
      void sendFile(req, res, path, { compress: true });
    });
    const encoded = await untilEncoded(t, port, '/', { 'Accept-Encoding': 'gzip' });
    assert.equal(encoded.headers['content-encoding'], 'gzip');
    assert.equal(sha256(decoded(encoded)), sha256(text));
    const head = await rawRequest(t, port, 'HEAD', '/', { 'Accept-Encoding': 'gzip' });
    assert.equal(head.status, 200);
    assert.equal(head.body.length, 0);
    assert.equal(head.headers['content-length'], String(encoded.body.length));
    assert.equal(head.headers.etag, encoded.headers.etag);
    const plain = await rawRequest(t, port, 'GET', '/', { 'Accept-Encoding': 'identity' });
    assert.equal(plain.headers['content-encoding'], undefined);
    assert.equal(sha256(plain.body), sha256(text));
  });
});

describe('zerocopy serve compresses by default, and its native front sends the variants', () => {
  it('answers br from the native front, never stale past --cache-validity, nothing encoded with --no-compress', async (t) => {
    const root = tempDir(t, 'zerocopy-compress-cli-');
    const text = script(400, 3);
    writeFileSync(join(root, 'app.js'), text);
    // Text that compresses to about three quarters: a variant larger than 64 KiB.
    const largeText = randomBytes(96 * 1024).toString('base64');
    writeFileSync(join(root, 'large.txt'), largeText);
    await delay(RACY_WAIT_MS);
    const validityMs = 300;
    const server = await startServe(t, [root, '--port', '0', '--log', 'off', '--cache-validity', String(validityMs)]);
    const headers = { 'Accept-Encoding': 'gzip, deflate, br' };
    const encoded = await untilEncoded(t, server.port, '/app.js', headers);
    assert.equal(sha256(decoded(encoded)), sha256(text));
    const before = await nativeFrontStats(t, server.port);
    // The native front keeps the answer for the cache validity: a few requests more reach it.
    let fromFront = 0;
    for (let i = 0; i < 20 && fromFront === 0; i++) {
      const response = await rawRequest(t, server.port, 'GET', '/app.js', headers);
      assert.equal(response.headers['content-encoding'], 'br');
      assert.equal(response.headers.vary, 'Accept-Encoding');
      assert.equal(sha256(decoded(response)), sha256(text));
      const now = await nativeFrontStats(t, server.port);
      fromFront = now.responsesMemory + now.responsesSendfile - (before.responsesMemory + before.responsesSendfile);
      await delay(60);
    }
    assert.ok(fromFront > 0, 'the native front answered the variant');
    // A small variant leaves from memory with its head; a large one by sendfile from its memfd.
    const afterSmall = await nativeFrontStats(t, server.port);
    assert.ok(afterSmall.responsesMemory > before.responsesMemory, 'the small variant from memory');
    await untilEncoded(t, server.port, '/large.txt', headers);
    let large: RawResponse | undefined;
    for (let i = 0; i < 20; i++) {
      large = await rawRequest(t, server.port, 'GET', '/large.txt', headers);
      const now = await nativeFrontStats(t, server.port);
      if (now.responsesSendfile > afterSmall.responsesSendfile) break;
      await delay(60);
    }
    assert.equal(large?.headers['content-encoding'], 'br');
    assert.ok(large!.body.length > 64 * 1024, `a variant of ${large!.body.length} bytes`);
    assert.equal(sha256(decoded(large!)), sha256(largeText));
    assert.ok((await nativeFrontStats(t, server.port)).responsesSendfile > afterSmall.responsesSendfile);

    // A change on disk: past --cache-validity, neither the front nor node:http sends the old bytes.
    const changed = script(350, 4);
    writeFileSync(join(root, 'app.js'), changed);
    const changedAt = Date.now();
    await delay(validityMs + 50);
    let sawEncoded = false;
    while (Date.now() - changedAt < RACY_WAIT_MS + 2000) {
      const response = await rawRequest(t, server.port, 'GET', '/app.js', headers);
      assert.equal(sha256(decoded(response)), sha256(changed), 'a stale answer was sent');
      if (response.headers['content-encoding'] === 'br') sawEncoded = true;
      await delay(40);
    }
    assert.ok(sawEncoded, 'the changed file got a variant of its own');

    const plain = await startServe(t, [root, '--port', '0', '--log', 'off', '--no-compress']);
    for (let i = 0; i < 3; i++) {
      const response = await rawRequest(t, plain.port, 'GET', '/app.js', headers);
      assert.equal(response.headers['content-encoding'], undefined);
      assert.equal(sha256(response.body), sha256(changed));
      await delay(50);
    }
  });
});
