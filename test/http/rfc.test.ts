// RFC 9110/9112 behaviour over raw sockets: status, headers, exact bodies, and that the
// connection is still correctly framed for the next request after every kind of answer.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { closeSync, ftruncateSync, openSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';

import { sendFile, serveStatic } from '../../src/http/index.js';
import { sha256 } from '../support/fixtures.js';
import { listen, makeSite, RawClient, rawRequest } from './support.js';

async function site(t: TestContext, options: Parameters<typeof serveStatic>[1] = {}) {
  const fixture = makeSite(t);
  const { port } = await listen(t, serveStatic(fixture.root, options));
  return { ...fixture, port };
}

const DIGITS = '0123456789'.repeat(100);

describe('GET and HEAD', () => {
  it('GET sends the file with type, length, validators', async (t) => {
    const { port } = await site(t);
    const res = await rawRequest(t, port, 'GET', '/hello.txt');
    assert.equal(res.status, 200);
    assert.equal(res.body.toString(), 'hello, world\n');
    assert.equal(res.headers['content-type'], 'text/plain; charset=utf-8');
    assert.equal(res.headers['content-length'], '13');
    assert.equal(res.headers['accept-ranges'], 'bytes');
    assert.match(res.headers.etag ?? '', /^"[\w-]+"$/, 'a strong ETag');
    assert.ok(res.headers['last-modified']);
  });

  it('HEAD has the same headers and no body', async (t) => {
    const { port } = await site(t);
    const client = await RawClient.open(t, port);
    const head = await client.exchange('HEAD', '/hello.txt');
    assert.equal(head.status, 200);
    assert.equal(head.headers['content-length'], '13');
    assert.equal(await client.leftover(), 0, 'no body bytes after a HEAD answer');
    const get = await client.exchange('GET', '/hello.txt');
    assert.equal(get.body.toString(), 'hello, world\n');
  });

  it('an empty file is 200 with Content-Length: 0', async (t) => {
    const { port } = await site(t);
    const res = await rawRequest(t, port, 'GET', '/empty.txt', { Range: 'bytes=0-' });
    assert.equal(res.status, 200);
    assert.equal(res.headers['content-length'], '0');
  });

  for (const method of ['POST', 'PUT', 'DELETE', 'OPTIONS', 'PATCH', 'PROPFIND']) {
    it(`${method} is 405 with Allow: GET, HEAD`, async (t) => {
      const { port } = await site(t);
      const client = await RawClient.open(t, port);
      client.send(`${method} /hello.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n`);
      const res = await client.readResponse(false);
      assert.equal(res.status, 405);
      assert.equal(res.headers.allow, 'GET, HEAD');
      const next = await client.exchange('GET', '/hello.txt');
      assert.equal(next.status, 200, 'the connection still works');
    });
  }

  it('a directory without a slash redirects to the slash form, keeping the query', async (t) => {
    const { port } = await site(t);
    const res = await rawRequest(t, port, 'GET', '/sub?x=1');
    assert.equal(res.status, 301);
    assert.equal(res.headers.location, '/sub/?x=1');
  });

  it('a redirect is never protocol-relative (//evil.example)', async (t) => {
    const { port } = await site(t);
    const res = await rawRequest(t, port, 'GET', '//sub');
    assert.equal(res.status, 301);
    assert.equal(res.headers.location, '/sub/');
  });

  it('a directory with a slash serves its index; without index it is 404', async (t) => {
    const { port } = await site(t);
    assert.equal((await rawRequest(t, port, 'GET', '/sub/')).body.toString(), '<h1>sub</h1>\n');
    assert.equal((await rawRequest(t, port, 'GET', '/')).body.toString(), '<h1>home</h1>\n');
    assert.equal((await rawRequest(t, port, 'GET', '/noindex/')).status, 404);
  });

  it('extensions: /about finds about.html when asked to', async (t) => {
    const { port } = await site(t, { extensions: ['html'] });
    const res = await rawRequest(t, port, 'GET', '/about');
    assert.equal(res.status, 200);
    assert.equal(res.headers['content-type'], 'text/html; charset=utf-8');
  });

  it('awkward names: spaces, dots inside a name, unicode', async (t) => {
    const { port } = await site(t);
    assert.equal((await rawRequest(t, port, 'GET', '/some%20thing.txt')).body.toString(), 'spaces\n');
    assert.equal((await rawRequest(t, port, 'GET', '/do..ts.txt')).body.toString(), 'dots\n');
    assert.equal((await rawRequest(t, port, 'GET', '/snow%20%E2%98%83/flake.txt')).body.toString(), 'unicode\n');
  });

  it('a file asked for as a directory (/hello.txt/) is 404', async (t) => {
    const { port } = await site(t);
    assert.equal((await rawRequest(t, port, 'GET', '/hello.txt/')).status, 404);
  });
});

describe('Range', () => {
  it('single range: 206 with Content-Range and exactly those bytes', async (t) => {
    const { port } = await site(t);
    const res = await rawRequest(t, port, 'GET', '/digits.txt', { Range: 'bytes=10-19' });
    assert.equal(res.status, 206);
    assert.equal(res.headers['content-range'], 'bytes 10-19/1000');
    assert.equal(res.body.toString(), DIGITS.slice(10, 20));
  });

  it('suffix: bytes=-500 is the last 500 bytes', async (t) => {
    const { port } = await site(t);
    const res = await rawRequest(t, port, 'GET', '/digits.txt', { Range: 'bytes=-500' });
    assert.equal(res.headers['content-range'], 'bytes 500-999/1000');
    assert.equal(res.body.toString(), DIGITS.slice(500));
  });

  it('open-ended and clamped past the end', async (t) => {
    const { port } = await site(t);
    const open = await rawRequest(t, port, 'GET', '/digits.txt', { Range: 'bytes=995-' });
    assert.equal(open.body.toString(), DIGITS.slice(995));
    const clamped = await rawRequest(t, port, 'GET', '/digits.txt', { Range: 'bytes=995-100000' });
    assert.equal(clamped.headers['content-range'], 'bytes 995-999/1000');
    assert.equal(clamped.body.toString(), DIGITS.slice(995));
  });

  it('unsatisfiable: 416 with Content-Range: bytes */size, and the connection stays framed', async (t) => {
    const { port } = await site(t);
    const client = await RawClient.open(t, port);
    const res = await client.exchange('GET', '/digits.txt', { Range: 'bytes=1000-' });
    assert.equal(res.status, 416);
    assert.equal(res.headers['content-range'], 'bytes */1000');
    assert.equal((await client.exchange('GET', '/hello.txt')).body.toString(), 'hello, world\n');
  });

  for (const header of ['items=0-4', 'bytes=5-2', 'bytes=x-y', 'bytes 0-4', 'bytes=--1']) {
    it(`ignored: Range: ${header} gets 200 and the whole file`, async (t) => {
      const { port } = await site(t);
      const res = await rawRequest(t, port, 'GET', '/digits.txt', { Range: header });
      assert.equal(res.status, 200);
      assert.equal(res.body.length, 1000);
    });
  }

  it('multiple ranges: multipart/byteranges with each part framed and typed', async (t) => {
    const { port } = await site(t);
    const res = await rawRequest(t, port, 'GET', '/digits.txt', { Range: 'bytes=0-4,-5' });
    assert.equal(res.status, 206);
    const boundary = /boundary=(\S+)/.exec(res.headers['content-type'] ?? '')?.[1];
    assert.ok(boundary);
    assert.equal(Number(res.headers['content-length']), res.body.length);
    const text = res.body.toString();
    assert.equal(
      text,
      `--${boundary}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Range: bytes 0-4/1000\r\n\r\n01234` +
        `\r\n--${boundary}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Range: bytes 995-999/1000\r\n\r\n56789` +
        `\r\n--${boundary}--\r\n`,
    );
  });

  it('hostile range sets do not amplify the body', async (t) => {
    const { port } = await site(t);
    const overlapping = `bytes=${Array.from({ length: 300 }, () => '0-999').join(',')}`;
    const a = await rawRequest(t, port, 'GET', '/digits.txt', { Range: overlapping });
    assert.ok(a.body.length <= 1000, `overlapping: ${a.body.length} bytes`);
    const tiny = `bytes=${Array.from({ length: 300 }, (_, i) => `${i * 3}-${i * 3}`).join(',')}`;
    const b = await rawRequest(t, port, 'GET', '/digits.txt', { Range: tiny });
    assert.equal(b.status, 200);
    assert.equal(b.body.length, 1000);
  });

  it('HEAD with Range: range handling is defined for GET only (RFC 9110 §14.2), so 200 headers', async (t) => {
    const { port } = await site(t);
    const client = await RawClient.open(t, port);
    const res = await client.exchange('HEAD', '/digits.txt', { Range: 'bytes=0-9' });
    assert.equal(res.status, 200);
    assert.equal(res.headers['content-length'], '1000');
    assert.equal(await client.leftover(), 0);
    assert.equal((await client.exchange('GET', '/digits.txt', { Range: 'bytes=0-1' })).body.toString(), '01');
  });

  it('acceptRanges: false ignores Range and says Accept-Ranges: none', async (t) => {
    const { port } = await site(t, { acceptRanges: false });
    const res = await rawRequest(t, port, 'GET', '/digits.txt', { Range: 'bytes=0-9' });
    assert.equal(res.status, 200);
    assert.equal(res.headers['accept-ranges'], 'none');
  });

  it('offsets beyond 4 GiB in a sparse 5 GiB file', async (t) => {
    const fixture = makeSite(t);
    const path = join(fixture.root, 'huge.bin');
    const fd = openSync(path, 'w');
    const marker = Buffer.from('beyond-four-gib');
    const at = 2 ** 32 + 12345;
    try {
      ftruncateSync(fd, 5 * 2 ** 30);
      writeSync(fd, marker, 0, marker.length, at);
    } finally {
      closeSync(fd);
    }
    const { port } = await listen(t, serveStatic(fixture.root));
    const res = await rawRequest(t, port, 'GET', '/huge.bin', { Range: `bytes=${at}-${at + marker.length - 1}` });
    assert.equal(res.status, 206);
    assert.equal(res.headers['content-range'], `bytes ${at}-${at + marker.length - 1}/${5 * 2 ** 30}`);
    assert.equal(res.body.toString(), 'beyond-four-gib');
    const suffix = await rawRequest(t, port, 'HEAD', '/huge.bin');
    assert.equal(suffix.headers['content-length'], String(5 * 2 ** 30));
  });
});

describe('conditional requests', () => {
  async function validators(t: TestContext, port: number) {
    const res = await rawRequest(t, port, 'HEAD', '/digits.txt');
    return { etag: res.headers.etag ?? '', lastModified: res.headers['last-modified'] ?? '' };
  }

  it('If-None-Match with the current ETag: 304 without body, then the connection goes on', async (t) => {
    const { port } = await site(t);
    const { etag } = await validators(t, port);
    const client = await RawClient.open(t, port);
    const res = await client.exchange('GET', '/digits.txt', { 'If-None-Match': etag });
    assert.equal(res.status, 304);
    assert.equal(res.headers.etag, etag);
    assert.equal(res.headers['content-length'], undefined);
    assert.equal(await client.leftover(), 0, '304 carries no body');
    assert.equal((await client.exchange('GET', '/hello.txt')).status, 200);
  });

  it('If-None-Match: lists, *, and weak comparison', async (t) => {
    const { port } = await site(t);
    const { etag } = await validators(t, port);
    for (const value of [`"nope", ${etag}`, '*', `W/${etag}`]) {
      assert.equal((await rawRequest(t, port, 'GET', '/digits.txt', { 'If-None-Match': value })).status, 304, value);
    }
    assert.equal((await rawRequest(t, port, 'GET', '/digits.txt', { 'If-None-Match': '"other"' })).status, 200);
  });

  it('If-Modified-Since: 304 when not modified since; ignored when If-None-Match is present', async (t) => {
    const { port } = await site(t);
    const { lastModified } = await validators(t, port);
    assert.equal((await rawRequest(t, port, 'GET', '/digits.txt', { 'If-Modified-Since': lastModified })).status, 304);
    const old = new Date(Date.parse(lastModified) - 60_000).toUTCString();
    assert.equal((await rawRequest(t, port, 'GET', '/digits.txt', { 'If-Modified-Since': old })).status, 200);
    const both = await rawRequest(t, port, 'GET', '/digits.txt', {
      'If-None-Match': '"other"',
      'If-Modified-Since': lastModified,
    });
    assert.equal(both.status, 200, 'If-None-Match decides alone');
    assert.equal((await rawRequest(t, port, 'GET', '/digits.txt', { 'If-Modified-Since': 'not a date' })).status, 200);
  });

  it('If-Match: strong comparison; a miss or a weak tag is 412', async (t) => {
    const { port } = await site(t);
    const { etag } = await validators(t, port);
    assert.equal((await rawRequest(t, port, 'GET', '/digits.txt', { 'If-Match': etag })).status, 200);
    assert.equal((await rawRequest(t, port, 'GET', '/digits.txt', { 'If-Match': `"a", ${etag}` })).status, 200);
    assert.equal((await rawRequest(t, port, 'GET', '/digits.txt', { 'If-Match': '*' })).status, 200);
    assert.equal((await rawRequest(t, port, 'GET', '/digits.txt', { 'If-Match': '"other"' })).status, 412);
    assert.equal((await rawRequest(t, port, 'GET', '/digits.txt', { 'If-Match': `W/${etag}` })).status, 412);
  });

  it('If-Unmodified-Since: 412 when modified after the date', async (t) => {
    const { port } = await site(t);
    const { lastModified } = await validators(t, port);
    const before = new Date(Date.parse(lastModified) - 60_000).toUTCString();
    const client = await RawClient.open(t, port);
    const res = await client.exchange('GET', '/digits.txt', { 'If-Unmodified-Since': before });
    assert.equal(res.status, 412);
    assert.equal((await client.exchange('GET', '/digits.txt', { 'If-Unmodified-Since': lastModified })).status, 200);
  });

  it('If-Range by strong ETag: honoured when it matches, whole file when not, weak never', async (t) => {
    const { port } = await site(t);
    const { etag } = await validators(t, port);
    const range = { Range: 'bytes=0-9' };
    assert.equal((await rawRequest(t, port, 'GET', '/digits.txt', { ...range, 'If-Range': etag })).status, 206);
    assert.equal((await rawRequest(t, port, 'GET', '/digits.txt', { ...range, 'If-Range': '"old"' })).status, 200);
    assert.equal((await rawRequest(t, port, 'GET', '/digits.txt', { ...range, 'If-Range': `W/${etag}` })).status, 200);
  });

  it('If-Range by date: only an exact match with Last-Modified', async (t) => {
    const { port } = await site(t);
    const { lastModified } = await validators(t, port);
    const range = { Range: 'bytes=0-9' };
    assert.equal((await rawRequest(t, port, 'GET', '/digits.txt', { ...range, 'If-Range': lastModified })).status, 206);
    const later = new Date(Date.parse(lastModified) + 1000).toUTCString();
    assert.equal((await rawRequest(t, port, 'GET', '/digits.txt', { ...range, 'If-Range': later })).status, 200);
  });

  it('etag: false and lastModified: false send no validators', async (t) => {
    const { port } = await site(t, { etag: false, lastModified: false });
    const res = await rawRequest(t, port, 'GET', '/hello.txt');
    assert.equal(res.headers.etag, undefined);
    assert.equal(res.headers['last-modified'], undefined);
  });
});

describe('caching and encoding headers', () => {
  it('maxAge and immutable', async (t) => {
    const { port } = await site(t, { maxAge: '1d', immutable: true });
    const res = await rawRequest(t, port, 'GET', '/hello.txt');
    assert.equal(res.headers['cache-control'], 'public, max-age=86400, immutable');
  });

  it('cacheControl: false sends none; setHeaders has the last word', async (t) => {
    const { port } = await site(t, {
      cacheControl: false,
      setHeaders: (res, path) => res.setHeader('X-Served', path.endsWith('hello.txt') ? 'hello' : 'other'),
    });
    const res = await rawRequest(t, port, 'GET', '/hello.txt');
    assert.equal(res.headers['cache-control'], undefined);
    assert.equal(res.headers['x-served'], 'hello');
  });

  it('precompressed: .br preferred, .gz by Accept-Encoding, identity otherwise, always Vary', async (t) => {
    const { port } = await site(t, { precompressed: true });
    const br = await rawRequest(t, port, 'GET', '/style.css', { 'Accept-Encoding': 'gzip, deflate, br' });
    assert.equal(br.headers['content-encoding'], 'br');
    assert.equal(br.body.toString(), 'BROTLI-BYTES');
    assert.equal(br.headers['content-type'], 'text/css; charset=utf-8');
    assert.equal(br.headers.vary, 'Accept-Encoding');
    const gz = await rawRequest(t, port, 'GET', '/style.css', { 'Accept-Encoding': 'gzip, br;q=0' });
    assert.equal(gz.headers['content-encoding'], 'gzip');
    assert.equal(gz.body.toString(), 'GZIP-BYTES');
    const plain = await rawRequest(t, port, 'GET', '/style.css');
    assert.equal(plain.headers['content-encoding'], undefined);
    assert.equal(plain.body.toString(), 'body { color: red }\n');
    assert.equal(plain.headers.vary, 'Accept-Encoding');
    assert.notEqual(plain.headers.etag, br.headers.etag, 'each representation has its own ETag');
  });
});

describe('keep-alive framing after every kind of response', () => {
  it('200, HEAD, 304, 206, 416, multipart, 404, 405, 412, 301 then a normal GET, on one connection', async (t) => {
    const { port } = await site(t);
    const client = await RawClient.open(t, port);
    const first = await client.exchange('GET', '/digits.txt');
    const etag = first.headers.etag ?? '';
    const steps: Array<[string, string, Record<string, string>, number]> = [
      ['HEAD', '/digits.txt', {}, 200],
      ['GET', '/digits.txt', { 'If-None-Match': etag }, 304],
      ['GET', '/digits.txt', { Range: 'bytes=1-3' }, 206],
      ['GET', '/digits.txt', { Range: 'bytes=2000-' }, 416],
      ['GET', '/digits.txt', { Range: 'bytes=0-1,10-11,20-21' }, 206],
      ['HEAD', '/digits.txt', { Range: 'bytes=0-1,10-11' }, 200],
      ['GET', '/missing.txt', {}, 404],
      ['HEAD', '/missing.txt', {}, 404],
      ['GET', '/digits.txt', { 'If-Match': '"x"' }, 412],
      ['GET', '/sub', {}, 301],
      ['HEAD', '/sub', {}, 301],
    ];
    for (const [method, target, headers, status] of steps) {
      const res = await client.exchange(method, target, headers);
      assert.equal(res.status, status, `${method} ${target} ${JSON.stringify(headers)}`);
      assert.equal(await client.leftover(5), 0, `nothing extra after ${method} ${target} (${status})`);
    }
    const last = await client.exchange('GET', '/digits.txt');
    assert.equal(last.body.toString(), DIGITS);
  });

  it('pipelined requests are answered in order with intact framing', async (t) => {
    const { port } = await site(t);
    const client = await RawClient.open(t, port);
    client.send(
      RawClient.request('GET', '/hello.txt') +
        RawClient.request('HEAD', '/digits.txt') +
        RawClient.request('GET', '/digits.txt', { Range: 'bytes=0-2' }),
    );
    assert.equal((await client.readResponse(false)).body.toString(), 'hello, world\n');
    assert.equal((await client.readResponse(true)).status, 200);
    assert.equal((await client.readResponse(false)).body.toString(), '012');
  });
});

describe('pipelined requests for large files', () => {
  it('each large body waits for its turn on the connection and arrives whole, in order', async (t) => {
    const fixture = makeSite(t);
    const large = randomBytes(24 * 1024 * 1024 + 5);
    writeFileSync(join(fixture.root, 'large.bin'), large);
    const { port } = await listen(t, serveStatic(fixture.root));
    const client = await RawClient.open(t, port);
    client.send(
      RawClient.request('GET', '/large.bin') +
        RawClient.request('GET', '/large.bin', { Range: 'bytes=100000-' }) +
        RawClient.request('GET', '/hello.txt'),
    );
    const first = await client.readResponse(false);
    assert.equal(first.status, 200);
    assert.equal(sha256(first.body), sha256(large));
    const second = await client.readResponse(false);
    assert.equal(second.status, 206);
    assert.equal(sha256(second.body), sha256(large.subarray(100000)));
    assert.equal((await client.readResponse(false)).body.toString(), 'hello, world\n');
  });
});

describe('sendFile', () => {
  it('sends an absolute path and resolves with what it did', async (t) => {
    const fixture = makeSite(t);
    const results: Array<{ status: number; bytes: number; method: string }> = [];
    const { port } = await listen(t, (req, res) => {
      void sendFile(req, res, join(fixture.root, 'digits.txt')).then((r) => results.push(r));
    });
    const res = await rawRequest(t, port, 'GET', '/anything', { Range: 'bytes=-10' });
    assert.equal(res.body.toString(), '0123456789');
    await new Promise((resolve) => setTimeout(resolve, 20));
    assert.equal(results[0]?.status, 206);
    assert.equal(results[0]?.bytes, 10);
  });

  it('with a root, the path is a URL path in the jail', async (t) => {
    const fixture = makeSite(t);
    const { port } = await listen(t, (req, res) => {
      void sendFile(req, res, req.url ?? '/', { root: fixture.root });
    });
    assert.equal((await rawRequest(t, port, 'GET', '/hello.txt')).status, 200);
    assert.equal((await rawRequest(t, port, 'GET', '/%2e%2e/outside.txt')).status, 403);
    assert.equal((await rawRequest(t, port, 'GET', '/missing')).status, 404);
  });

  it('an absolute path with .. segments is refused', async (t) => {
    const fixture = makeSite(t);
    const { port } = await listen(t, (req, res) => {
      void sendFile(req, res, `${fixture.root}/../outside.txt`);
    });
    assert.equal((await rawRequest(t, port, 'GET', '/')).status, 403);
  });
});
