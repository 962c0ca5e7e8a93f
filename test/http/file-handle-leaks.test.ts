// Every file `zerocopy serve` opens is closed by the path that opened it, whatever the client
// does: a FileHandle left to the garbage collector (DEP0137) held its descriptor for as long
// as the collector took to come by, and such leaks pile up under load. The servers here are
// made to collect their garbage after the traffic, so a forgotten FileHandle shows at once.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';

import { FILE_HANDLE_LEAK } from '../support/file-handle-leaks.js';
import { tempDir } from '../support/fixtures.js';
import { collectGarbageIn, RawClient, rawRequest, SERVER_NODE_FLAGS, startServe } from './support.js';

type Serve = Awaited<ReturnType<typeof startServe>>;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Lines of a server's stderr that say a FileHandle was closed by the garbage collector. */
function leaks(stderr: string): string[] {
  return stderr.split('\n').filter((line) => line.includes(FILE_HANDLE_LEAK) || line.includes('on garbage collection'));
}

describe('zerocopy serve closes every file it opens', () => {
  const dir = tempDir({ after }, 'zerocopy-leaks-');
  // Larger than the file cache takes: every request opens the file.
  const large = Buffer.alloc(3 * 1024 * 1024 + 5, 7);
  const cleanups: Array<() => void> = [];
  after(() => {
    for (const cleanup of cleanups) cleanup();
  });
  const suite = { after: (fn: () => void) => cleanups.push(fn) };
  const servers: Array<{ name: string; serve: Serve }> = [];

  before(async () => {
    writeFileSync(join(dir, 'large.bin'), large);
    writeFileSync(join(dir, 'small.txt'), 'small\n');
    writeFileSync(join(dir, 'small.txt.gz'), 'not really gzip\n');
    writeFileSync(join(dir, 'index.html'), '<p>index</p>\n');
    // Files changed within the last second are never cached.
    await sleep(1100);
    servers.push({ name: 'native front', serve: await startServe(suite, [dir, '--port', '0', '--log', 'off']) });
    servers.push({
      name: 'node:http',
      serve: await startServe(suite, [dir, '--port', '0', '--log', 'off', '--no-native-front']),
    });
  });

  it('sees a FileHandle left to the collector (the check itself can fail)', async () => {
    // A process with the servers' flags that drops an open FileHandle on purpose.
    const script = `
      const { open } = await import('node:fs/promises');
      const forget = async () => (await open(${JSON.stringify(join(dir, 'small.txt'))})).fd;
      await forget();
      process.stdout.write('ready\\n');
      setInterval(() => {}, 1000);
    `;
    const child = spawn(process.execPath, [...SERVER_NODE_FLAGS, '--input-type=module', '-e', script], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
    });
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    try {
      while (!stdout.includes('ready')) {
        assert.equal(child.exitCode, null, stderr);
        await sleep(20);
      }
      assert.notDeepEqual(leaks(await collectGarbageIn(child, () => stderr)), []);
    } finally {
      child.kill('SIGKILL');
    }
  });

  it('when the client goes away while pipelined responses of a large file wait their turn', async (t) => {
    for (const { name, serve } of servers) {
      for (let round = 0; round < 12; round++) {
        const client = await RawClient.open(t, serve.port);
        // If-Match sends the requests to node:http in both modes; the second and third
        // responses wait for the first, which waits for a client that never reads.
        const request = RawClient.request('GET', '/large.bin', { 'If-Match': '*' });
        client.send(request + request + request);
        await client.headArrived();
        client.socket.destroy();
      }
      // One more exchange on a new connection: the server has seen the others go.
      assert.equal((await rawRequest(t, serve.port, 'GET', '/small.txt')).status, 200, name);
      assert.deepEqual(leaks(await serve.collectGarbage()), [], name);
    }
  });

  it('on errors, HEAD, 304, 412, 416, ranges, redirects and bodies cut short', async (t) => {
    const cases: Array<{ method: string; target: string; headers?: Record<string, string> }> = [
      { method: 'GET', target: '/large.bin' },
      { method: 'HEAD', target: '/large.bin' },
      { method: 'GET', target: '/large.bin', headers: { 'If-None-Match': '*' } },
      { method: 'GET', target: '/large.bin', headers: { 'If-Match': '"nope"' } },
      { method: 'GET', target: '/large.bin', headers: { Range: 'bytes=99999999-' } },
      { method: 'GET', target: '/large.bin', headers: { Range: 'bytes=0-9,100-199' } },
      { method: 'GET', target: '/large.bin', headers: { Range: 'bytes=5-' } },
      { method: 'GET', target: '/large.bin/' },
      { method: 'GET', target: '/small.txt', headers: { 'Accept-Encoding': 'gzip' } },
      { method: 'HEAD', target: '/small.txt', headers: { 'If-Modified-Since': 'Sat, 01 Jan 2050 00:00:00 GMT' } },
      { method: 'GET', target: '/missing.txt' },
      { method: 'GET', target: '/' },
      { method: 'POST', target: '/large.bin' },
    ];
    for (const { name, serve } of servers) {
      for (const { method, target, headers } of cases) {
        // Read to the end, then cut short after the head, then gone before the head.
        const whole = await rawRequest(t, serve.port, method, target, headers);
        assert.ok(whole.status >= 200, `${name} ${method} ${target}`);
        const cut = await RawClient.open(t, serve.port);
        cut.send(RawClient.request(method, target, headers));
        await cut.headArrived();
        cut.socket.destroy();
        const gone = await RawClient.open(t, serve.port);
        gone.send(RawClient.request(method, target, headers));
        gone.socket.destroy();
      }
      assert.equal((await rawRequest(t, serve.port, 'GET', '/small.txt')).status, 200, name);
      assert.deepEqual(leaks(await serve.collectGarbage()), [], name);
    }
  });
});
