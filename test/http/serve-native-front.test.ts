// zerocopy serve's native front (native/front/): cached GET/HEAD answered without
// JavaScript, everything else handed to node:http with the request intact. Raw sockets, a
// real `zerocopy serve` process, and the same files served with --no-native-front to compare.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, openSync, readdirSync, readFileSync, truncateSync, writeFileSync, writeSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it, type TestContext } from 'node:test';
import { promisify } from 'node:util';
import { brotliCompressSync, gzipSync } from 'node:zlib';

import { requireTool, sha256, tempDir } from '../support/fixtures.js';
import {
  connectOutcome,
  dropFromPageCache,
  nativeFrontStats,
  RawClient,
  type RawResponse,
  rawRequest,
  startServe,
} from './support.js';

type Serve = Awaited<ReturnType<typeof startServe>>;

const execFileAsync = promisify(execFile);

/** GETs PATH COUNT times on one connection, discarding bodies in the kernel; prints bytes and segments in. */
const DISCARDING_CLIENT = `
import ctypes, re, socket, subprocess, sys
libc = ctypes.CDLL(None, use_errno=True)
libc.recv.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
libc.recv.restype = ctypes.c_ssize_t
sink = ctypes.create_string_buffer(1)
port, path, count = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
s = socket.create_connection(("127.0.0.1", port))
total = 0
for _ in range(count):
    s.sendall(("GET %s HTTP/1.1\\r\\nHost: t\\r\\n\\r\\n" % path).encode())
    head = b""
    while not head.endswith(b"\\r\\n\\r\\n"):
        byte = s.recv(1)
        if not byte: sys.exit("closed in the head")
        head += byte
    left = int(re.search(rb"(?i)content-length: *(\\d+)", head).group(1))
    while left:
        got = libc.recv(s.fileno(), sink, left, socket.MSG_TRUNC)
        if got <= 0: sys.exit("recv: %d" % ctypes.get_errno())
        left -= got
        total += got
ss = subprocess.run(["ss", "-tinH", "state", "established", "( sport = :%d )" % s.getsockname()[1]], capture_output=True, text=True, check=True).stdout
print(total, re.search(r"\\bsegs_in:(\\d+)", ss).group(1))
`;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The headers that must match between the two servers (Date moves). */
function comparable(response: RawResponse): Record<string, string> {
  const { date, ...rest } = response.headers;
  assert.ok(date !== undefined && /^\w{3}, \d{2} \w{3} \d{4} \d{2}:\d{2}:\d{2} GMT$/.test(date), `Date: ${date}`);
  return rest;
}

describe('zerocopy serve: the native front', () => {
  const dir = tempDir({ after }, 'zerocopy-fast-');
  const small = Buffer.from('small file body\n');
  const medium = Buffer.alloc(64 * 1024);
  for (let i = 0; i < medium.length; i++) medium[i] = (i * 7919) & 0xff;
  const page = Buffer.from('<!doctype html><p>page</p>\n'.repeat(20));
  // Larger than the file cache takes (256 KiB): answered from the open file.
  const large = randomBytes(3 * 1024 * 1024 + 77);
  let fast: Serve;
  let js: Serve;
  // after() called inside before() would not wait for the suite; the servers are killed here.
  const cleanups: Array<() => void> = [];
  after(() => {
    for (const cleanup of cleanups) cleanup();
  });
  const suite = { after: (fn: () => void) => cleanups.push(fn) };

  before(async () => {
    writeFileSync(join(dir, 'small.txt'), small);
    writeFileSync(join(dir, 'medium.bin'), medium);
    writeFileSync(join(dir, 'large.bin'), large);
    writeFileSync(join(dir, 'page.html'), page);
    writeFileSync(join(dir, 'page.html.gz'), gzipSync(page));
    writeFileSync(join(dir, 'page.html.br'), brotliCompressSync(page));
    writeFileSync(join(dir, '.secret'), 'hidden\n');
    // Files changed within the last second are never cached (see RACY_WINDOW_MS).
    await sleep(1100);
    fast = await startServe(suite, [dir, '--port', '0', '--log', 'off']);
    js = await startServe(suite, [dir, '--port', '0', '--log', 'off', '--no-native-front']);
  });

  it('answers a cached file itself, with the same status, headers and body as node:http', async (t) => {
    const before = await nativeFrontStats(t, fast.port);
    assert.equal(before.enabled, true);
    for (const path of ['/small.txt', '/medium.bin', '/page.html']) {
      const expected = await rawRequest(t, js.port, 'GET', path);
      // The first request fills the native table; the next ones are answered from it.
      for (let i = 0; i < 3; i++) {
        const got = await rawRequest(t, fast.port, 'GET', path);
        assert.equal(got.status, 200);
        assert.deepEqual(comparable(got), comparable(expected), path);
        assert.equal(sha256(got.body), sha256(expected.body), path);
      }
    }
    const after = await nativeFrontStats(t, fast.port);
    assert.equal(after.requests - before.requests, 9, 'every one of them answered natively');
    assert.ok(after.responsesSendfile - before.responsesSendfile >= 3, 'the 64 KiB body left by sendfile');
    assert.equal((await nativeFrontStats(t, js.port)).enabled, false);
  });

  it('keeps pipelined 206 and 304 responses in order, and when a request goes to node:http mid-stream', async (t) => {
    const etag = (await rawRequest(t, fast.port, 'GET', '/medium.bin')).headers.etag;
    assert.ok(etag !== undefined);
    await rawRequest(t, fast.port, 'GET', '/large.bin');
    const before = await nativeFrontStats(t, fast.port);
    const client = await RawClient.open(t, fast.port);
    const answerable =
      RawClient.request('GET', '/small.txt') +
      RawClient.request('GET', '/medium.bin') +
      RawClient.request('GET', '/small.txt', { Range: 'bytes=0-4' }) +
      RawClient.request('GET', '/medium.bin', { 'If-None-Match': etag }) +
      RawClient.request('GET', '/large.bin', { Range: 'bytes=1000000-' }) +
      RawClient.request('HEAD', '/medium.bin', { Range: 'bytes=0-4' }) +
      RawClient.request('GET', '/medium.bin', { Range: 'bytes=10-19' });
    const forNode =
      RawClient.request('GET', '/medium.bin', { 'If-Match': etag }) +
      RawClient.request('GET', '/small.txt', { Range: 'bytes=5-' });
    // A read with a request the front cannot answer goes to node:http whole (node:http alone
    // would have read the requests before it in the same read): the If-Match comes second.
    client.send(answerable);
    const responses: RawResponse[] = [];
    for (const head of [false, false, false, false, false, true, false])
      responses.push(await client.readResponse(head));
    client.send(forNode);
    for (let i = 0; i < 2; i++) responses.push(await client.readResponse(false));
    assert.deepEqual(
      responses.map((r) => r.status),
      [200, 200, 206, 304, 206, 200, 206, 200, 206],
    );
    assert.equal(sha256(responses[0]!.body), sha256(small));
    assert.equal(sha256(responses[1]!.body), sha256(medium));
    assert.equal(responses[2]!.body.toString(), 'small');
    assert.equal(responses[3]!.body.length, 0);
    assert.equal(sha256(responses[4]!.body), sha256(large.subarray(1_000_000)));
    assert.equal(responses[4]!.headers['content-range'], `bytes 1000000-${large.length - 1}/${large.length}`);
    assert.equal(responses[5]!.headers['content-length'], String(medium.length));
    assert.equal(sha256(responses[6]!.body), sha256(medium.subarray(10, 20)));
    assert.equal(sha256(responses[7]!.body), sha256(medium));
    assert.equal(sha256(responses[8]!.body), sha256(small.subarray(5)));
    assert.equal(await client.leftover(), 0, 'nothing after the last response');
    const after = await nativeFrontStats(t, fast.port);
    assert.equal(after.requests - before.requests, 7, 'all but the If-Match and the one after it answered natively');
    assert.equal(after.responsesPartial - before.responsesPartial, 3);
    assert.equal(after.responsesNotModified - before.responsesNotModified, 1);
  });

  it('answers Range and conditional requests exactly as node:http does, itself where it is sure how', async (t) => {
    const probe = await rawRequest(t, js.port, 'GET', '/medium.bin');
    const etag = probe.headers.etag!;
    const lastModified = probe.headers['last-modified']!;
    const shifted = (seconds: number) => new Date(Date.parse(lastModified) + seconds * 1000).toUTCString();
    const otherWeekday = (lastModified.startsWith('Mon') ? 'Tue' : 'Mon') + lastModified.slice(3);
    // Each set of request headers, and whether the native side answers it (or hands it over);
    // 'HEAD' where only a HEAD is answered, because a HEAD ignores Range.
    const cases: Array<{ headers: Record<string, string>; native: boolean | 'HEAD' }> = [
      { headers: { Range: 'bytes=0-0' }, native: true },
      { headers: { Range: 'bytes=5-9' }, native: true },
      { headers: { Range: 'bytes=3-' }, native: true },
      { headers: { Range: 'bytes=-7' }, native: true },
      { headers: { Range: 'bytes=-99999999' }, native: true }, // all of it, as a 206
      { headers: { Range: 'bytes=2-99999999999' }, native: true }, // clamped to the end
      { headers: { Range: 'BYTES = 0001-0002' }, native: true },
      { headers: { Range: 'bytes=3-2' }, native: true }, // invalid, so ignored: 200
      { headers: { Range: 'bytes=x-1' }, native: true },
      { headers: { Range: 'items=1-2' }, native: true },
      { headers: { Range: '' }, native: true },
      { headers: { Range: 'bytes=-0' }, native: 'HEAD' }, // 416
      { headers: { Range: 'bytes=99999999-' }, native: 'HEAD' }, // 416
      { headers: { Range: 'bytes=0-1,3-4' }, native: 'HEAD' }, // several ranges
      { headers: { Range: 'bytes=1234567890123456789-' }, native: 'HEAD' },
      { headers: { 'If-None-Match': etag }, native: true },
      { headers: { 'If-None-Match': `W/${etag}` }, native: true },
      { headers: { 'If-None-Match': `"other", ${etag}` }, native: true },
      { headers: { 'If-None-Match': '"other"' }, native: true },
      { headers: { 'If-None-Match': '*' }, native: true },
      { headers: { 'If-None-Match': '' }, native: true },
      { headers: { 'If-None-Match': etag, 'Cache-Control': 'no-cache' }, native: true }, // 200
      { headers: { 'If-None-Match': etag, 'Cache-Control': 'max-age=0, no-cache' }, native: true },
      { headers: { 'If-None-Match': etag, 'Cache-Control': 'max-age=0' }, native: true }, // 304
      { headers: { 'If-None-Match': etag, 'Cache-Control': 'No-Cache' }, native: true }, // fresh's test is case-sensitive
      { headers: { 'If-None-Match': etag, 'Cache-Control': 'no-cache\u00a0' }, native: false },
      { headers: { 'If-None-Match': '"other"', 'If-Modified-Since': lastModified }, native: true }, // 200
      { headers: { 'If-Modified-Since': lastModified }, native: true },
      { headers: { 'If-Modified-Since': shifted(60) }, native: true },
      { headers: { 'If-Modified-Since': shifted(-60) }, native: true },
      { headers: { 'If-Modified-Since': otherWeekday }, native: false },
      { headers: { 'If-Modified-Since': 'Sunday, 06-Nov-94 08:49:37 GMT' }, native: false },
      { headers: { 'If-Modified-Since': 'yesterday' }, native: false },
      { headers: { 'If-Modified-Since': 'Sun, 06 Nov 1994 08:49:37 GMT' }, native: true }, // 200
      { headers: { 'If-Modified-Since': 'Sun, 06 Nov 1994 08:49:37 gmt' }, native: false },
      { headers: { 'If-Modified-Since': 'Thu, 29 Feb 2024 00:00:00 GMT' }, native: true },
      { headers: { 'If-Modified-Since': 'Fri, 30 Feb 2024 00:00:00 GMT' }, native: false }, // Date.parse makes it 1 March
      { headers: { 'If-Modified-Since': 'Sat, 01 Jan 2050 00:00:00 GMT' }, native: true }, // 304
      { headers: { 'If-Modified-Since': 'Mon, 01 Mar 2100 00:00:00 GMT' }, native: true }, // 2100 has no 29 February
      { headers: { Range: 'bytes=1-4', 'If-Range': etag }, native: true },
      { headers: { Range: 'bytes=1-4', 'If-Range': `W/${etag}` }, native: true },
      { headers: { Range: 'bytes=1-4', 'If-Range': '"other"' }, native: true },
      { headers: { Range: 'bytes=1-4', 'If-Range': lastModified }, native: true },
      { headers: { Range: 'bytes=1-4', 'If-Range': shifted(-1) }, native: true },
      { headers: { Range: 'bytes=1-4', 'If-Range': 'soon' }, native: 'HEAD' },
      { headers: { Range: 'bytes=1-4', 'If-None-Match': etag }, native: true }, // the 304 comes first
      { headers: { 'If-Match': '*' }, native: false },
      { headers: { 'If-Unmodified-Since': lastModified }, native: false },
    ];
    for (const path of ['/small.txt', '/medium.bin', '/large.bin', '/page.html']) {
      await rawRequest(t, fast.port, 'GET', path);
      for (const method of ['GET', 'HEAD']) {
        for (const { headers, native } of cases) {
          const label = `${method} ${path} ${JSON.stringify(headers)}`;
          const before = await nativeFrontStats(t, fast.port);
          const got = await rawRequest(t, fast.port, method, path, headers);
          const after = await nativeFrontStats(t, fast.port);
          const expected = await rawRequest(t, js.port, method, path, headers);
          assert.equal(got.status, expected.status, label);
          // Each multipart/byteranges answer has a boundary of its own, in its type and its body.
          const boundless = (response: RawResponse) => {
            const headers = comparable(response);
            const type = headers['content-type'];
            if (type !== undefined) headers['content-type'] = type.replace(/; boundary=.*$/, '; boundary=?');
            return headers;
          };
          assert.deepEqual(boundless(got), boundless(expected), label);
          if (!got.headers['content-type']?.startsWith('multipart/byteranges'))
            assert.equal(sha256(got.body), sha256(expected.body), label);
          const answered = native === true || native === method ? 1 : 0;
          assert.equal(after.requests - before.requests, answered, `${label}: answered natively`);
        }
      }
    }
  });

  it('sends a range past 4 GiB of a sparse file itself', async (t) => {
    const dir = tempDir(t);
    const path = join(dir, 'sparse.bin');
    const size = 5 * 1024 ** 3;
    const at = 4.5 * 1024 ** 3;
    const marker = randomBytes(4099);
    writeFileSync(path, '');
    truncateSync(path, size);
    const fd = openSync(path, 'r+');
    try {
      writeSync(fd, marker, 0, marker.length, at);
    } finally {
      closeSync(fd);
    }
    await sleep(1100);
    const serve = await startServe(t, [dir, '--port', '0', '--log', 'off']);
    await rawRequest(t, serve.port, 'HEAD', '/sparse.bin');
    const before = await nativeFrontStats(t, serve.port);
    const last = at + marker.length;
    const got = await rawRequest(t, serve.port, 'GET', '/sparse.bin', { Range: `bytes=${at - 1}-${last}` });
    assert.equal(got.status, 206);
    assert.equal(got.headers['content-range'], `bytes ${at - 1}-${last}/${size}`);
    assert.equal(sha256(got.body), sha256(Buffer.concat([Buffer.alloc(1), marker, Buffer.alloc(1)])));
    const after = await nativeFrontStats(t, serve.port);
    assert.equal(after.responsesPartial - before.responsesPartial, 1, 'answered natively');
    assert.ok(after.diskReads > before.diskReads, 'the range not in the page cache was read on the thread pool');
  });

  it('answers HEAD without a body and keeps the connection usable', async (t) => {
    await rawRequest(t, fast.port, 'GET', '/small.txt');
    const before = await nativeFrontStats(t, fast.port);
    const client = await RawClient.open(t, fast.port);
    const head = await client.exchange('HEAD', '/small.txt');
    assert.equal(head.status, 200);
    assert.equal(head.headers['content-length'], String(small.length));
    assert.equal(head.body.length, 0);
    assert.equal((await client.exchange('GET', '/small.txt')).body.toString(), small.toString());
    assert.equal(await client.leftover(), 0);
    const after = await nativeFrontStats(t, fast.port);
    assert.equal(after.heads - before.heads, 1);
    assert.equal(after.requests - before.requests, 2);
  });

  it('pipelines 500 requests for the 64 KiB file, more than one read of requests and of socket buffer', async (t) => {
    const client = await RawClient.open(t, fast.port);
    // 23 KB of requests (the native side peeks 16 KiB at a time) for 32 MiB of responses.
    client.send(RawClient.request('GET', '/medium.bin').repeat(500));
    for (let i = 0; i < 500; i++) {
      const response = await client.readResponse(false);
      assert.equal(response.status, 200);
      assert.equal(sha256(response.body), sha256(medium), `response ${i}`);
    }
    assert.equal(await client.leftover(), 0);
  });

  it('closes after a response to "Connection: close"', async (t) => {
    await rawRequest(t, fast.port, 'GET', '/small.txt');
    const client = await RawClient.open(t, fast.port);
    const response = await client.exchange('GET', '/small.txt', { Connection: 'close' });
    assert.equal(response.status, 200);
    assert.equal(response.headers.connection, 'close');
    assert.equal(response.body.toString(), small.toString());
    await client.closed;
  });

  it('serves the precompressed sibling each Accept-Encoding asks for', async (t) => {
    for (let round = 0; round < 2; round++) {
      const br = await rawRequest(t, fast.port, 'GET', '/page.html', { 'Accept-Encoding': 'gzip, deflate, br' });
      assert.equal(br.headers['content-encoding'], 'br');
      assert.equal(sha256(br.body), sha256(brotliCompressSync(page)));
      const gz = await rawRequest(t, fast.port, 'GET', '/page.html', { 'Accept-Encoding': 'gzip' });
      assert.equal(gz.headers['content-encoding'], 'gzip');
      const plain = await rawRequest(t, fast.port, 'GET', '/page.html');
      assert.equal(plain.headers['content-encoding'], undefined);
      assert.equal(sha256(plain.body), sha256(page));
      assert.equal(plain.headers.vary, 'Accept-Encoding');
    }
  });

  it('hands unusual and hostile requests to node:http, which answers as it always does', async (t) => {
    await rawRequest(t, fast.port, 'GET', '/small.txt');
    const cases: Array<{ request: string; status: number }> = [
      { request: 'GET /small.txt HTTP/1.1\r\n\r\n', status: 400 }, // no Host
      // node:http takes a repeated Host; the native side leaves that judgement to it.
      { request: 'GET /small.txt HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n', status: 200 },
      { request: 'GET /../../../../etc/passwd HTTP/1.1\r\nHost: x\r\n\r\n', status: 403 },
      { request: 'GET /%2e%2e/%2e%2e/etc/passwd HTTP/1.1\r\nHost: x\r\n\r\n', status: 403 },
      { request: 'GET /.secret HTTP/1.1\r\nHost: x\r\n\r\n', status: 404 },
      { request: 'GET /small.txt%00 HTTP/1.1\r\nHost: x\r\n\r\n', status: 400 },
      { request: 'POST /small.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhi', status: 405 },
      { request: 'GET /small.txt HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n', status: 200 },
      { request: 'GET /small.txt HTTP/1.1\r\nHost: x\r\n Folded: value\r\n\r\n', status: 400 },
      { request: 'GET /small.txt HTTP/1.1\r\nHost: x\r\nBad Name: 1\r\n\r\n', status: 400 },
      // Longer than --max-header-size (16 KiB): more than the native side ever peeks.
      { request: `GET /small.txt HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`, status: 431 },
    ];
    for (const { request, status } of cases) {
      const [fastAnswer, jsAnswer] = await Promise.all(
        [fast.port, js.port].map(async (port) => {
          const client = await RawClient.open(t, port);
          client.send(request);
          return client.readResponse(false);
        }),
      );
      assert.equal(fastAnswer!.status, status, JSON.stringify(request));
      assert.equal(fastAnswer!.status, jsAnswer!.status, JSON.stringify(request));
      assert.equal(sha256(fastAnswer!.body), sha256(jsAnswer!.body), JSON.stringify(request));
    }
  });

  it('answers HTTP/1.0 as node:http does: closing after it, or keeping the connection when asked', async (t) => {
    await rawRequest(t, fast.port, 'GET', '/medium.bin');
    const before = await nativeFrontStats(t, fast.port);
    const exchange = async (port: number, request: string, requests: number) => {
      const client = await RawClient.open(t, port);
      client.send(request.repeat(requests));
      const responses: RawResponse[] = [];
      for (let i = 0; i < requests; i++) responses.push(await client.readResponse(false));
      return { client, responses };
    };
    // No Host and no Connection header: one response, then the server closes.
    const plain = 'GET /medium.bin HTTP/1.0\r\n\r\n';
    const [fastClose, jsClose] = await Promise.all([fast.port, js.port].map((port) => exchange(port, plain, 1)));
    assert.equal(sha256(fastClose!.responses[0]!.body), sha256(medium));
    assert.deepEqual(comparable(fastClose!.responses[0]!), comparable(jsClose!.responses[0]!));
    assert.equal(fastClose!.responses[0]!.headers.connection, 'close');
    await fastClose!.client.closed;
    // Keep-alive asked for: three pipelined on one connection, which stays open.
    const kept = 'GET /medium.bin HTTP/1.0\r\nHost: 127.0.0.1\r\nConnection: keep-alive\r\n\r\n';
    const [fastKept, jsKept] = await Promise.all([fast.port, js.port].map((port) => exchange(port, kept, 3)));
    for (const [i, response] of fastKept!.responses.entries()) {
      assert.equal(sha256(response.body), sha256(medium));
      assert.deepEqual(comparable(response), comparable(jsKept!.responses[i]!));
      assert.equal(response.headers.connection, 'keep-alive');
    }
    assert.equal((await fastKept!.client.exchange('GET', '/small.txt')).body.toString(), small.toString());
    const after = await nativeFrontStats(t, fast.port);
    assert.equal(after.requests - before.requests, 5, 'all five answered natively');
    assert.equal(after.handOversRequest, before.handOversRequest);
  });

  it('answers 300 mutated requests exactly as node:http does (every header, body, the connection after)', async (t) => {
    await rawRequest(t, fast.port, 'GET', '/small.txt');
    const base = Buffer.from(RawClient.request('GET', '/small.txt', { Accept: '*/*', Connection: 'keep-alive' }));
    // A fixed-seed generator: the same 300 requests on every run.
    let seed = 0x2545f491;
    const random = (below: number) => {
      seed ^= seed << 13;
      seed ^= seed >>> 17;
      seed ^= seed << 5;
      return (seed >>> 0) % below;
    };
    const mutate = (): Buffer => {
      const bytes = [...base];
      for (let edits = 1 + random(3); edits > 0; edits--) {
        const at = random(bytes.length);
        const byte = [0, 9, 10, 13, 32, 58, 0x7f, 0xff, 47, 46, 37][random(11)] ?? random(256);
        const kind = random(3);
        if (kind === 0) bytes[at] = byte;
        else if (kind === 1) bytes.splice(at, 0, byte);
        else bytes.splice(at, 1);
      }
      return Buffer.from(bytes);
    };
    /**
     * The first response (status line, every header but Date, body hash), then what became of
     * the connection: a request sent after that response is answered ('open', with that
     * answer), or the server closes ('closed', with anything it sent after the first
     * response); 'closed' alone when the server closes without a response; 'waiting' when it
     * is still waiting for the rest of a request after 250 ms of silence. (The client never
     * half-closes: node:http drops an answer in flight when it sees a FIN.)
     */
    const answer = (port: number, request: Buffer) =>
      new Promise<string>((resolve) => {
        const socket = connect(port, '127.0.0.1', () => socket.write(request));
        let received = Buffer.alloc(0);
        let first: { text: string; end: number } | undefined;
        const withoutDate = (head: string) => head.replace(/\r\ndate: [^\r]*/gi, '');
        /** The complete response at `from` in what was received, if it is all there. */
        const responseAt = (from: number) => {
          const text = received.toString('latin1');
          const headEnd = text.indexOf('\r\n\r\n', from);
          if (headEnd === -1) return undefined;
          const head = text.slice(from, headEnd);
          const length = Number(/\r\ncontent-length: *(\d+)/i.exec(head)?.[1] ?? 0);
          if (received.length < headEnd + 4 + length) return undefined;
          const body = received.subarray(headEnd + 4, headEnd + 4 + length);
          return { text: `${withoutDate(head)} ${sha256(body)}`, end: headEnd + 4 + length };
        };
        const finish = (outcome: string) => {
          clearTimeout(silence);
          socket.destroy();
          resolve(outcome);
        };
        const waiting = () => finish(first === undefined ? 'waiting' : `${first.text} | waiting`);
        let silence = setTimeout(waiting, 250);
        socket.on('data', (chunk: Buffer) => {
          clearTimeout(silence);
          silence = setTimeout(waiting, 250);
          received = Buffer.concat([received, chunk]);
          if (first === undefined) {
            first = responseAt(0);
            if (first === undefined) return;
            socket.write('GET /small.txt HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
          }
          const next = responseAt(first.end);
          if (next !== undefined) finish(`${first.text} | open: ${next.text}`);
        });
        socket.on('error', () => undefined);
        socket.on('close', () => {
          clearTimeout(silence);
          if (first === undefined) resolve('closed');
          else resolve(`${first.text} | closed: ${withoutDate(received.subarray(first.end).toString('latin1'))}`);
        });
      });
    let answeredNatively = 0;
    const before = await nativeFrontStats(t, fast.port);
    for (let i = 0; i < 300; i++) {
      const request = mutate();
      const [fromFast, fromJs] = await Promise.all([answer(fast.port, request), answer(js.port, request)]);
      assert.equal(fromFast, fromJs, `request ${i}: ${JSON.stringify(request.toString('latin1'))}`);
    }
    answeredNatively = (await nativeFrontStats(t, fast.port)).requests - before.requests;
    // Some mutations stay valid (a changed Accept value, say) and are answered natively.
    assert.ok(answeredNatively > 0, 'some mutated requests were still answered natively');
  });

  it('hands over a request that arrives in pieces; node:http waits for the rest', async (t) => {
    await rawRequest(t, fast.port, 'GET', '/small.txt');
    const client = await RawClient.open(t, fast.port);
    client.send('GET /small.txt HTTP/1.1\r\nHo');
    await sleep(100);
    client.send('st: x\r\n\r\n');
    const response = await client.readResponse(false);
    assert.equal(response.status, 200);
    assert.equal(response.body.toString(), small.toString());
    // Now node:http's connection: later requests are answered there, framing intact.
    assert.equal((await client.exchange('GET', '/medium.bin')).body.length, medium.length);
    assert.equal(await client.leftover(), 0);
  });

  it('opens and closes 300 connections without leaking a descriptor', async (t) => {
    const pid = fast.child.pid!;
    const count = () => readdirSync(`/proc/${pid}/fd`).length;
    await rawRequest(t, fast.port, 'GET', '/small.txt');
    await sleep(100);
    const baseline = count();
    for (let round = 0; round < 30; round++) {
      await Promise.all(
        Array.from({ length: 10 }, async () => {
          const client = await RawClient.open(t, fast.port);
          assert.equal((await client.exchange('GET', '/small.txt')).status, 200);
          client.socket.destroy();
        }),
      );
    }
    // Peers' closes reach the server asynchronously.
    const deadline = Date.now() + 3000;
    while (count() > baseline && Date.now() < deadline) await sleep(50);
    assert.ok(count() <= baseline, `descriptors: ${count()} now, ${baseline} before`);
    assert.equal((await nativeFrontStats(t, fast.port)).connectionsOpen, 0);
  });
});

interface JsonLogLine {
  method: string;
  url: string;
  status: number;
  bytes: number;
  ms: number;
  transfer: string;
  encoding?: string;
  error?: string;
  front?: string;
}

/** The first `count` access-log lines a server printed, waiting up to 5 s for them (they are written asynchronously). */
async function logLines(serve: Serve, count: number, prefix = '{'): Promise<string[]> {
  const deadline = Date.now() + 5000;
  for (;;) {
    const lines = serve
      .output()
      .split('\n')
      .filter((line) => line.startsWith(prefix));
    if (lines.length >= count || Date.now() > deadline) return lines;
    await sleep(20);
  }
}

async function jsonLogLines(serve: Serve, count: number): Promise<JsonLogLine[]> {
  return (await logLines(serve, count)).map((line) => JSON.parse(line) as JsonLogLine);
}

describe("zerocopy serve: the native front's access log", () => {
  const dir = tempDir({ after }, 'zerocopy-fast-log-');
  const page = Buffer.from('<!doctype html><p>logged</p>\n'.repeat(50));
  const medium = Buffer.alloc(64 * 1024, 5);
  before(async () => {
    writeFileSync(join(dir, 'small.txt'), 'small\n');
    writeFileSync(join(dir, 'medium.bin'), medium);
    writeFileSync(join(dir, 'page.html'), page);
    writeFileSync(join(dir, 'page.html.br'), brotliCompressSync(page));
    await sleep(1100);
  });

  /**
   * One connection: six requests the native side answers (a 206 and a 304 among them), then
   * an If-Match that goes to node:http, then one more.
   */
  // Two sends: a read with a request the front cannot answer goes to node:http whole.
  const pipelined = [
    RawClient.request('GET', '/small.txt') +
      RawClient.request('HEAD', '/medium.bin') +
      RawClient.request('GET', '/page.html', { 'Accept-Encoding': 'br' }) +
      RawClient.request('GET', '/medium.bin') +
      RawClient.request('GET', '/small.txt', { Range: 'bytes=1-2' }) +
      RawClient.request('GET', '/small.txt', { 'If-None-Match': '*' }),
    RawClient.request('GET', '/small.txt', { 'If-Match': '*' }) + RawClient.request('GET', '/small.txt'),
  ] as const;

  async function sendPipelined(t: TestContext, serve: Serve): Promise<void> {
    // Fill the caches first: the lines compared are those of the second round.
    for (const path of ['/small.txt', '/medium.bin']) await rawRequest(t, serve.port, 'GET', path);
    await rawRequest(t, serve.port, 'GET', '/page.html', { 'Accept-Encoding': 'br' });
    const client = await RawClient.open(t, serve.port);
    client.send(pipelined[0]);
    for (const head of [false, true, false, false, false, false]) await client.readResponse(head);
    client.send(pipelined[1]);
    for (let i = 0; i < 2; i++) await client.readResponse(false);
    assert.equal(await client.leftover(), 0);
  }

  it('--log json: one line per response in order, as node:http logs them, marked native', async (t) => {
    const fast = await startServe(t, [dir, '--port', '0', '--log', 'json']);
    const js = await startServe(t, [dir, '--port', '0', '--log', 'json', '--no-native-front']);
    const lines: JsonLogLine[][] = [];
    for (const serve of [fast, js]) {
      await sendPipelined(t, serve);
      lines.push((await jsonLogLines(serve, 11)).slice(3));
    }
    const [native, node] = lines as [JsonLogLine[], JsonLogLine[]];
    const comparable = (l: JsonLogLine) => [l.method, l.url, l.status, l.bytes, l.encoding ?? '-', l.error ?? '-'];
    assert.equal(native.length, 8);
    assert.deepEqual(native.map(comparable), node.map(comparable));
    assert.deepEqual(
      native.map((l) => l.status),
      [200, 200, 200, 200, 206, 304, 200, 200],
    );
    assert.deepEqual(
      native.map((l) => l.front ?? 'node:http'),
      ['native', 'native', 'native', 'native', 'native', 'native', 'node:http', 'node:http'],
    );
    assert.deepEqual(
      native.slice(0, 6).map((l) => l.transfer),
      ['memory', 'none', 'memory', 'sendfile', 'memory', 'none'],
    );
    assert.deepEqual(
      native.slice(0, 4).map((l) => [l.url, l.bytes, l.encoding]),
      [
        ['/small.txt', 6, undefined],
        ['/medium.bin', 0, undefined],
        ['/page.html', brotliCompressSync(page).length, 'br'],
        ['/medium.bin', medium.length, undefined],
      ],
    );
    assert.ok(native.every((l) => Number.isFinite(l.ms) && l.ms >= 0));
  });

  it('--log combined: the same line node:http writes, User-Agent and Referer quoted', async (t) => {
    const fast = await startServe(t, [dir, '--port', '0', '--log', 'combined']);
    const js = await startServe(t, [dir, '--port', '0', '--log', 'combined', '--no-native-front']);
    const headers = { 'User-Agent': 'agent "quoted" \\ back', Referer: 'http://127.0.0.1/from' };
    const lines: string[][] = [];
    for (const serve of [fast, js]) {
      await rawRequest(t, serve.port, 'GET', '/small.txt', headers);
      await rawRequest(t, serve.port, 'GET', '/small.txt', headers);
      await rawRequest(t, serve.port, 'GET', '/small.txt');
      const client = await RawClient.open(t, serve.port);
      client.send('HEAD /small.txt HTTP/1.0\r\n\r\n');
      await client.readResponse(true);
      // Date and duration differ between the two servers; the transfer method may too.
      lines.push(
        (await logLines(serve, 4, '127.0.0.1 ')).map((line) =>
          line.replace(/\[[^\]]+\]/, '[date]').replace(/ [\d.]+ms \S+$/, ''),
        ),
      );
    }
    assert.equal(lines[0]!.length, 4);
    assert.deepEqual(lines[0], lines[1]);
    assert.equal(lines[0]![3], '127.0.0.1 - - [date] "HEAD /small.txt HTTP/1.0" 200 - "-" "-"');
    assert.equal(
      lines[0]![1],
      '127.0.0.1 - - [date] "GET /small.txt HTTP/1.1" 200 6 "http://127.0.0.1/from" "agent \\"quoted\\" \\\\ back"',
    );
    assert.match(lines[0]![2]!, /"-" "-"$/);
    const stats = await nativeFrontStats(t, fast.port);
    assert.ok(stats.requests >= 3, 'the native side answered');
  });
  it('logs the peer of a connection that closed before its line was written', async (t) => {
    const serve = await startServe(t, [dir, '--port', '0', '--log', 'combined']);
    await rawRequest(t, serve.port, 'GET', '/small.txt');
    // The server closes after these; the client closes its side as soon as it sees the FIN,
    // which can be before the log line is made, when getpeername() no longer answers.
    for (let i = 0; i < 40; i++) {
      const client = await RawClient.open(t, serve.port);
      client.send(
        i % 2 === 0
          ? 'HEAD /small.txt HTTP/1.0\r\n\r\n'
          : RawClient.request('GET', '/small.txt', { Connection: 'close' }),
      );
      await client.closed;
    }
    const ofSmall = () =>
      serve
        .output()
        .split('\n')
        .filter((line) => line.includes('/small.txt HTTP/1.'));
    for (let waited = 0; ofSmall().length < 41 && waited < 5000; waited += 20) await sleep(20);
    const lines = ofSmall();
    assert.equal(lines.length, 41);
    for (const line of lines) assert.match(line, /^127\.0\.0\.1 - - \[/);
    assert.ok((await nativeFrontStats(t, serve.port)).requests >= 40, 'the native side answered');
  });
});

describe('zerocopy serve: the native front with files too large to cache', () => {
  const LARGE = 24 * 1024 * 1024;

  it('sends a large file in the page cache by sendfile itself, every byte intact, pipelined', async (t) => {
    const dir = tempDir(t);
    const bytes = Buffer.alloc(LARGE);
    for (let i = 0; i < bytes.length; i += 4096) bytes.writeUInt32LE(i, i);
    writeFileSync(join(dir, 'large.bin'), bytes);
    writeFileSync(join(dir, 'small.txt'), 'after\n');
    await sleep(1100);
    const serve = await startServe(t, [dir, '--port', '0', '--log', 'off']);
    await rawRequest(t, serve.port, 'GET', '/large.bin');
    const before = await nativeFrontStats(t, serve.port);
    const client = await RawClient.open(t, serve.port);
    client.send(
      RawClient.request('GET', '/large.bin') +
        RawClient.request('HEAD', '/large.bin') +
        RawClient.request('GET', '/large.bin'),
    );
    for (const head of [false, true, false]) {
      const response = await client.readResponse(head);
      assert.equal(response.status, 200);
      assert.equal(response.headers['content-length'], String(LARGE));
      if (!head) assert.equal(sha256(response.body), sha256(bytes));
    }
    assert.equal(await client.leftover(), 0);
    const after = await nativeFrontStats(t, serve.port);
    assert.equal(after.responsesSendfile - before.responsesSendfile, 2, 'both bodies left from the native side');
  });

  it('sends a large body in full-sized segments, as under TCP_CORK', async (t) => {
    if (!(await requireTool(t, 'ss', ['-V'], 'it reads the segment count from the kernel'))) return;
    const dir = tempDir(t);
    writeFileSync(join(dir, 'large.bin'), Buffer.alloc(LARGE, 5));
    await sleep(1100);
    const serve = await startServe(t, [dir, '--port', '0', '--log', 'off']);
    await rawRequest(t, serve.port, 'GET', '/large.bin');
    // A reader that discards in the kernel (recv with MSG_TRUNC) keeps the receive queue
    // empty: that is when an uncorked sendfile, which pushes at the end of every 16 pages
    // under TCP_NODELAY, sent short segments (a third to a half more packets on loopback).
    // The segment count is the kernel's own, read by ss for this connection.
    const { stdout } = await execFileAsync('python3', ['-c', DISCARDING_CLIENT, String(serve.port), '/large.bin', '8']);
    const [bytes, segmentsIn] = stdout.trim().split(' ').map(Number) as [number, number];
    assert.equal(bytes, 8 * LARGE);
    const mtu = Number(readFileSync('/sys/class/net/lo/mtu', 'utf8'));
    const fullSegment = mtu - 52; // IPv4 and TCP headers with timestamps
    assert.ok(
      bytes / segmentsIn >= fullSegment * 0.95,
      `${segmentsIn} segments for ${bytes} bytes (full: ${fullSegment})`,
    );
  });

  it('aborts the connection when the file shrinks mid-body, and keeps serving', async (t) => {
    const dir = tempDir(t);
    const path = join(dir, 'shrinks.bin');
    writeFileSync(path, Buffer.alloc(LARGE, 7));
    writeFileSync(join(dir, 'ok.txt'), 'ok\n');
    await sleep(1100);
    const serve = await startServe(t, [dir, '--port', '0', '--log', 'json']);
    await rawRequest(t, serve.port, 'HEAD', '/shrinks.bin');
    await rawRequest(t, serve.port, 'GET', '/ok.txt');
    const client = await RawClient.open(t, serve.port);
    client.socket.pause(); // the server fills the socket buffers and waits
    client.send(RawClient.request('GET', '/shrinks.bin') + RawClient.request('GET', '/ok.txt'));
    await sleep(200);
    truncateSync(path, 1024 * 1024);
    client.socket.resume();
    const { bytes: received, statusLines } = await client.untilClosed();
    assert.ok(received < LARGE, `received ${received} of ${LARGE}: the connection must end early`);
    assert.ok(statusLines <= 1, 'no second response after the short body');
    assert.equal((await rawRequest(t, serve.port, 'GET', '/ok.txt')).body.toString(), 'ok\n');
    // The cut GET, and the GET pipelined behind it that never began; then the later GET.
    const lines = (await jsonLogLines(serve, 5)).slice(2);
    assert.deepEqual(
      lines.map((l) => [l.method, l.url, l.error ?? 'complete', l.front ?? 'node:http']),
      [
        ['GET', '/shrinks.bin', 'ERR_ZEROCOPY_SOURCE_TRUNCATED', 'native'],
        ['GET', '/ok.txt', 'ERR_ZEROCOPY_SOURCE_TRUNCATED', 'native'],
        ['GET', '/ok.txt', 'complete', 'native'],
      ],
    );
    assert.ok(lines[0]!.bytes > 0 && lines[0]!.bytes < LARGE, `body bytes logged: ${lines[0]!.bytes}`);
    assert.equal(lines[1]!.bytes, 0);
  });

  it('logs a response the client walked away from, with the bytes that left', async (t) => {
    const dir = tempDir(t);
    writeFileSync(join(dir, 'large.bin'), Buffer.alloc(LARGE, 1));
    await sleep(1100);
    const serve = await startServe(t, [dir, '--port', '0', '--log', 'json']);
    await rawRequest(t, serve.port, 'HEAD', '/large.bin');
    const client = await RawClient.open(t, serve.port);
    client.socket.pause();
    client.send(RawClient.request('GET', '/large.bin'));
    await sleep(300);
    // Unread bytes in our receive buffer: closing sends a reset.
    client.socket.destroy();
    const lines = await jsonLogLines(serve, 2);
    assert.equal(lines.length, 2);
    const cut = lines[1]!;
    assert.equal(cut.front, 'native');
    assert.match(cut.error ?? '', /^(ECONNRESET|EPIPE)$/);
    assert.ok(cut.bytes > 0 && cut.bytes < LARGE, `body bytes logged: ${cut.bytes}`);
    assert.equal((await nativeFrontStats(t, serve.port)).connectionsOpen, 0);
  });

  it('reads a large file that is not in the page cache on the thread pool, and sends it itself', async (t) => {
    const dir = tempDir(t);
    const path = join(dir, 'cold.bin');
    // Larger than a disk-read window (8 MiB), not a multiple of it, and different in every block.
    const bytes = randomBytes(20 * 1024 * 1024 + 4321);
    writeFileSync(path, bytes);
    await sleep(1100);
    const serve = await startServe(t, [dir, '--port', '0', '--log', 'off']);
    const client = await RawClient.open(t, serve.port);
    assert.equal((await client.exchange('HEAD', '/cold.bin')).status, 200);
    const before = await nativeFrontStats(t, serve.port);
    for (let round = 0; round < 2; round++) {
      dropFromPageCache(path);
      // Two responses on one connection: the second follows the first byte for byte.
      const first = await client.exchange('GET', '/cold.bin');
      assert.equal(first.status, 200);
      assert.equal(first.body.length, bytes.length);
      assert.equal(sha256(first.body), sha256(bytes));
      assert.equal((await client.exchange('HEAD', '/cold.bin')).status, 200);
    }
    assert.equal(await client.leftover(), 0);
    const after = await nativeFrontStats(t, serve.port);
    assert.equal(after.requests - before.requests, 4, 'every request answered by the native front');
    assert.equal(after.handOversRequest, before.handOversRequest);
    assert.ok(after.diskReads - before.diskReads >= 2, `disk reads: ${after.diskReads - before.diskReads}`);
  });

  it('cuts a cold response short when its file shrinks before it is read, and keeps serving', async (t) => {
    const dir = tempDir(t);
    const path = join(dir, 'shrinks.bin');
    const size = 24 * 1024 * 1024;
    writeFileSync(path, randomBytes(size));
    writeFileSync(join(dir, 'ok.txt'), 'ok\n');
    await sleep(1100);
    const serve = await startServe(t, [dir, '--port', '0', '--log', 'json']);
    await rawRequest(t, serve.port, 'HEAD', '/shrinks.bin');
    await rawRequest(t, serve.port, 'GET', '/ok.txt');
    dropFromPageCache(path);
    truncateSync(path, 1024 * 1024);
    const client = await RawClient.open(t, serve.port);
    client.send(RawClient.request('GET', '/shrinks.bin') + RawClient.request('GET', '/ok.txt'));
    const { bytes: received, statusLines } = await client.untilClosed();
    assert.ok(received < size, `received ${received} of ${size}: the connection must end early`);
    assert.ok(statusLines <= 1, 'no second response after the short body');
    assert.equal((await rawRequest(t, serve.port, 'GET', '/ok.txt')).body.toString(), 'ok\n');
    const lines = (await jsonLogLines(serve, 5)).slice(2);
    assert.deepEqual(
      lines.map((l) => [l.url, l.error ?? 'complete', l.front ?? 'node:http']),
      [
        ['/shrinks.bin', 'ERR_ZEROCOPY_SOURCE_TRUNCATED', 'native'],
        ['/ok.txt', 'ERR_ZEROCOPY_SOURCE_TRUNCATED', 'native'],
        ['/ok.txt', 'complete', 'native'],
      ],
    );
  });
});

describe('zerocopy serve: the native front over time', () => {
  it('sees a file changed on disk within the cache validity', async (t) => {
    const dir = tempDir(t);
    writeFileSync(join(dir, 'a.txt'), 'first version\n');
    await sleep(1100);
    const serve = await startServe(t, [dir, '--port', '0', '--log', 'off', '--cache-validity', '200']);
    const client = await RawClient.open(t, serve.port);
    for (let i = 0; i < 3; i++)
      assert.equal((await client.exchange('GET', '/a.txt')).body.toString(), 'first version\n');
    assert.ok((await nativeFrontStats(t, serve.port)).requests >= 2);
    writeFileSync(join(dir, 'a.txt'), 'second, longer version\n');
    await sleep(300);
    assert.equal((await client.exchange('GET', '/a.txt')).body.toString(), 'second, longer version\n');
    assert.equal(await client.leftover(), 0);
  });

  it('closes idle keep-alive connections and cuts off a reader that stopped', async (t) => {
    const dir = tempDir(t);
    const big = Buffer.alloc(200 * 1024, 5);
    writeFileSync(join(dir, 'a.txt'), 'idle\n');
    writeFileSync(join(dir, 'big.bin'), big);
    await sleep(1100);
    // Long enough that a loaded machine's test process, reading the warm-up bodies late, is
    // not itself taken for a reader that stopped (timeouts are checked every idle/4 ms).
    const serve = await startServe(t, [dir, '--port', '0', '--log', 'off', '--idle-timeout', '2500']);
    await rawRequest(t, serve.port, 'GET', '/big.bin');
    await rawRequest(t, serve.port, 'GET', '/a.txt');

    const idle = await RawClient.open(t, serve.port);
    assert.equal((await idle.exchange('GET', '/a.txt')).status, 200);
    const stalled = await RawClient.open(t, serve.port);
    stalled.socket.pause();
    // Far more than the socket buffers hold, and never read.
    stalled.send(RawClient.request('GET', '/big.bin').repeat(200));
    const started = Date.now();
    await idle.closed;
    assert.ok(Date.now() - started < 7000, `idle connection closed after ${Date.now() - started} ms`);
    // A paused socket sees its end only once it reads again.
    await sleep(3500);
    stalled.socket.resume();
    await stalled.closed;
    const stats = await nativeFrontStats(t, serve.port);
    assert.ok(stats.closedIdle >= 1, `closedIdle ${stats.closedIdle}`);
    assert.ok(stats.closedStalled >= 1, `closedStalled ${stats.closedStalled}`);
  });

  it('on SIGTERM closes its idle connections and exits 0 at once', async (t) => {
    const dir = tempDir(t);
    writeFileSync(join(dir, 'a.txt'), 'bye\n');
    await sleep(1100);
    const serve = await startServe(t, [dir, '--port', '0', '--log', 'off']);
    const clients = await Promise.all(Array.from({ length: 5 }, () => RawClient.open(t, serve.port)));
    for (const client of clients) assert.equal((await client.exchange('GET', '/a.txt')).status, 200);
    assert.equal((await nativeFrontStats(t, serve.port)).connectionsOpen, 5);
    const started = Date.now();
    serve.child.kill('SIGTERM');
    assert.equal(await serve.exited, 0);
    await Promise.all(clients.map((client) => client.closed));
    assert.ok(Date.now() - started < 3000, `exited after ${Date.now() - started} ms`);
    const refused = await connectOutcome(serve.port);
    assert.equal(refused, 'ECONNREFUSED');
  });
});
