// The native front answers in node:http's place, so it must answer exactly as node:http
// would: the same bytes go to `zerocopy serve` and to `zerocopy serve --no-native-front`,
// and the two must agree on every response (status, every header but Date, body) and on
// what becomes of the connection (kept open, or closed by the server). The cases are the
// ones that decide keep-alive: Connection and Proxy-Connection tokens in every case and
// with spaces and tabs around them, repeated fields, HTTP/1.0 and 1.1, requests pipelined
// behind them, first as a list, then generated from a seed. Accept-Encoding too: which
// compressed variant of a text file (or none) a value selects, q-values and all.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it, type TestContext } from 'node:test';

import { sha256, tempDir } from '../support/fixtures.js';
import { nativeFrontStats, RawClient, type RawResponse, startServe } from './support.js';

type Serve = Awaited<ReturnType<typeof startServe>>;

/** What a client saw: each response, then whether the server kept the connection. */
interface Outcome {
  responses: Array<{ status: number; headers: Record<string, string>; body: string }>;
  connection: 'open' | 'closed';
}

/** Sent after the responses: answered on a connection the server kept, never on one it closed. */
const PROBE = 'GET /small.txt HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n';

/**
 * A response as two servers must agree on it. Date moves and is only checked for its form.
 * Keep-Alive must be the same to the byte: its timeout (and max, when set) come from the
 * server's settings, which both share, not from the clock; its presence says the connection
 * stays open, which both must agree on too.
 */
function comparable(response: RawResponse): Outcome['responses'][number] {
  const { date, ...headers } = response.headers;
  if (date !== undefined) assert.match(date, /^\w{3}, \d{2} \w{3} \d{4} \d{2}:\d{2}:\d{2} GMT$/);
  // Each multipart/byteranges answer has a boundary of its own, in its type and its body.
  const boundary = /; boundary=(.*)$/.exec(headers['content-type'] ?? '')?.[1];
  if (boundary === undefined) return { status: response.status, headers, body: sha256(response.body) };
  headers['content-type'] = headers['content-type']!.replace(boundary, '?');
  return { status: response.status, headers, body: sha256(response.body.toString('latin1').replaceAll(boundary, '?')) };
}

/**
 * Sends `bytes` on a new connection and reads up to one response per method in `methods`
 * (a HEAD's has no body), fewer if the server closes first; then tells whether the
 * connection is still open by sending PROBE.
 */
async function exchange(t: TestContext, port: number, bytes: string, methods: string[]): Promise<Outcome> {
  const client = await RawClient.open(t, port);
  client.send(bytes);
  const responses: Outcome['responses'] = [];
  for (const method of methods) {
    const response = await client.nextResponse(method === 'HEAD');
    if (response === null) break;
    responses.push(comparable(response));
  }
  let connection: Outcome['connection'] = 'closed';
  if (!client.ended) {
    client.send(PROBE);
    const probe = await client.nextResponse(false);
    if (probe !== null) {
      assert.equal(probe.status, 200, 'the probe on a kept connection');
      connection = 'open';
    }
  }
  client.socket.destroy();
  return { responses, connection };
}

/** mulberry32: a small generator whose sequence a seed fixes, so that a failure can be replayed. */
function generator(seed: number): (n: number) => number {
  let state = seed >>> 0;
  return (n) => {
    state = (state + 0x6d2b79f5) >>> 0;
    let x = state;
    x = Math.imul(x ^ (x >>> 15), x | 1);
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61);
    return ((x ^ (x >>> 14)) >>> 0) % n;
  };
}

const TOKENS = [
  'close',
  'Close',
  'CLOSE',
  'keep-alive',
  'Keep-Alive',
  'KEEP-ALIVE',
  'upgrade',
  'Upgrade',
  'te',
  'foo',
  'closed',
  'clos',
  'keep-alivex',
  'x-close',
  '',
];
const SEPARATORS = [',', ', ', ' ,', ',\t', '\t,', ' , ', ',,'];
const LEADING = ['', ' ', '\t', '  ', ' \t', '\t '];
const TRAILING = ['', ' ', '\t', ' \t', '\t ', '  '];
const FIELD_NAMES = [
  'Connection',
  'connection',
  'CONNECTION',
  'Proxy-Connection',
  'proxy-connection',
  'PROXY-CONNECTION',
  'Connection-Extra',
];
const TARGETS = ['/small.txt', '/medium.bin', '/large.bin', '/app.js'];
/** Values that select br, gzip or the file as it is, plainly or by q-values, and some that are odd. */
const ACCEPT_ENCODINGS = [
  'Accept-Encoding: br',
  'Accept-Encoding: gzip',
  'Accept-Encoding: gzip, deflate, br',
  'Accept-Encoding: gzip, deflate, br, zstd',
  'accept-encoding: GZIP',
  'Accept-Encoding: br;q=0, gzip',
  'Accept-Encoding: gzip;q=0.5, br;q=0.8',
  'Accept-Encoding: gzip;q=1.0, br;q=0.999',
  'Accept-Encoding: identity',
  'Accept-Encoding: identity, br;q=0.5',
  'Accept-Encoding: *',
  'Accept-Encoding: *;q=0',
  'Accept-Encoding: br;q=0, gzip;q=0',
  'Accept-Encoding: x-gzip',
  'Accept-Encoding: br;q=abc, gzip',
  'Accept-Encoding: ',
  'Accept-Encoding:\tbr ',
];
const CONDITIONS = [
  'Range: bytes=0-4',
  'Range: bytes=-3',
  'Range: bytes=0-1,3-4',
  'If-None-Match: *',
  'If-Match: *',
  'If-Modified-Since: Sat, 01 Jan 2050 00:00:00 GMT',
  'TE: chunked',
];
/** Answered by the front (the first three), or handed over: a 404, a directory, a query. */
const OTHER_TARGETS = ['/missing.txt', '/', '/small.txt?q=1'];

/** One generated case: the bytes to send and the methods of the requests in them. */
function generateCase(pick: (n: number) => number): { bytes: string; methods: string[] } {
  const oneOf = <T>(list: readonly T[]): T => list[pick(list.length)]!;
  const connectionFields = (): string[] => {
    const fields: string[] = [];
    for (let count = pick(4); count > 0; count--) {
      let value = oneOf(LEADING);
      for (let tokens = 1 + pick(3); tokens > 0; tokens--) {
        value += oneOf(TOKENS);
        if (tokens > 1) value += oneOf(SEPARATORS);
      }
      value += oneOf(TRAILING);
      fields.push(`${oneOf(FIELD_NAMES)}:${value}`);
    }
    return fields;
  };
  const request = (method: string, target: string): string => {
    const version = pick(3) === 0 ? 'HTTP/1.0' : 'HTTP/1.1';
    const fields = connectionFields();
    const hosts = pick(12) === 0 ? 0 : pick(12) === 0 ? 2 : 1;
    for (let i = 0; i < hosts; i++) fields.splice(pick(fields.length + 1), 0, 'Host: 127.0.0.1');
    if (pick(3) === 0) fields.splice(pick(fields.length + 1), 0, 'User-Agent: parity');
    // A 206, a 304, or a request that goes to node:http, each keeping or closing as asked.
    for (let count = pick(3) === 0 ? 1 + pick(2) : 0; count > 0; count--)
      fields.splice(pick(fields.length + 1), 0, oneOf(CONDITIONS));
    if (pick(10) === 0) fields.splice(pick(fields.length + 1), 0, 'host: 127.0.0.1');
    for (let count = pick(2) === 0 ? 1 + (pick(8) === 0 ? 1 : 0) : 0; count > 0; count--)
      fields.splice(pick(fields.length + 1), 0, oneOf(ACCEPT_ENCODINGS));
    return `${method} ${target} ${version}\r\n${fields.map((field) => `${field}\r\n`).join('')}\r\n`;
  };
  const method = pick(4) === 0 ? 'HEAD' : 'GET';
  let bytes = request(method, pick(8) === 0 ? oneOf(OTHER_TARGETS) : oneOf(TARGETS));
  const methods = [method];
  // What is pipelined behind it: nothing, another request, the empty lines llhttp skips, or
  // a request it refuses.
  switch (pick(6)) {
    case 0:
    case 1:
      break;
    case 2:
      bytes += 'GET /small.txt HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n';
      methods.push('GET');
      break;
    case 3: {
      const next = pick(2) === 0 ? 'HEAD' : 'GET';
      bytes += request(next, oneOf(TARGETS));
      methods.push(next);
      break;
    }
    case 4:
      bytes += oneOf(['\r\n', '\r\n\r\n']);
      break;
    default:
      // One llhttp refuses (no Host in 1.1 is node:http's own 400).
      bytes += oneOf([
        'XYZ / HTTP/1.1\r\n\r\n',
        'GET /small.txt HTTP/1.1\r\n\r\n',
        'GET / HTTP/1.1\r\nHost :x\r\n\r\n',
      ]);
      methods.push('GET');
  }
  return { bytes, methods };
}

describe('zerocopy serve: the native front keeps and closes connections as node:http does', () => {
  const dir = tempDir({ after }, 'zerocopy-parity-');
  let front: Serve;
  let reference: Serve;
  const cleanups: Array<() => void> = [];
  after(() => {
    for (const cleanup of cleanups) cleanup();
  });
  const suite = { after: (fn: () => void) => cleanups.push(fn) };

  before(async () => {
    writeFileSync(join(dir, 'small.txt'), 'small file body\n');
    writeFileSync(join(dir, 'medium.bin'), Buffer.alloc(64 * 1024, 5));
    // Larger than the file cache takes: the front sends it from the open file, node:http
    // answers it only after opening it (while the others are answered at once, from memory).
    writeFileSync(join(dir, 'large.bin'), Buffer.alloc(300 * 1024, 6));
    // Text worth compressing: both servers build its br and gzip variants before the cases run.
    let script = '';
    for (let i = 0; i < 300; i++) script += `export const value${i} = compute('key-${(i * 31) % 97}', ${i});\n`;
    writeFileSync(join(dir, 'app.js'), script);
    // Files changed within the last second are never cached.
    await new Promise((resolve) => setTimeout(resolve, 1100));
    // Cache entries that stay fresh for the whole run: whether node:http answers a request
    // at once (a fresh cache hit) or after opening the file decides how it meets a request
    // pipelined after one that closes, and must be the same in both servers.
    const common = [dir, '--port', '0', '--log', 'off', '--no-precompressed', '--cache-validity', '600000'];
    front = await startServe(suite, common);
    reference = await startServe(suite, [...common, '--no-native-front']);
    for (const target of TARGETS) {
      for (const serve of [front, reference]) {
        // Twice: the first request fills the native front's table.
        for (let i = 0; i < 2; i++) {
          const client = new RawClient(serve.port);
          assert.equal((await client.exchange('GET', target)).status, 200, target);
          client.socket.destroy();
        }
      }
    }
    // Every Accept-Encoding selects br, gzip or identity: with both variants built, each
    // server answers each value the same way from then on.
    for (const serve of [front, reference]) {
      for (const encoding of ['br', 'gzip']) {
        for (let attempt = 0; ; attempt++) {
          const client = new RawClient(serve.port);
          const response = await client.exchange('GET', '/app.js', { 'Accept-Encoding': encoding });
          client.socket.destroy();
          if (response.headers['content-encoding'] === encoding) break;
          assert.ok(attempt < 100, `the ${encoding} variant of /app.js was never built`);
          await new Promise((resolve) => setTimeout(resolve, 30));
        }
      }
    }
  });

  /** Sends the same bytes to both servers; they must agree. Returns node:http's outcome. */
  async function same(t: TestContext, bytes: string, methods: string[], label = JSON.stringify(bytes)) {
    const labelled = (server: string) => (error: Error) => {
      throw new Error(`${label}, ${server}: ${error.message}`, { cause: error });
    };
    const expected = await exchange(t, reference.port, bytes, methods).catch(labelled('node:http'));
    const got = await exchange(t, front.port, bytes, methods).catch(labelled('native front'));
    assert.deepEqual(got, expected, label);
    return expected;
  }

  const request = (lines: string[]) => `${lines.join('\r\n')}\r\n\r\n`;
  const get11 = (...fields: string[]) => request(['GET /small.txt HTTP/1.1', 'Host: 127.0.0.1', ...fields]);
  const get10 = (...fields: string[]) => request(['GET /small.txt HTTP/1.0', ...fields]);
  const plain = get11();

  it('Proxy-Connection counts as Connection', async (t) => {
    const closing = await same(t, get11('Proxy-Connection: close') + plain, ['GET', 'GET']);
    assert.equal(closing.connection, 'closed');
    assert.equal(closing.responses.length, 1, 'nothing but the first answer, or a 400');
    const kept = await same(t, get10('Proxy-Connection: keep-alive'), ['GET']);
    assert.equal(kept.connection, 'open');
    assert.equal(kept.responses[0]?.headers.connection, 'keep-alive');
    assert.equal((await same(t, get11('proxy-connection: CLOSE'), ['GET'])).connection, 'closed');
  });

  // llhttp 9.3 (Node 20) reads a token followed by a tab as no token, 9.4 (Node 22, 24) reads
  // the token; the front hands such values to node:http, so both modes agree on either Node.
  it('a Connection value with a tab is decided by node:http, on every Node', async (t) => {
    await same(t, get11('Connection: Close\t'), ['GET']);
    assert.equal((await same(t, get11('Connection: close '), ['GET'])).connection, 'closed');
    assert.equal((await same(t, get11('Connection:\tclose'), ['GET'])).connection, 'closed');
    await same(t, get10('Connection: keep-alive\t'), ['GET']);
    assert.equal((await same(t, get10('Connection: keep-alive  '), ['GET'])).connection, 'open');
  });

  it('token lists, unknown tokens and repeated fields', async (t) => {
    const cases: Array<[string, 'open' | 'closed']> = [
      [get11('Connection: foo, close'), 'closed'],
      [get11('Connection: close, foo'), 'closed'],
      [get11('Connection: closed'), 'open'],
      [get11('Connection: x close'), 'open'],
      [get11('Connection: upgrade'), 'open'],
      [get11('Connection: keep-alive', 'Connection: close'), 'closed'],
      [get11('Connection: keep-alive', 'Proxy-Connection: close'), 'closed'],
      [get10('Connection: close, keep-alive'), 'open'],
      [get10('Connection: close', 'Connection: keep-alive'), 'open'],
      [get10('Connection: TE, Keep-Alive'), 'open'],
      [get10('Connection: keep-alivex'), 'closed'],
      [get10('Connection-Extra: keep-alive'), 'closed'],
    ];
    for (const [bytes, connection] of cases)
      assert.equal((await same(t, bytes, ['GET'])).connection, connection, bytes);
  });

  it('an HTTP/1.0 connection kept alive ends after a 304, which has no length', async (t) => {
    const notModified = await same(t, get10('Connection: keep-alive', 'If-None-Match: *'), ['GET']);
    assert.equal(notModified.responses[0]?.status, 304);
    assert.equal(notModified.connection, 'closed');
    // Unless the client takes chunked responses: then node:http keeps it.
    const chunked = await same(t, get10('Connection: keep-alive', 'TE: chunked', 'If-None-Match: *'), ['GET']);
    assert.equal(chunked.connection, 'open');
    const partial = await same(t, get10('Connection: keep-alive', 'Range: bytes=0-4'), ['GET']);
    assert.deepEqual([partial.responses[0]?.status, partial.connection], [206, 'open']);
  });

  it('requests pipelined after one that closes are for node:http to answer', async (t) => {
    const large = (version: string, ...fields: string[]) =>
      request([`GET /large.bin ${version}`, 'Host: 127.0.0.1', ...fields]);
    // node:http meets the bytes after the first request as an error before it answered the
    // large file (it opens it first), and answers 400; the small one it answered at once,
    // and then closes with nothing more.
    for (const first of [
      get11('Connection: close'),
      get10(),
      get10('Connection: close'),
      large('HTTP/1.1', 'Connection: close'),
      large('HTTP/1.0'),
    ]) {
      for (const [rest, methods] of [
        [plain, ['GET', 'GET']],
        [request(['HEAD /large.bin HTTP/1.1', 'Host: 127.0.0.1']), ['GET', 'HEAD']],
        ['\r\n', ['GET']],
        ['X', ['GET']],
      ] as const) {
        const outcome = await same(t, first + rest, [...methods]);
        assert.equal(outcome.connection, 'closed');
      }
    }
    // Behind requests that keep the connection, a request llhttp refuses: node:http answers
    // 400 unless a response to the same read went out first (then nothing more).
    const refused = 'XYZ / HTTP/1.1\r\n\r\n';
    for (const [bytes, methods] of [
      [plain + refused, ['GET', 'GET']],
      [plain + plain + refused, ['GET', 'GET', 'GET']],
      [large('HTTP/1.1') + refused, ['GET', 'GET']],
      [plain + get11('Connection: close') + plain, ['GET', 'GET', 'GET']],
      [plain + request(['GET /small.txt HTTP/1.1']), ['GET', 'GET']],
    ] as const) {
      assert.equal((await same(t, bytes, [...methods])).connection, 'closed', bytes);
    }
    // Behind a request that keeps the connection, the next one is answered as usual.
    const kept = await same(t, plain + get11('Connection: close'), ['GET', 'GET']);
    assert.deepEqual(
      kept.responses.map((response) => response.status),
      [200, 200],
    );
  });

  it('Accept-Encoding selects the same variant, or none, with q-values honoured', async (t) => {
    const app = (...fields: string[]) => request(['GET /app.js HTTP/1.1', 'Host: 127.0.0.1', ...fields]);
    const encodings = new Set<string>();
    for (const field of ACCEPT_ENCODINGS) {
      for (const extra of [[], ['Range: bytes=5-40'], ['If-None-Match: "x"']]) {
        const outcome = await same(t, app(field, ...extra), ['GET']);
        const headers = outcome.responses[0]?.headers;
        assert.equal(headers?.vary, 'Accept-Encoding', field);
        encodings.add(headers?.['content-encoding'] ?? 'identity');
      }
    }
    assert.deepEqual([...encodings].sort(), ['br', 'gzip', 'identity']);
    // Two fields, and a 304 of a variant by its own ETag.
    await same(t, app('Accept-Encoding: gzip', 'Accept-Encoding: br'), ['GET']);
    const client = new RawClient(front.port);
    const br = await client.exchange('GET', '/app.js', { 'Accept-Encoding': 'br' });
    client.socket.destroy();
    const notModified = await same(t, app('Accept-Encoding: br', `If-None-Match: ${br.headers.etag}`), ['GET']);
    assert.equal(notModified.responses[0]?.status, 304);
  });

  it('agrees on a few hundred generated requests (seed in ZEROCOPY_PARITY_SEED)', async (t) => {
    const seed = Number(process.env.ZEROCOPY_PARITY_SEED ?? 0x5eed);
    const pick = generator(seed);
    const before = await nativeFrontStats(t, front.port);
    const cases = 300;
    for (let i = 0; i < cases; i++) {
      const { bytes, methods } = generateCase(pick);
      await same(t, bytes, methods, `seed ${seed}, case ${i}: ${JSON.stringify(bytes)}`);
    }
    const after = await nativeFrontStats(t, front.port);
    // The cases must reach the front, not just node:http behind it (many carry tabs, unknown
    // methods or other shapes that go to node:http: about a fifth are answered natively).
    const answered = after.requests - before.requests;
    assert.ok(answered >= cases / 10, `the native front answered ${answered} requests of ${cases} cases`);
    assert.ok(after.handOversRequest > before.handOversRequest, 'and handed some over');
  });

  it('left no file open for the garbage collector', async () => {
    for (const serve of [front, reference]) assert.doesNotMatch(await serve.collectGarbage(), /DEP0137/);
  });
});

describe('zerocopy serve --cors: the native front answers CORS as node:http does', () => {
  const dir = tempDir({ after }, 'zerocopy-parity-cors-');
  const cleanups: Array<() => void> = [];
  after(() => {
    for (const cleanup of cleanups) cleanup();
  });
  const suite = { after: (fn: () => void) => cleanups.push(fn) };
  const pairs = new Map<string, { front: Serve; reference: Serve }>();
  const ANY = '*';
  const LIST = 'https://a.example,https://b.example';

  before(async () => {
    writeFileSync(join(dir, 'small.txt'), 'small file body\n');
    writeFileSync(join(dir, 'large.bin'), Buffer.alloc(300 * 1024, 6));
    await new Promise((resolve) => setTimeout(resolve, 1100));
    for (const cors of [ANY, LIST]) {
      const common = [dir, '--port', '0', '--log', 'off', '--cache-validity', '600000', '--cors', cors];
      const pair = {
        front: await startServe(suite, common),
        reference: await startServe(suite, [...common, '--no-native-front']),
      };
      for (const serve of [pair.front, pair.reference]) {
        for (const target of ['/small.txt', '/large.bin']) {
          for (let i = 0; i < 2; i++) {
            const client = new RawClient(serve.port);
            assert.equal((await client.exchange('GET', target)).status, 200, target);
            client.socket.destroy();
          }
        }
      }
      pairs.set(cors, pair);
    }
  });

  const request = (method: string, target: string, ...fields: string[]) =>
    `${[`${method} ${target} HTTP/1.1`, 'Host: 127.0.0.1', ...fields].join('\r\n')}\r\n\r\n`;

  /** The same bytes to both servers of a pair; they must agree. */
  async function same(t: TestContext, cors: string, bytes: string, methods: string[]) {
    const pair = pairs.get(cors)!;
    const expected = await exchange(t, pair.reference.port, bytes, methods);
    const got = await exchange(t, pair.front.port, bytes, methods);
    assert.deepEqual(got, expected, `--cors ${cors}: ${JSON.stringify(bytes)}`);
    return expected;
  }

  const CASES: Array<[string, string[]]> = [
    [request('GET', '/small.txt'), ['GET']],
    [request('HEAD', '/small.txt'), ['HEAD']],
    [request('GET', '/large.bin'), ['GET']],
    [request('GET', '/small.txt', 'Origin: https://a.example'), ['GET']],
    [request('GET', '/small.txt', 'Origin: https://evil.example'), ['GET']],
    [request('GET', '/large.bin', 'Origin: https://b.example', 'Range: bytes=0-9'), ['GET']],
    [
      request('GET', '/small.txt', 'Origin: https://a.example', 'If-Modified-Since: Sat, 01 Jan 2050 00:00:00 GMT'),
      ['GET'],
    ],
    [request('GET', '/small.txt', 'Range: bytes=2-5'), ['GET']],
    [request('GET', '/missing.txt', 'Origin: https://a.example'), ['GET']],
    [request('OPTIONS', '/small.txt', 'Origin: https://a.example', 'Access-Control-Request-Method: GET'), ['OPTIONS']],
    [request('GET', '/small.txt') + request('GET', '/small.txt', 'Origin: https://a.example'), ['GET', 'GET']],
  ];

  it("'*': the header lives in the cached head, and the front answers requests with an Origin", async (t) => {
    const before = await nativeFrontStats(t, pairs.get(ANY)!.front.port);
    for (const [bytes, methods] of CASES) {
      const outcome = await same(t, ANY, bytes, methods);
      if (!bytes.includes('missing')) {
        assert.equal(outcome.responses[0]?.headers['access-control-allow-origin'], '*', bytes);
      }
    }
    const after = await nativeFrontStats(t, pairs.get(ANY)!.front.port);
    assert.ok(after.requests - before.requests >= 6, `the front answered ${after.requests - before.requests}`);
  });

  it('an origin list: Vary: Origin everywhere; requests with an Origin go to node:http', async (t) => {
    const port = pairs.get(LIST)!.front.port;
    const before = await nativeFrontStats(t, port);
    for (const [bytes, methods] of CASES) {
      const outcome = await same(t, LIST, bytes, methods);
      // The Origin, when there is one, is on the last request.
      const first = outcome.responses.at(-1);
      if (bytes.includes('https://a.example') && first?.status !== 204 && first?.status !== 404) {
        assert.equal(first?.headers['access-control-allow-origin'], 'https://a.example', bytes);
      }
      if (bytes.includes('evil')) assert.equal(first?.headers['access-control-allow-origin'], undefined);
      if (first?.status === 200 && !bytes.includes('missing')) assert.match(first.headers.vary ?? '', /Origin/, bytes);
    }
    const after = await nativeFrontStats(t, port);
    assert.ok(after.requests > before.requests, 'requests without Origin are answered by the front');
    assert.ok(after.handOversRequest > before.handOversRequest, 'requests with one are handed over');
  });
});
