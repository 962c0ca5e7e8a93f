// Files that change under us, clients that leave, and a real client (curl) for big files.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { promisify } from 'node:util';

import { type SendResult, serveStatic } from '../../src/http/index.js';
import { openDescriptorCount, requireTool, sha256, tempDir } from '../support/fixtures.js';
import { listen, RawClient, rawRequest } from './support.js';

const run = promisify(execFile);
const BIG = 64 * 1024 * 1024;

function waitFor<T>(values: T[], count: number, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  return new Promise((resolve, reject) => {
    const check = () => {
      if (values.length >= count) resolve();
      else if (Date.now() > deadline) reject(new Error(`waited for ${count} results, have ${values.length}`));
      else setTimeout(check, 10);
    };
    check();
  });
}

describe('a file truncated while it is sent', () => {
  it('aborts that connection (never a short body then the next response) and keeps serving', async (t) => {
    const root = tempDir(t);
    const path = join(root, 'shrinks.bin');
    writeFileSync(path, Buffer.alloc(BIG, 7));
    writeFileSync(join(root, 'ok.txt'), 'ok\n');
    const results: SendResult[] = [];
    const { port } = await listen(t, serveStatic(root, { onResponse: (r) => results.push(r) }));

    const client = await RawClient.open(t, port);
    client.socket.pause(); // let the server fill the socket buffers and wait on backpressure
    client.send(RawClient.request('GET', '/shrinks.bin') + RawClient.request('GET', '/ok.txt'));
    await new Promise((resolve) => setTimeout(resolve, 200));
    truncateSync(path, 1024 * 1024);
    client.socket.resume();
    const { bytes: received, statusLines } = await client.untilClosed();
    assert.ok(received < BIG, `received ${received} of ${BIG}: the connection must end early`);
    // Node may run the pipelined request's handler early, but its answer must never reach the wire.
    assert.ok(statusLines <= 1, 'no second response after the short body');
    await waitFor(results, 1);
    const shrunk = results.find((r) => r.path?.endsWith('shrinks.bin'));
    assert.equal(shrunk?.error?.code, 'ERR_ZEROCOPY_SOURCE_TRUNCATED', JSON.stringify(results));
    assert.equal((await rawRequest(t, port, 'GET', '/ok.txt')).body.toString(), 'ok\n');
  });
});

describe('a client that leaves mid-body', () => {
  it('ends the transfer, leaks no descriptor, and the server keeps serving', async (t) => {
    const root = tempDir(t);
    writeFileSync(join(root, 'big.bin'), Buffer.alloc(BIG, 1));
    writeFileSync(join(root, 'ok.txt'), 'ok\n');
    const results: SendResult[] = [];
    const { port } = await listen(t, serveStatic(root, { onResponse: (r) => results.push(r) }));
    // Warm up so that lazily opened descriptors (thread pool, epoll) do not count as leaks.
    await rawRequest(t, port, 'GET', '/ok.txt');
    await new Promise((resolve) => setTimeout(resolve, 50));
    const before = openDescriptorCount();

    for (let i = 0; i < 5; i++) {
      const client = await RawClient.open(t, port);
      client.send(RawClient.request('GET', '/big.bin'));
      await new Promise<void>((resolve) => client.socket.once('data', () => resolve()));
      client.socket.destroy();
    }
    const deadline = Date.now() + 5000;
    while (results.filter((r) => r.error !== undefined).length < 5 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    assert.equal(results.filter((r) => r.error !== undefined).length, 5, 'each abort was noticed');
    await new Promise((resolve) => setTimeout(resolve, 100));
    assert.ok(openDescriptorCount() <= before, `descriptors: ${before} before, ${openDescriptorCount()} after`);
    assert.equal((await rawRequest(t, port, 'GET', '/ok.txt')).status, 200);
  });
});

describe('curl as a real client', () => {
  it('downloads a large file, single ranges and a suffix range with the right hashes', async (t) => {
    if (!(await requireTool(t, 'curl', ['--version'], 'it is the real client here'))) return;
    const root = tempDir(t);
    const bytes = randomBytes(24 * 1024 * 1024 + 123);
    writeFileSync(join(root, 'random.bin'), bytes);
    const { port } = await listen(t, serveStatic(root));
    const url = `http://127.0.0.1:${port}/random.bin`;
    const out = tempDir(t);
    const cases: Array<[string[], Buffer]> = [
      [[], bytes],
      [['-r', '0-1048575'], bytes.subarray(0, 1048576)],
      [['-r', '5000000-'], bytes.subarray(5000000)],
      [['-r', '-777'], bytes.subarray(bytes.length - 777)],
      [['-r', '12345-23456789'], bytes.subarray(12345, 23456790)],
    ];
    for (const [index, [args, expected]] of cases.entries()) {
      const file = join(out, `out-${index}`);
      const { stdout } = await run('curl', [
        '-sS',
        '--fail',
        '-o',
        file,
        '-w',
        '%{http_code} %{size_download}',
        ...args,
        url,
      ]);
      const [code, size] = stdout.split(' ');
      assert.equal(code, args.length === 0 ? '200' : '206', args.join(' '));
      assert.equal(Number(size), expected.length);
      assert.equal(sha256(readFileSync(file)), sha256(expected), `hash of ${args.join(' ') || 'whole file'}`);
    }
  });

  it('reuses one keep-alive connection across GET, a range, HEAD and multipart', async (t) => {
    if (!(await requireTool(t, 'curl', ['--version'], 'it is the real client here'))) return;
    const root = tempDir(t);
    writeFileSync(join(root, 'a.txt'), 'a'.repeat(100_000));
    const { port } = await listen(t, serveStatic(root));
    const url = `http://127.0.0.1:${port}/a.txt`;
    const each = ['-sS', '-o', '/dev/null', '-w', '%{http_code} %{num_connects} %{size_download}\n'];
    const { stdout } = await run('curl', [
      ...[...each, url],
      ...['--next', ...each, '-r', '0-9', url],
      ...['--next', ...each, '-I', url],
      ...['--next', ...each, '-r', '0-1,5-6', url],
      ...['--next', ...each, url],
    ]);
    const lines = stdout.trim().split('\n');
    // num_connects 0: the connection was reused, so every earlier answer was framed exactly.
    assert.deepEqual(lines.slice(0, 4), ['200 1 100000', '206 0 10', '200 0 0', lines[3]]);
    assert.match(lines[3] ?? '', /^206 0 \d+$/);
    assert.equal(lines[4], '200 0 100000');
  });
});
