// A real HAProxy in front of two `zerocopy serve` instances: every response's bytes verified
// while one instance drains on SIGTERM mid-load, then comes back and is used again.
import assert from 'node:assert/strict';
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { Agent, get } from 'node:http';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';

import { sha256, tempDir } from '../support/fixtures.js';
import { startServe } from './support.js';

const REQUESTS = 2000;
const CONCURRENCY = 8;
/** Which response's arrival sends SIGTERM to instance "a". */
const STOP_AFTER = 500;
const SIZES = [1024, 64 * 1024, 1024 * 1024, 4 * 1024 * 1024];

function haproxyPresent(): boolean {
  try {
    execFileSync('haproxy', ['-v'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/**
 * What an operator would write: health checks on the status page, and a request that meets a
 * closed or closing backend tried again elsewhere (retries + redispatch; GETs are idempotent).
 */
function haproxyConfig(frontPort: number, a: number, b: number): string {
  return `global
  maxconn 256

defaults
  mode http
  timeout connect 2s
  timeout client 30s
  timeout server 30s
  retries 3
  option redispatch
  retry-on conn-failure empty-response response-timeout

frontend web
  bind 127.0.0.1:${frontPort}
  default_backend zerocopy

backend zerocopy
  balance roundrobin
  option httpchk GET /_zerocopy/status
  http-check expect status 200
  default-server inter 200ms fall 2 rise 2
  http-response set-header X-Backend %[srv_name]
  server a 127.0.0.1:${a} check
  server b 127.0.0.1:${b} check
`;
}

interface Fetched {
  status: number;
  backend: string;
  body: Buffer;
}

function fetchVia(agent: Agent, port: number, path: string): Promise<Fetched> {
  return new Promise((resolve, reject) => {
    const request = get({ host: '127.0.0.1', port, path, agent, timeout: 20_000 }, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.once('end', () =>
        resolve({
          status: response.statusCode ?? 0,
          backend: String(response.headers['x-backend'] ?? ''),
          body: Buffer.concat(chunks),
        }),
      );
      response.once('error', reject);
    });
    request.once('timeout', () => request.destroy(new Error(`no answer for ${path} in 20 s`)));
    request.once('error', reject);
  });
}

async function startHaproxy(t: TestContext, config: string, port: number): Promise<ChildProcess> {
  const dir = tempDir(t, 'zerocopy-haproxy-');
  const file = join(dir, 'haproxy.cfg');
  writeFileSync(file, config);
  // -db: in the foreground, no daemon, so the test owns the process and stops it by its pid.
  const child = spawn('haproxy', ['-db', '-f', file], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  t.after(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  const deadline = Date.now() + 10_000;
  for (;;) {
    const up = await new Promise<boolean>((resolve) => {
      const probe = createServer();
      probe.once('error', () => resolve(true)); // taken: HAProxy listens
      probe.listen(port, '127.0.0.1', () => probe.close(() => resolve(false)));
    });
    if (up) return child;
    if (child.exitCode !== null || Date.now() > deadline) throw new Error(`haproxy did not start: ${output}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describe('behind HAProxy', () => {
  it('every response whole while one instance drains on SIGTERM, and used again once restarted', async (t) => {
    if (!haproxyPresent()) {
      if (process.env.CI) assert.fail('haproxy is not installed, and CI must run this test (.ci/run installs it)');
      t.skip('haproxy is not installed (Debian: apt-get install haproxy)');
      return;
    }
    const dir = tempDir(t);
    const files = SIZES.map((size) => {
      const bytes = randomBytes(size);
      const name = `f${size}.bin`;
      writeFileSync(join(dir, name), bytes);
      return { path: `/${name}`, size, hash: sha256(bytes) };
    });
    const serveArgs = (port: number) => [dir, '--port', String(port), '--log', 'off', '--shutdown-timeout', '8000'];
    let a = await startServe(t, serveArgs(0));
    const b = await startServe(t, serveArgs(0));
    const aPort = a.port;
    const frontPort = await freePort();
    const haproxy = await startHaproxy(t, haproxyConfig(frontPort, aPort, b.port), frontPort);
    const agent = new Agent({ keepAlive: true, maxSockets: CONCURRENCY });
    t.after(() => agent.destroy());

    const byBackend = new Map<string, number>();
    const check = async (index: number) => {
      const file = files[index % files.length]!;
      const response = await fetchVia(agent, frontPort, file.path);
      assert.equal(response.status, 200, `request ${index} (${file.path})`);
      assert.equal(response.body.length, file.size, `request ${index} (${file.path}): length`);
      assert.equal(sha256(response.body), file.hash, `request ${index} (${file.path}): bytes`);
      byBackend.set(response.backend, (byBackend.get(response.backend) ?? 0) + 1);
      return response.backend;
    };

    let next = 0;
    let done = 0;
    let stopped: Promise<number | null> | undefined;
    const loop = async () => {
      while (next < REQUESTS) {
        await check(next++);
        if (++done === STOP_AFTER) {
          // Mid-load: "a" stops accepting and finishes what it has; HAProxy must move on.
          a.child.kill('SIGTERM');
          stopped = a.exited;
        }
      }
    };
    await Promise.all(Array.from({ length: CONCURRENCY }, loop));
    assert.equal(done, REQUESTS);
    assert.ok(stopped !== undefined);
    assert.equal(await stopped, 0, 'the stopped instance drained and exited cleanly');
    // Drained by itself: the deadline's hard close of what is left was not needed.
    assert.doesNotMatch(a.errors(), /deadline reached/);
    assert.ok((byBackend.get('a') ?? 0) > 0 && (byBackend.get('b') ?? 0) > 0, JSON.stringify([...byBackend]));
    t.diagnostic(`served during the load: ${JSON.stringify(Object.fromEntries(byBackend))}`);

    // Back on its port: the health checks see it (rise 2 x 200 ms) and HAProxy sends it requests again.
    a = await startServe(t, serveArgs(aPort));
    let seen = 0;
    for (let i = 0; i < 400 && seen < 10; i++) {
      if ((await check(i)) === 'a') seen++;
      else await new Promise((resolve) => setTimeout(resolve, 20));
    }
    assert.equal(seen, 10, 'the restarted instance answers again through HAProxy');

    haproxy.kill('SIGTERM');
    a.child.kill('SIGTERM');
    b.child.kill('SIGTERM');
    assert.equal(await a.exited, 0);
    assert.equal(await b.exited, 0);
  });
});
