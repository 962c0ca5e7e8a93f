// fanout() and `zerocopy tee` where the native addon is really absent: a copy of the built
// library in a directory with no build/ and no prebuilds/, so the real loader fails, and the
// fan-out copies through Buffers (every side says so in the report).
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import { MiB, randomFile, requireTool, runNode, sha256, tempDir } from '../support/fixtures.js';
import { eventually, within } from '../support/transfer.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

/** Readers the scripts use: TCP far ends and FIFOs drained by `cat`, each hashed. */
const HELPERS = `import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';

export const hash = (bytes) => createHash('sha256').update(bytes).digest('hex');

/** A connected TCP pair: the fan-out writes to 'near'; 'done' resolves with what reached the far end. */
export async function tcpReader() {
  const server = createServer();
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const accepted = new Promise((resolve) => server.once('connection', resolve));
  const near = connect(server.address().port, '127.0.0.1');
  await new Promise((resolve, reject) => { near.once('connect', resolve); near.once('error', reject); });
  const far = await accepted;
  server.close();
  const digest = createHash('sha256');
  let bytes = 0;
  far.on('data', (chunk) => { digest.update(chunk); bytes += chunk.length; });
  const done = new Promise((resolve) => far.on('close', () => resolve({ bytes, hash: digest.digest('hex') })));
  far.on('error', () => {});
  near.on('error', () => {});
  return { kind: 'socket', destination: near, far, done, finish: () => near.end() };
}

/** A FIFO whose reader is cat: the fan-out opens it by path, a real pipe. */
export function fifoReader(dir, name) {
  const fifo = dir + '/' + name + '.fifo';
  const out = dir + '/' + name + '.out';
  const made = spawn('mkfifo', [fifo]);
  const ready = new Promise((resolve) => made.on('exit', resolve));
  const done = ready.then(() => new Promise((resolve) => {
    const child = spawn('sh', ['-c', 'cat "$0" > "$1"', fifo, out]);
    child.on('exit', () => {
      const bytes = readFileSync(out);
      resolve({ bytes: bytes.length, hash: hash(bytes) });
    });
  }));
  return { kind: 'pipe', ready, destination: fifo, done, finish: () => {} };
}

export function fileReader(dir, name) {
  const path = dir + '/' + name + '.file';
  return {
    kind: 'file',
    destination: path,
    done: null,
    finish: () => {},
    result: () => { const bytes = readFileSync(path); return { bytes: bytes.length, hash: hash(bytes) }; },
  };
}

/** A live TCP source: feedAll() writes 'size' random bytes at a steady pace, then ends. */
export async function liveSource(size, step = 256 * 1024, pauseMs = 2) {
  const payload = randomBytes(size);
  const { destination: source, far: feed } = await tcpReader();
  const feedAll = async (onProgress = () => {}) => {
    for (let offset = 0; offset < size; offset += step) {
      if (!feed.write(payload.subarray(offset, offset + step))) await new Promise((r) => feed.once('drain', r));
      onProgress(offset + step);
      await new Promise((r) => setTimeout(r, pauseMs));
    }
    feed.end();
  };
  return { payload, source, feed, feedAll };
}
`;

/** dist/src alone, beside the project's node_modules (node-gyp-build), with no addon anywhere. */
function libraryWithoutAddon(t: TestContext): string {
  const dir = tempDir(t, 'zerocopy-no-addon-');
  cpSync(join(root, 'dist', 'src'), join(dir, 'dist', 'src'), { recursive: true });
  writeFileSync(join(dir, 'package.json'), '{ "type": "module" }\n');
  writeFileSync(join(dir, 'helpers.mjs'), HELPERS);
  symlinkSync(join(root, 'node_modules'), join(dir, 'node_modules'));
  return dir;
}

async function runScript(dir: string, script: string): Promise<unknown> {
  writeFileSync(join(dir, 'use.mjs'), script);
  const result = await runNode([join(dir, 'use.mjs')], { cwd: dir, timeoutMs: 120_000 });
  assert.equal(result.code, 0, result.stderr);
  return JSON.parse(result.stdout);
}

interface Received {
  bytes: number;
  hash: string;
}

interface DestinationSummary {
  kind: string;
  bytes: number;
  joinedAt: number;
  method: string;
  fallback?: { reason: string };
  outcome: string;
  reason?: string;
}

interface ReportSummary {
  bytes: number;
  delivered: number;
  sourceMethod: string;
  sourceFallback?: { reason: string };
  destinations: DestinationSummary[];
}

const NO_ADDON = 'native addon unavailable';

describe('fanout() without the native addon', () => {
  for (const count of [1, 2, 16]) {
    it(`copies a file to ${count} destinations of mixed kinds, every byte`, async (t) => {
      const dir = libraryWithoutAddon(t);
      const source = randomFile(t, 5 * MiB + 13);
      const out = (await runScript(
        dir,
        `import { addonStatus, fanout } from './dist/src/index.js';
import { fileReader, fifoReader, tcpReader } from './helpers.mjs';
const makers = [(i) => tcpReader(), (i) => fifoReader('.', 'p' + i), (i) => fileReader('.', 'f' + i)];
const readers = [];
for (let i = 0; i < ${count}; i++) readers.push(await makers[i % 3](i));
await Promise.all(readers.map((r) => r.ready));
const report = await fanout(${JSON.stringify(source.path)}, readers.map((r) => r.destination));
for (const r of readers) r.finish();
const received = await Promise.all(readers.map((r) => r.done ?? r.result()));
console.log(JSON.stringify({ available: addonStatus().available, kinds: readers.map((r) => r.kind), report, received }));
`,
      )) as { available: boolean; kinds: string[]; report: ReportSummary; received: Received[] };
      assert.equal(out.available, false);
      assert.equal(out.report.bytes, source.bytes.length);
      assert.equal(out.report.delivered, source.bytes.length * count);
      assert.equal(out.report.sourceMethod, 'copy');
      assert.deepEqual(out.report.sourceFallback, { reason: NO_ADDON });
      assert.equal(out.received.length, count);
      for (const [i, received] of out.received.entries()) {
        assert.deepEqual(received, { bytes: source.bytes.length, hash: source.hash }, `destination ${i}`);
        const report = out.report.destinations[i] as DestinationSummary;
        assert.equal(report.method, 'copy');
        assert.deepEqual(report.fallback, { reason: NO_ADDON });
        assert.equal(report.outcome, 'finished');
        assert.equal(report.bytes, source.bytes.length);
        // Without the addon only a file is told apart: a FIFO and a socket Node writes to are 'stream's.
        assert.equal(report.kind, out.kinds[i] === 'file' ? 'file' : 'stream');
      }
    });
  }

  it('a late joiner gets an exact suffix of a live source, from where it joined', async (t) => {
    const dir = libraryWithoutAddon(t);
    const out = (await runScript(
      dir,
      `import { fanout } from './dist/src/index.js';
import { hash, liveSource, tcpReader } from './helpers.mjs';
const size = 12 * 1024 * 1024;
const { payload, source, feedAll } = await liveSource(size);
const first = await tcpReader();
const running = fanout(source, [first.destination]);
let joining;
await feedAll((fed) => {
  if (joining === undefined && fed >= 4 * 1024 * 1024)
    joining = tcpReader().then(async (late) => ({ late, member: await running.add(late.destination) }));
});
const { late, member } = await joining;
const report = await running;
first.finish();
late.finish();
console.log(JSON.stringify({
  size,
  joinedAt: member.joinedAt,
  first: await first.done,
  late: await late.done,
  whole: hash(payload),
  suffix: hash(payload.subarray(member.joinedAt)),
  report,
}));
`,
    )) as {
      size: number;
      joinedAt: number;
      first: Received;
      late: Received;
      whole: string;
      suffix: string;
      report: ReportSummary;
    };
    assert.deepEqual(out.first, { bytes: out.size, hash: out.whole });
    assert.ok(out.joinedAt > 0 && out.joinedAt < out.size, `joined at ${out.joinedAt}`);
    assert.deepEqual(out.late, { bytes: out.size - out.joinedAt, hash: out.suffix });
    assert.equal(out.report.destinations[1]?.joinedAt, out.joinedAt);
    assert.deepEqual(
      out.report.destinations.map((d) => d.outcome),
      ['finished', 'finished'],
    );
  });

  it("'drop' ends a reader that does not read, with its reason; the others get everything", async (t) => {
    const dir = libraryWithoutAddon(t);
    const out = (await runScript(
      dir,
      `import { fanout } from './dist/src/index.js';
import { hash, liveSource, tcpReader } from './helpers.mjs';
const size = 32 * 1024 * 1024;
const { payload, source, feedAll } = await liveSource(size);
const readers = [await tcpReader(), await tcpReader(), await tcpReader()];
readers[2].far.pause();
const running = fanout(source, readers.map((r) => r.destination), { policy: 'drop', lagLimit: 2 * 1024 * 1024 });
await feedAll();
const report = await running;
for (const r of readers.slice(0, 2)) r.finish();
const received = await Promise.all(readers.slice(0, 2).map((r) => r.done));
console.log(JSON.stringify({ size, whole: hash(payload), received, report, slowDestroyed: readers[2].destination.destroyed }));
`,
    )) as { size: number; whole: string; received: Received[]; report: ReportSummary; slowDestroyed: boolean };
    for (const received of out.received) assert.deepEqual(received, { bytes: out.size, hash: out.whole });
    assert.deepEqual(
      out.report.destinations.map((d) => d.outcome),
      ['finished', 'finished', 'dropped'],
    );
    const dropped = out.report.destinations[2] as DestinationSummary;
    assert.match(dropped.reason ?? '', /lag limit of 2097152 bytes/);
    assert.ok(dropped.bytes < out.size);
    assert.ok(out.slowDestroyed, 'the dropped socket was destroyed: its reader sees the stream end early');
  });

  it("'wait' holds the source to the slowest reader's lag limit, and nobody loses a byte", async (t) => {
    const dir = libraryWithoutAddon(t);
    const source = randomFile(t, 48 * MiB + 1);
    const out = (await runScript(
      dir,
      `import { fanout } from './dist/src/index.js';
import { tcpReader } from './helpers.mjs';
const readers = [await tcpReader(), await tcpReader()];
readers[1].far.pause();
const running = fanout(${JSON.stringify(source.path)}, readers.map((r) => r.destination), { policy: 'wait', lagLimit: 1024 * 1024 });
let widest = 0;
const sample = () => {
  const bytes = running.destinations().map((d) => d.bytes);
  if (bytes.length === 2) widest = Math.max(widest, running.position - Math.min(...bytes));
};
for (let i = 0; i < 30; i++) { sample(); await new Promise((r) => setTimeout(r, 10)); }
const held = running.position;
readers[1].far.resume();
const report = await running;
for (const r of readers) r.finish();
console.log(JSON.stringify({ held, widest, received: await Promise.all(readers.map((r) => r.done)), report }));
`,
    )) as { held: number; widest: number; received: Received[]; report: ReportSummary };
    assert.ok(out.held < source.bytes.length, `the source was held back (read ${out.held})`);
    assert.ok(out.widest <= MiB, `never more than the lag limit queued (saw ${out.widest})`);
    for (const received of out.received) assert.deepEqual(received, { bytes: source.bytes.length, hash: source.hash });
    assert.deepEqual(
      out.report.destinations.map((d) => d.outcome),
      ['finished', 'finished'],
    );
  });

  it('abort rejects with how far the source and each destination got, also while a pipe read waits', async (t) => {
    const dir = libraryWithoutAddon(t);
    const out = (await runScript(
      dir,
      `import { spawn, spawnSync } from 'node:child_process';
import { fanout } from './dist/src/index.js';
import { liveSource, tcpReader } from './helpers.mjs';
const settle = (p) => p.then(() => { throw new Error('resolved'); }, (e) => ({ name: e.name, code: e.code, bytesTransferred: e.bytesTransferred, outcomes: e.destinations.map((d) => d.outcome), bytes: e.destinations.map((d) => d.bytes) }));
const waitFor = async (test) => { while (!test()) await new Promise((r) => setTimeout(r, 5)); };

// A socket source: 1 MiB said, then silence.
const { source, feed } = await liveSource(0);
const readers = [await tcpReader(), await tcpReader()];
const controller = new AbortController();
const running = fanout(source, readers.map((r) => r.destination), { signal: controller.signal });
feed.write(Buffer.alloc(1024 * 1024, 7));
await waitFor(() => running.destinations().length === 2 && running.destinations().every((d) => d.bytes === 1024 * 1024));
controller.abort();
const socket = await settle(running.done);
source.destroy();
feed.destroy();

// A FIFO source whose writer goes quiet: the read waiting on the thread pool cannot be cancelled.
spawnSync('mkfifo', ['in.fifo']);
const writer = spawn('sh', ['-c', 'head -c 65536 /dev/zero > in.fifo; exec sleep 30 > in.fifo'], { stdio: 'ignore' });
const output = await tcpReader();
const second = new AbortController();
const fromFifo = fanout('in.fifo', [output.destination], { signal: second.signal });
await waitFor(() => fromFifo.position === 65536);
second.abort();
const fifo = await settle(fromFifo.done);
// Its writer gone, the read left waiting returns, and only then is the FIFO closed: the script can end.
writer.kill();
console.log(JSON.stringify({ socket, fifo }));
`,
    )) as Record<
      'socket' | 'fifo',
      { name: string; code: string; bytesTransferred: number; outcomes: string[]; bytes: number[] }
    >;
    assert.deepEqual(out.socket, {
      name: 'AbortError',
      code: 'ABORT_ERR',
      bytesTransferred: MiB,
      outcomes: ['aborted', 'aborted'],
      bytes: [MiB, MiB],
    });
    assert.equal(out.fifo.name, 'AbortError');
    assert.equal(out.fifo.bytesTransferred, 65536);
    assert.deepEqual(out.fifo.outcomes, ['aborted']);
  });
});

describe('zerocopy tee without the native addon behaves as GNU tee', () => {
  const input = Buffer.from(Array.from({ length: 6 * 1024 * 1024 + 9 }, (_, i) => (i * 131 + (i >>> 11)) & 0xff));

  function run(t: TestContext, tee: string, script: string, stdin?: Buffer) {
    const dir = tempDir(t, 'tee-no-addon-');
    const result = spawnSync('bash', ['-c', `set -o pipefail; ${script}`], {
      cwd: dir,
      input: stdin,
      env: { ...process.env, TEE: tee },
      maxBuffer: 64 * MiB,
    });
    return {
      status: result.status,
      stdout: result.stdout,
      stderr: result.stderr.toString().replaceAll('zerocopy tee:', 'tee:').replace(/[‘’]/g, "'"),
      file: (name: string) => readFileSync(join(dir, name)),
    };
  }

  /** The same shell line with GNU tee and with ours from the library without its addon. */
  async function both(t: TestContext, script: string, stdin?: Buffer) {
    if (!(await requireTool(t, 'tee', ['--version'], 'the behaviour is compared with GNU tee'))) return undefined;
    const lib = libraryWithoutAddon(t);
    const ours = `${process.execPath} ${join(lib, 'dist', 'src', 'cli', 'main.js')} tee`;
    return [run(t, 'tee', script, stdin), run(t, ours, script, stdin)] as const;
  }

  it('copies standard input to standard output and every file', async (t) => {
    const runs = await both(t, '$TEE a.bin b.bin | cat', input);
    if (runs === undefined) return;
    for (const each of runs) {
      assert.equal(each.status, 0, each.stderr);
      assert.equal(each.stderr, '');
      assert.equal(sha256(each.stdout), sha256(input));
      assert.equal(sha256(each.file('a.bin')), sha256(input));
      assert.equal(sha256(each.file('b.bin')), sha256(input));
    }
  });

  it('-a appends, and a file on standard input is read from where it stands', async (t) => {
    const runs = await both(
      t,
      'printf old > a; head -c 100000 /dev/urandom > in; { dd bs=7 count=1 of=/dev/null 2>/dev/null; $TEE -a a > out; } < in; tail -c +8 in > want; cmp out want && printf old | cat - want | cmp - a',
    );
    if (runs === undefined) return;
    for (const each of runs) assert.equal(each.status, 0, each.stderr);
  });

  it('a broken output pipe ends it with status 141; a full device is reported with status 1', async (t) => {
    const runs = await both(t, 'seq 1 2000000 | $TEE copy | head -c 10 > /dev/null');
    if (runs === undefined) return;
    const [gnu, ours] = runs;
    assert.equal(gnu.status, 141);
    assert.equal(ours.status, gnu.status);
    assert.equal(ours.stderr, gnu.stderr);
    const full = await both(t, '$TEE /dev/full ok > out', input);
    if (full === undefined) return;
    const [gnuFull, oursFull] = full;
    assert.equal(gnuFull.status, 1);
    assert.equal(oursFull.status, 1);
    assert.equal(oursFull.stderr, gnuFull.stderr);
    for (const each of full) assert.equal(sha256(each.file('ok')), sha256(input));
  });
});

describe('zerocopy broadcast without the native addon', () => {
  /** A GET whose body is hashed as it arrives; resolves once the server closes the connection. */
  async function get(port: number): Promise<{ status: number; bytes: number; hash: string }> {
    const response = await fetch(`http://127.0.0.1:${port}/`);
    const hasher = createHash('sha256');
    let bytes = 0;
    for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
      hasher.update(chunk);
      bytes += chunk.byteLength;
    }
    return { status: response.status, bytes, hash: hasher.digest('hex') };
  }

  it('sends standard input to every client, every byte, and logs the copy', async (t) => {
    const lib = libraryWithoutAddon(t);
    const input = randomFile(t, 9 * MiB + 5);
    const child = spawn(process.execPath, [
      join(lib, 'dist', 'src', 'cli', 'main.js'),
      'broadcast',
      '--from',
      '-',
      '--listen',
      '127.0.0.1:0',
    ]);
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    child.stderr.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    t.after(() => {
      if (child.exitCode === null) child.kill('SIGKILL');
    });
    await eventually(() => /at http:\/\/127\.0\.0\.1:\d+/.test(output) || child.exitCode !== null, 10_000, 'listening');
    const port = Number(/at http:\/\/127\.0\.0\.1:(\d+)/.exec(output)?.[1]);
    assert.ok(port > 0, output);
    const clients = [get(port), get(port)];
    const clientsNow = async () =>
      ((await (await fetch(`http://127.0.0.1:${port}/_zerocopy/status`)).json()) as { clientsNow: number }).clientsNow;
    while ((await clientsNow()) < 2) await new Promise((resolve) => setTimeout(resolve, 20));
    child.stdin.end(input.bytes);
    for (const received of await within(Promise.all(clients), 60_000, 'the clients'))
      assert.deepEqual(received, { status: 200, bytes: input.bytes.length, hash: input.hash });
    assert.equal(await within(exited, 10_000, 'the exit'), 0);
    assert.equal(output.match(/^GET \/ 200 .* copy \(native addon unavailable\)$/gm)?.length, 2, output);
  });
});
