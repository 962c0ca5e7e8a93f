// The native front's engines, epoll and io_uring: the front's tests again on io_uring (the
// differential ones prove the same bytes, heads and connection fate as node:http, so as each
// other), descriptors after many connections on each engine, and the fall-back to epoll where
// io_uring is refused (a seccomp filter in a child process; the sysctl is global).
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';

import { frontRingUnavailable } from '../../src/http/front-engine.js';
import { createNativeFront, nativeFrontAvailable, serveStatic } from '../../src/index.js';
import { rawRequest, SERVER_NODE_FLAGS } from './support.js';

const here = dirname(fileURLToPath(import.meta.url));
const ringUnavailable = nativeFrontAvailable() ? frontRingUnavailable() : 'no native front here';

/** The tests of the native front, run again with ZEROCOPY_TEST_FRONT_ENGINE=io_uring. */
const FRONT_TESTS = [
  'serve-native-front-parity',
  'serve-native-front',
  'front-limits',
  'front-cache',
  'native-front',
  'timeouts',
  'file-handle-leaks',
];

const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');

function site(t: TestContext): { dir: string; body: Buffer } {
  const dir = mkdtempSync(join(tmpdir(), 'zc-engines-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const body = Buffer.alloc(4096);
  for (let i = 0; i < body.length; i++) body[i] = (i * 131 + 7) & 0xff;
  writeFileSync(join(dir, 'a.bin'), body);
  return { dir, body };
}

const openDescriptors = () => readdirSync('/proc/self/fd').length;

/**
 * One connection: `requests` GETs of /a.bin pipelined (the last with Connection: close unless
 * `clientCloses`, where the client ends the connection after reading them). Resolves to the
 * bodies' hashes as the responses framed them.
 */
function exchange(port: number, requests: number, clientCloses: boolean): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    let head = '';
    for (let i = 0; i < requests; i++) {
      const last = i === requests - 1 && !clientCloses;
      head += `GET /a.bin HTTP/1.1\r\nHost: x\r\n${last ? 'Connection: close\r\n' : ''}\r\n`;
    }
    socket.write(head);
    const chunks: Buffer[] = [];
    const hashes: string[] = [];
    socket.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      let all = Buffer.concat(chunks);
      for (;;) {
        const end = all.indexOf('\r\n\r\n');
        if (end < 0) break;
        const length = Number(/content-length: (\d+)/i.exec(all.subarray(0, end).toString('latin1'))?.[1]);
        if (all.length < end + 4 + length) break;
        assert.match(all.subarray(0, 12).toString('latin1'), /^HTTP\/1\.1 200/);
        hashes.push(sha256(all.subarray(end + 4, end + 4 + length)));
        all = all.subarray(end + 4 + length);
      }
      chunks.length = 0;
      if (all.length > 0) chunks.push(all);
      if (clientCloses && hashes.length === requests) socket.end();
    });
    socket.on('error', reject);
    socket.on('close', () => resolve(hashes));
  });
}

describe('the io_uring engine', { skip: ringUnavailable }, () => {
  it('passes the native front tests, differential ones included', { timeout: 900_000 }, async () => {
    const files = FRONT_TESTS.map((name) => join(here, `${name}.test.js`));
    // As `npm test` runs them; NODE_TEST_CONTEXT would make the child a part of this run.
    const { NODE_TEST_CONTEXT: _, ...env } = process.env;
    const leakCheck = join(here, '..', 'support', 'file-handle-leaks.js');
    const child = spawn(process.execPath, ['--import', leakCheck, '--test', '--test-reporter=tap', ...files], {
      env: { ...env, ZEROCOPY_TEST_FRONT_ENGINE: 'io_uring' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    child.stderr.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    const code = await new Promise<number | null>((resolve) => child.once('close', resolve));
    const count = (name: string) => Number(new RegExp(`^# ${name} (\\d+)$`, 'm').exec(output)?.[1]);
    assert.equal(count('fail'), 0, output.slice(-4000));
    assert.ok(count('pass') >= 50, `too few front tests ran: ${count('pass')}`);
    assert.equal(code, 0, output.slice(-4000));
  });
});

describe('descriptors after 10,000 connections', { skip: !nativeFrontAvailable() && 'no native front here' }, () => {
  for (const engine of ['epoll', 'io_uring'] as const) {
    it(`on ${engine}: every connection's descriptors closed, every body whole`, { timeout: 300_000 }, async (t) => {
      if (engine === 'io_uring' && ringUnavailable !== undefined) {
        t.skip(ringUnavailable);
        return;
      }
      const { dir, body } = site(t);
      const files = serveStatic(dir);
      const server = createServer(files);
      const front = createNativeFront(server, files, { engine });
      assert.equal(front.engine.engine, engine);
      const { port } = await front.listen(0, '127.0.0.1');
      t.after(() => {
        front.close();
        server.close();
      });
      // Warm: the answer is cached (and its descriptors open) before counting.
      assert.equal(sha256((await rawRequest(t, port, 'GET', '/a.bin')).body), sha256(body));
      const before = openDescriptors();
      const total = 10_000;
      const parallel = 32;
      let started = 0;
      let bodies = 0;
      const expected = sha256(body);
      const worker = async () => {
        while (started < total) {
          const i = started++;
          // Server closes (Connection: close), or the client does after two pipelined answers.
          const hashes = i % 3 === 0 ? await exchange(port, 2, true) : await exchange(port, 1, false);
          assert.equal(hashes.length, i % 3 === 0 ? 2 : 1);
          for (const hash of hashes) assert.equal(hash, expected);
          bodies += hashes.length;
        }
      };
      await Promise.all(Array.from({ length: parallel }, worker));
      assert.ok(bodies >= total);
      // Bounded wait for the last closes to reach both sides.
      for (let i = 0; i < 100 && (front.stats().connectionsOpen > 0 || openDescriptors() > before); i++)
        await new Promise((resolve) => setTimeout(resolve, 50));
      assert.equal(front.stats().connectionsOpen, 0);
      assert.ok(front.stats().connectionsAdopted >= total);
      assert.ok(openDescriptors() <= before, `${openDescriptors()} descriptors open, ${before} before`);
    });
  }
});

// A seccomp filter that answers io_uring_setup (425 on x86-64) with EPERM, then runs argv[1:].
const SECCOMP_EXEC = `
import ctypes, os, struct, sys
libc = ctypes.CDLL(None, use_errno=True)
def ins(code, jt, jf, k): return struct.pack('HBBI', code, jt, jf, k)
ALLOW, EPERM = 0x7fff0000, 0x00050000 | 1
prog = (ins(0x20, 0, 0, 4) + ins(0x15, 1, 0, 0xc000003e) + ins(0x06, 0, 0, ALLOW) +
        ins(0x20, 0, 0, 0) + ins(0x15, 0, 1, 425) + ins(0x06, 0, 0, EPERM) + ins(0x06, 0, 0, ALLOW))
buf = ctypes.create_string_buffer(prog)
class Prog(ctypes.Structure): _fields_ = [('len', ctypes.c_ushort), ('filter', ctypes.c_void_p)]
p = Prog(len(prog) // 8, ctypes.addressof(buf))
if libc.prctl(38, 1, 0, 0, 0) != 0 or libc.prctl(22, 2, ctypes.byref(p), 0, 0) != 0:
    sys.exit('seccomp: ' + os.strerror(ctypes.get_errno()))
os.execv(sys.argv[1], sys.argv[1:])
`;

describe('io_uring refused', { skip: !nativeFrontAvailable() && 'no native front here' }, () => {
  it('serve --engine io_uring runs on epoll and says why', { timeout: 60_000 }, async (t) => {
    if (process.arch !== 'x64') {
      t.skip('the seccomp filter here numbers system calls for x86-64');
      return;
    }
    if (spawnSync('python3', ['-c', 'import ctypes']).status !== 0) {
      t.skip('python3 with ctypes installs the seccomp filter');
      return;
    }
    const { dir, body } = site(t);
    const cli = join(here, '..', '..', 'src', 'cli', 'main.js');
    const child = spawn(
      'python3',
      [
        '-c',
        SECCOMP_EXEC,
        process.execPath,
        ...SERVER_NODE_FLAGS,
        cli,
        'serve',
        dir,
        '--port',
        '0',
        '--log',
        'off',
        '--engine',
        'io_uring',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    t.after(() => child.kill('SIGKILL'));
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
    });
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    let port: number | undefined;
    for (let i = 0; i < 500 && port === undefined && child.exitCode === null; i++) {
      const match = /http:\/\/127\.0\.0\.1:(\d+)\//.exec(stdout);
      if (match) port = Number(match[1]);
      else await new Promise((resolve) => setTimeout(resolve, 20));
    }
    assert.ok(port !== undefined, `serve did not start: ${stdout}${stderr}`);
    assert.match(stderr, /--engine io_uring: using epoll: io_uring_setup: EPERM/);
    const answer = await rawRequest(t, port, 'GET', '/a.bin');
    assert.equal(sha256(answer.body), sha256(body));
    const status = JSON.parse((await rawRequest(t, port, 'GET', '/_zerocopy/status')).body.toString()) as {
      nativeFront: { engine: { engine: string; fallback?: string }; requests: number };
    };
    assert.equal(status.nativeFront.engine.engine, 'epoll');
    assert.match(status.nativeFront.engine.fallback ?? '', /EPERM/);
  });

  it('doctor says the front would run on epoll, and why', { timeout: 60_000 }, (t) => {
    if (process.arch !== 'x64' || spawnSync('python3', ['-c', 'import ctypes']).status !== 0) {
      t.skip('needs python3 with ctypes on x86-64 for the seccomp filter');
      return;
    }
    const cli = join(here, '..', '..', 'src', 'cli', 'main.js');
    const run = spawnSync('python3', ['-c', SECCOMP_EXEC, process.execPath, cli, 'doctor'], { encoding: 'utf8' });
    assert.equal(run.status, 0, run.stderr);
    assert.match(run.stdout, /^native front engine +no +epoll: io_uring_setup: EPERM/m);
  });
});
