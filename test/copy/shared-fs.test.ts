// transfer(), `zerocopy cp` and `zerocopy serve` on the file systems containers and shared
// storage put under a server: overlayfs (Docker's) and FUSE (bindfs), mounted here as root.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';

import { transfer } from '../../src/transfer/index.js';
import { rawRequest, startServe } from '../http/support.js';
import { cliEntry, collect, MiB, randomFile, runNode, sha256 } from '../support/fixtures.js';

interface Mounted {
  /** Where the file system is mounted; `data.bin` is in it. */
  dir: string;
  /** A directory on the file system the temp directory is on (not the mount). */
  outside: string;
  hash: string;
  size: number;
}

const SIZE = 3 * MiB + 123;

function tryRun(command: string, args: string[]): string | undefined {
  try {
    execFileSync(command, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    return undefined;
  } catch (error) {
    const stderr = (error as { stderr?: Buffer }).stderr?.toString().trim();
    return stderr || (error as Error).message;
  }
}

/** Mounts the file system `kind` in a temp directory, unmounted when the test ends; undefined (skipped) if it cannot. */
function mount(t: TestContext, kind: 'overlay' | 'fuse'): Mounted | undefined {
  if (process.getuid?.() !== 0) {
    t.skip(`mounting ${kind} needs root`);
    return undefined;
  }
  // One hook unmounts, then removes: node:test runs after() hooks in the order they were added,
  // and a removal that reached into a live mount would delete through it.
  const base = mkdtempSync(join(tmpdir(), `zerocopy-${kind}-`));
  const dir = join(base, 'mnt');
  let mounted = false;
  t.after(() => {
    if (mounted) {
      const left = kind === 'fuse' ? tryRun('fusermount3', ['-u', dir]) : tryRun('umount', [dir]);
      if (left !== undefined && tryRun('umount', ['-l', dir]) !== undefined) return; // never rm a live mount
    }
    rmSync(base, { recursive: true, force: true });
  });
  const outside = join(base, 'outside');
  const source = join(base, kind === 'overlay' ? 'lower' : 'source');
  for (const each of [outside, dir, source]) mkdirSync(each);
  // The file is written before the mount: on overlay it is in the read-only lower layer.
  const { path, bytes } = randomFile(t, SIZE);
  execFileSync('cp', [path, join(source, 'data.bin')]);
  let failed: string | undefined;
  if (kind === 'overlay') {
    mkdirSync(join(base, 'upper'));
    mkdirSync(join(base, 'work'));
    failed = tryRun('mount', [
      '-t',
      'overlay',
      'overlay',
      '-o',
      `lowerdir=${source},upperdir=${join(base, 'upper')},workdir=${join(base, 'work')}`,
      dir,
    ]);
  } else {
    failed = tryRun('bindfs', [source, dir]);
  }
  if (failed !== undefined) {
    t.skip(`cannot mount ${kind} here (${kind === 'fuse' ? 'bindfs: ' : ''}${failed.split('\n')[0]})`);
    return undefined;
  }
  mounted = true;
  return { dir, outside, hash: sha256(bytes), size: SIZE };
}

function assertFile(path: string, fs: Mounted): void {
  const copied = readFileSync(path);
  assert.equal(copied.length, fs.size, path);
  assert.equal(sha256(copied), fs.hash, path);
}

for (const kind of ['overlay', 'fuse'] as const) {
  describe(`on ${kind === 'overlay' ? 'overlayfs' : 'FUSE (bindfs)'}`, () => {
    it('transfer(): within it by copy_file_range, across mounts by a copy, to a socket by sendfile', async (t) => {
      const fs = mount(t, kind);
      if (fs === undefined) return;
      const within = await transfer(join(fs.dir, 'data.bin'), join(fs.dir, 'copy.bin'));
      assertFile(join(fs.dir, 'copy.bin'), fs);
      assert.equal(within.method, 'copy_file_range');

      // copy_file_range between different file systems is EXDEV (Linux 5.19+): a copy, said so.
      const out = await transfer(join(fs.dir, 'data.bin'), join(fs.outside, 'out.bin'));
      assertFile(join(fs.outside, 'out.bin'), fs);
      const back = await transfer(join(fs.outside, 'out.bin'), join(fs.dir, 'back.bin'));
      assertFile(join(fs.dir, 'back.bin'), fs);
      for (const report of [out, back]) {
        assert.equal(report.bytes, fs.size);
        if (report.method === 'copy') assert.ok(report.fallback !== undefined, 'a copy says why');
      }

      const server = createServer();
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      t.after(() => server.close());
      const received = new Promise<Buffer>((resolve) =>
        server.once('connection', (socket) => resolve(collect(socket))),
      );
      const client = connect((server.address() as { port: number }).port, '127.0.0.1');
      await new Promise((resolve) => client.once('connect', resolve));
      const sent = await transfer(join(fs.dir, 'data.bin'), client);
      client.end();
      const bytes = await received;
      assert.equal(bytes.length, fs.size);
      assert.equal(sha256(bytes), fs.hash);
      assert.equal(sent.method, 'sendfile');
      t.diagnostic(
        `${kind}: within ${within.method}; out ${out.method}${out.fallback ? ` (${out.fallback.reason})` : ''}; ` +
          `in ${back.method}; to a socket ${sent.method}`,
      );
    });

    it('zerocopy cp: within it and out of it', async (t) => {
      const fs = mount(t, kind);
      if (fs === undefined) return;
      for (const destination of [join(fs.dir, 'cp.bin'), join(fs.outside, 'cp.bin')]) {
        const result = await runNode([cliEntry, 'cp', '-v', join(fs.dir, 'data.bin'), destination]);
        assert.equal(result.code, 0, result.stderr);
        assertFile(destination, fs);
        t.diagnostic(result.stdout.split('\n')[0] ?? '');
      }
    });

    it('zerocopy serve: whole files and ranges from it', async (t) => {
      const fs = mount(t, kind);
      if (fs === undefined) return;
      const serve = await startServe(t, [fs.dir, '--port', '0', '--log', 'json']);
      const whole = await rawRequest(t, serve.port, 'GET', '/data.bin');
      assert.equal(whole.status, 200);
      assert.equal(whole.body.length, fs.size);
      assert.equal(sha256(whole.body), fs.hash);
      const range = await rawRequest(t, serve.port, 'GET', '/data.bin', { Range: 'bytes=1000-1048575' });
      assert.equal(range.status, 206);
      assert.equal(sha256(range.body), sha256(readFileSync(join(fs.dir, 'data.bin')).subarray(1000, 1048576)));
      serve.child.kill('SIGTERM');
      assert.equal(await serve.exited, 0);
      const transfers = serve
        .output()
        .split('\n')
        .filter((line) => line.startsWith('{'))
        .map((line) => (JSON.parse(line) as { transfer: string }).transfer);
      assert.deepEqual(transfers, ['sendfile', 'sendfile'], 'the kernel sends the file: no copy through Node');
    });
  });
}
