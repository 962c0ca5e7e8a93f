// zerocopy tee against GNU tee: the same shell line run with each, same inputs, and the
// same exit status, outputs and diagnostics (ours say "zerocopy tee:" where GNU says "tee:").
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';

import { cliEntry, requireTool, sha256, tempDir } from '../support/fixtures.js';
import { MB, payload } from '../support/transfer.js';

// Unquoted: $TEE is split by the shell (neither path has a space in it here).
const ZEROCOPY_TEE = `${process.execPath} ${cliEntry} tee`;
const SEQUENCE = () => spawnSync('seq', ['1', '2000000'], { maxBuffer: 64 * MB }).stdout;

interface Run {
  status: number | null;
  stdout: Buffer;
  stderr: string;
  dir: string;
}

/** Runs `script` under bash with $TEE set to one implementation, in a fresh directory. */
function runWith(t: TestContext, implementation: 'gnu' | 'zerocopy', script: string, input?: Buffer): Run {
  const dir = tempDir(t, `tee-${implementation}-`);
  const result = spawnSync('bash', ['-c', `set -o pipefail; ${script}`], {
    cwd: dir,
    input,
    env: { ...process.env, TEE: implementation === 'gnu' ? 'tee' : ZEROCOPY_TEE },
    maxBuffer: 256 * MB,
  });
  return {
    status: result.status,
    stdout: result.stdout,
    // Program names differ; GNU quotes some names ('standard output') where we do not.
    stderr: result.stderr
      .toString()
      .replaceAll('zerocopy tee:', 'tee:')
      .replaceAll('zerocopy tee --help', 'tee --help')
      .replace(/[‘’]/g, "'")
      .replaceAll("'standard output'", 'standard output'),
    dir,
  };
}

async function both(t: TestContext, script: string, input?: Buffer): Promise<[Run, Run] | undefined> {
  if (!(await requireTool(t, 'tee', ['--version'], 'the behaviour is compared with GNU tee'))) return undefined;
  return [runWith(t, 'gnu', script, input), runWith(t, 'zerocopy', script, input)];
}

const file = (run: Run, name: string) => readFileSync(join(run.dir, name));

describe('zerocopy tee behaves as GNU tee', () => {
  const { bytes, hash } = payload(8 * MB + 5);

  it('copies standard input to standard output and every file', async (t) => {
    const runs = await both(t, '$TEE a.bin b.bin | cat', bytes);
    if (runs === undefined) return;
    for (const run of runs) {
      assert.equal(run.status, 0, run.stderr);
      assert.equal(sha256(run.stdout), hash);
      assert.equal(sha256(file(run, 'a.bin')), hash);
      assert.equal(sha256(file(run, 'b.bin')), hash);
      assert.equal(run.stderr, '');
    }
  });

  it('-a appends; without it a file is truncated first', async (t) => {
    const runs = await both(
      t,
      'printf old > a; printf old > b; printf new | $TEE -a a > /dev/null && printf new | $TEE b',
    );
    if (runs === undefined) return;
    const [gnu, ours] = runs;
    for (const run of runs) {
      assert.equal(run.status, 0);
      assert.equal(file(run, 'a').toString(), 'oldnew');
      assert.equal(file(run, 'b').toString(), 'new');
    }
    assert.deepEqual(ours.stdout, gnu.stdout);
  });

  it('reads a file on standard input from where it stands', async (t) => {
    const runs = await both(
      t,
      'head -c 100000 /dev/urandom > in; { dd bs=7 count=1 of=/dev/null 2>/dev/null; $TEE out > /dev/null; } < in; tail -c +8 in > want; cmp out want',
    );
    if (runs === undefined) return;
    for (const run of runs) assert.equal(run.status, 0, run.stderr);
  });

  it('reads a character device on standard input (copied: splice cannot read it)', async (t) => {
    const runs = await both(
      t,
      'head -c 300000 /dev/zero > want; $TEE out < /dev/null > empty && head -c 300000 /dev/zero | cat | $TEE out2 > /dev/null && cmp out2 want && test ! -s out && test ! -s empty',
    );
    if (runs === undefined) return;
    for (const run of runs) assert.equal(run.status, 0, run.stderr);
  });

  describe('a broken output pipe', () => {
    it('by default ends the command as SIGPIPE would (status 141)', async (t) => {
      const runs = await both(t, 'seq 1 2000000 | $TEE copy | head -c 10 > /dev/null', undefined);
      if (runs === undefined) return;
      const [gnu, ours] = runs;
      assert.equal(gnu.status, 141);
      assert.equal(ours.status, gnu.status);
      assert.equal(ours.stderr, gnu.stderr);
      const all = SEQUENCE();
      // The file got some prefix of the input, never more.
      assert.deepEqual(all.subarray(0, file(ours, 'copy').byteLength), file(ours, 'copy'));
    });

    for (const flag of ['-p', '--output-error', '--output-error=warn-nopipe', '--output-error=exit-nopipe']) {
      it(`with ${flag}, goes on writing the other outputs and exits 0`, async (t) => {
        const runs = await both(t, `seq 1 2000000 | $TEE ${flag} copy | head -c 10 > /dev/null`);
        if (runs === undefined) return;
        const all = SEQUENCE();
        for (const run of runs) {
          assert.equal(run.status, 0, run.stderr);
          assert.equal(run.stderr, '');
          assert.equal(sha256(file(run, 'copy')), sha256(all));
        }
      });
    }

    for (const flag of ['--output-error=warn', '--output-error=exit']) {
      it(`with ${flag}, says so and exits 1`, async (t) => {
        const runs = await both(t, `seq 1 2000000 | $TEE ${flag} copy | head -c 10 > /dev/null`);
        if (runs === undefined) return;
        const [gnu, ours] = runs;
        assert.equal(gnu.status, 1);
        assert.equal(ours.status, 1);
        assert.equal(ours.stderr, gnu.stderr);
        assert.match(ours.stderr, /standard output: Broken pipe/);
      });
    }
  });

  it('a file that cannot be opened is reported, the others are written, status 1', async (t) => {
    const runs = await both(t, '$TEE no/such/dir ok > out', bytes);
    if (runs === undefined) return;
    const [gnu, ours] = runs;
    assert.equal(gnu.status, 1);
    assert.equal(ours.status, 1);
    assert.equal(ours.stderr, gnu.stderr);
    for (const run of runs) assert.equal(sha256(file(run, 'ok')), hash);
  });

  it('a write error (a full device) is reported, status 1', async (t) => {
    const runs = await both(t, '$TEE /dev/full ok > out', bytes);
    if (runs === undefined) return;
    const [gnu, ours] = runs;
    assert.equal(gnu.status, 1);
    assert.equal(ours.status, 1);
    assert.equal(ours.stderr, gnu.stderr);
    for (const run of runs) assert.equal(sha256(file(run, 'ok')), hash);
  });

  for (const args of ['--output-error=bogus', '-x', '--bogus', '--append=1']) {
    it(`refuses ${args} with status 1 and the same message`, async (t) => {
      const runs = await both(t, `$TEE ${args} < /dev/null`);
      if (runs === undefined) return;
      const [gnu, ours] = runs;
      assert.equal(gnu.status, 1);
      assert.equal(ours.status, 1);
      assert.equal(ours.stderr, gnu.stderr);
    });
  }

  it('-i ignores SIGINT and goes on to the end of its input', async (t) => {
    if (!(await requireTool(t, 'tee', ['--version'], 'compared with GNU tee'))) return;
    const dir = tempDir(t);
    const statuses: Array<number | null> = [];
    for (const command of [['tee'], [process.execPath, cliEntry, 'tee']]) {
      const out = join(dir, `out-${statuses.length}`);
      const [program = 'tee', ...rest] = command;
      const child = spawn(program, [...rest, '-i', out], { stdio: ['pipe', 'ignore', 'inherit'] });
      child.stdin.write('before\n');
      // Its first line in the file means tee is past start-up, so -i's handler is in place (a
      // fixed delay was too short for Node's start-up on a loaded machine).
      for (let waited = 0; waited < 10_000 && !readIfThere(out).includes('before\n'); waited += 20) {
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      child.kill('SIGINT');
      await new Promise((resolve) => setTimeout(resolve, 100));
      child.stdin.end('after\n');
      const status = await new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
      statuses.push(status);
      assert.equal(readFileSync(out, 'utf8'), 'before\nafter\n');
    }
    assert.deepEqual(statuses, [0, 0]);
  });

  function readIfThere(path: string): string {
    try {
      return readFileSync(path, 'utf8');
    } catch {
      return '';
    }
  }

  it('--help exits 0', async (t) => {
    const runs = await both(t, '$TEE --help > /dev/null');
    if (runs === undefined) return;
    for (const run of runs) assert.equal(run.status, 0);
  });
});
