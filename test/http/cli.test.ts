// zerocopy serve as a process: startup lines, access log, status endpoint, graceful SIGTERM, workers.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';

import { cliEntry, sha256, tempDir } from '../support/fixtures.js';
import { connectOutcome, RawClient, rawRequest, startServe } from './support.js';

describe('zerocopy serve', () => {
  it('prints the kernel summary and URL, logs each request with its transfer method, reports counters', async (t) => {
    const dir = tempDir(t);
    writeFileSync(join(dir, 'index.html'), '<p>hi</p>\n');
    writeFileSync(join(dir, 'big.bin'), Buffer.alloc(512 * 1024, 3));
    const serve = await startServe(t, [dir, '--port', '0', '--log', 'json']);
    assert.match(serve.output(), /kernel: sendfile (yes|no), splice (yes|no)/);

    assert.equal((await rawRequest(t, serve.port, 'GET', '/')).body.toString(), '<p>hi</p>\n');
    assert.equal((await rawRequest(t, serve.port, 'GET', '/big.bin')).body.length, 512 * 1024);
    assert.equal((await rawRequest(t, serve.port, 'GET', '/nope')).status, 404);
    const status = await rawRequest(t, serve.port, 'GET', '/_zerocopy/status');
    const counters = JSON.parse(status.body.toString()) as {
      worker: { requests: number; byStatus: Record<string, number>; bytesByMethod: Record<string, number> };
    };
    assert.equal(counters.worker.requests, 3);
    assert.equal(counters.worker.byStatus['200'], 2);
    const totalBytes = Object.values(counters.worker.bytesByMethod).reduce((a, b) => a + b, 0);
    assert.equal(totalBytes, 512 * 1024 + 10);

    const logLines = () =>
      serve
        .output()
        .split('\n')
        .filter((line) => line.startsWith('{'));
    // A line is written once its response has finished, which can be after the client has it.
    for (let waited = 0; logLines().length < 3 && waited < 5000; waited += 50) await sleep(50);
    const lines = logLines().map(
      (line) => JSON.parse(line) as { status: number; bytes: number; transfer: string; url: string },
    );
    assert.deepEqual(
      lines.map((l) => [l.url, l.status, l.bytes]),
      [
        ['/', 200, 10],
        ['/big.bin', 200, 512 * 1024],
        ['/nope', 404, 0],
      ],
    );
    assert.ok(lines.every((l) => typeof l.transfer === 'string'));
    serve.child.kill('SIGTERM');
    assert.equal(await serve.exited, 0);
  });

  it('on SIGTERM finishes an in-flight transfer, refuses new connections, and exits', async (t) => {
    const dir = tempDir(t);
    const bytes = Buffer.alloc(32 * 1024 * 1024, 9);
    writeFileSync(join(dir, 'big.bin'), bytes);
    const serve = await startServe(t, [dir, '--port', '0', '--log', 'off', '--shutdown-timeout', '8000']);
    const client = await RawClient.open(t, serve.port);
    client.socket.pause();
    client.send(RawClient.request('GET', '/big.bin'));
    await new Promise((resolve) => setTimeout(resolve, 200));
    serve.child.kill('SIGTERM');
    await new Promise((resolve) => setTimeout(resolve, 200));
    const refused = await connectOutcome(serve.port);
    assert.equal(refused, 'ECONNREFUSED', 'no new connections once shutting down');
    client.socket.resume();
    const res = await client.readResponse(false);
    assert.equal(res.status, 200);
    assert.equal(sha256(res.body), sha256(bytes), 'the whole body arrived');
    assert.equal(await serve.exited, 0);
    assert.match(serve.errors(), /SIGTERM/);
  });

  it('--log off: cache hits are still counted; the status page answers with a query and only at its own path', async (t) => {
    const dir = tempDir(t);
    writeFileSync(join(dir, 'a.txt'), 'hello\n');
    // Changed longer ago than the racy window, so that it is cached and later requests are hits.
    await new Promise((done) => setTimeout(done, 1100));
    const serve = await startServe(t, [dir, '--port', '0', '--log', 'off']);
    for (let i = 0; i < 5; i++)
      assert.equal((await rawRequest(t, serve.port, 'GET', '/a.txt')).body.toString(), 'hello\n');
    assert.equal((await rawRequest(t, serve.port, 'HEAD', '/a.txt')).status, 200);
    const status = await rawRequest(t, serve.port, 'GET', '/_zerocopy/status?pretty=1');
    assert.equal(status.status, 200);
    const counters = JSON.parse(status.body.toString()) as {
      worker: { requests: number; byStatus: Record<string, number>; bytesByMethod: Record<string, number> };
      fileCache: { entries: number };
    };
    assert.equal(counters.worker.requests, 6);
    assert.equal(counters.worker.byStatus['200'], 6);
    assert.equal(counters.worker.bytesByMethod.memory, 5 * 6);
    assert.equal(counters.fileCache.entries, 1);
    // Only the path itself (with or without a query) is the status page.
    assert.equal((await rawRequest(t, serve.port, 'GET', '/_zerocopy/statusx')).status, 404);
    assert.equal((await rawRequest(t, serve.port, 'GET', '/_zerocopy/status/')).status, 404);
    assert.ok(!serve.output().includes('/a.txt'), 'no access log line with --log off');
  });

  it('--workers 2 serves from several processes and the status page sums them', async (t) => {
    const dir = tempDir(t);
    writeFileSync(join(dir, 'a.txt'), 'a\n');
    const serve = await startServe(t, [dir, '--port', '0', '--workers', '2', '--log', 'off']);
    for (let i = 0; i < 10; i++) assert.equal((await rawRequest(t, serve.port, 'GET', '/a.txt')).status, 200);
    await new Promise((resolve) => setTimeout(resolve, 2500));
    const status = JSON.parse((await rawRequest(t, serve.port, 'GET', '/_zerocopy/status')).body.toString()) as {
      allWorkers?: { requests: number };
      workers?: number;
    };
    assert.equal(status.allWorkers?.requests, 10);
    assert.equal(status.workers, 2);
    serve.child.kill('SIGTERM');
    assert.equal(await serve.exited, 0);
  });

  it('--cache-validity: files are answered from memory by default, and 0 turns that off', async (t) => {
    const dir = tempDir(t);
    writeFileSync(join(dir, 'a.txt'), 'first\n');
    // Files younger than a second are never cached (their ctime could still hide a write).
    await new Promise((resolve) => setTimeout(resolve, 1100));
    const cached = await startServe(t, [dir, '--port', '0', '--log', 'json', '--cache-validity', '300']);
    const off = await startServe(t, [dir, '--port', '0', '--log', 'json', '--cache-validity', '0']);
    for (const serve of [cached, off]) {
      for (let i = 0; i < 3; i++) assert.equal((await rawRequest(t, serve.port, 'GET', '/a.txt')).status, 200);
    }
    await new Promise((resolve) => setTimeout(resolve, 200)); // the log lines reach us asynchronously
    const transfers = (serve: typeof cached) =>
      serve
        .output()
        .split('\n')
        .filter((line) => line.startsWith('{'))
        .map((line) => (JSON.parse(line) as { transfer: string }).transfer);
    assert.deepEqual(transfers(cached), ['memory', 'memory', 'memory']);
    assert.deepEqual(transfers(off), ['write', 'write', 'write']);
    const status = (port: number) =>
      rawRequest(t, port, 'GET', '/_zerocopy/status').then(
        (res) => JSON.parse(res.body.toString()) as { fileCache: { enabled: boolean; entries?: number } },
      );
    assert.deepEqual((await status(cached.port)).fileCache, { enabled: true, validityMs: 300, entries: 1, bytes: 6 });
    assert.deepEqual((await status(off.port)).fileCache, { enabled: false });
    writeFileSync(join(dir, 'a.txt'), 'second, longer\n');
    assert.equal((await rawRequest(t, off.port, 'GET', '/a.txt')).body.toString(), 'second, longer\n');
    await new Promise((resolve) => setTimeout(resolve, 350));
    assert.equal((await rawRequest(t, cached.port, 'GET', '/a.txt')).body.toString(), 'second, longer\n');
    for (const serve of [cached, off]) {
      serve.child.kill('SIGTERM');
      assert.equal(await serve.exited, 0);
    }
  });

  it('--no-fast-path, the older name of --no-native-front, still answers everything in JavaScript', async (t) => {
    const dir = tempDir(t);
    writeFileSync(join(dir, 'a.txt'), 'hello\n');
    // Old enough to be cached, so that the native front would answer it if it ran.
    await new Promise((done) => setTimeout(done, 1100));
    const frontOf = async (port: number) =>
      (
        JSON.parse((await rawRequest(t, port, 'GET', '/_zerocopy/status')).body.toString()) as {
          nativeFront: { enabled: boolean; requests?: number };
        }
      ).nativeFront;
    const withFront = await startServe(t, [dir, '--port', '0', '--log', 'off']);
    for (const flag of ['--no-fast-path', '--no-native-front']) {
      const serve = await startServe(t, [dir, '--port', '0', '--log', 'off', flag]);
      for (let i = 0; i < 3; i++) {
        const expected = await rawRequest(t, withFront.port, 'GET', '/a.txt');
        const got = await rawRequest(t, serve.port, 'GET', '/a.txt');
        assert.equal(got.status, 200, flag);
        assert.equal(got.body.toString(), 'hello\n', flag);
        assert.equal(got.headers.etag, expected.headers.etag, flag);
      }
      assert.deepEqual(await frontOf(serve.port), { enabled: false }, flag);
    }
    // The same requests without the flag: the native front is on and answers them.
    const front = await frontOf(withFront.port);
    assert.equal(front.enabled, true);
    assert.ok((front.requests ?? 0) >= 4, `native answers: ${front.requests}`);
  });

  it('rejects bad arguments with a message', async () => {
    const child = spawn(process.execPath, [cliEntry, 'serve', '/definitely/not/here'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    const code = await new Promise((resolve) => child.once('exit', resolve));
    assert.equal(code, 1);
    assert.match(stderr, /not a directory/);
  });
});
