import assert from 'node:assert/strict';
import { type ChildProcessByStdio, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createInterface } from 'node:readline';
import type { Readable, Writable } from 'node:stream';
import { describe, it, type TestContext } from 'node:test';

import { addressOf, processVmReadv, processVmWritev } from '../../src/index.js';
import { KiB, packageEntry, sha256, throwsCode, throwsSystemError, wrongType } from '../support/fixtures.js';

const SIZE = 64 * KiB;

/**
 * A child `node` that loads the package, fills a Buffer with random bytes, keeps an empty
 * one beside it, prints where both live, then answers each line on stdin with the hashes
 * of both. It exits when stdin closes.
 */
const CHILD = `
  import { createHash, randomBytes } from 'node:crypto';
  import { createInterface } from 'node:readline';
  const { addressOf } = await import(process.argv[1]);
  const size = Number(process.argv[2]);
  const secret = randomBytes(size);
  const target = Buffer.alloc(size);
  const hash = (bytes) => createHash('sha256').update(bytes).digest('hex');
  const report = () => JSON.stringify({ pid: process.pid, secret: addressOf(secret).toString(),
    target: addressOf(target).toString(), secretHash: hash(secret), targetHash: hash(target) });
  console.log(report());
  createInterface({ input: process.stdin }).on('line', () => console.log(report()));
`;

interface Report {
  pid: number;
  secret: bigint;
  target: bigint;
  secretHash: string;
  targetHash: string;
}

class Child {
  private readonly lines: AsyncIterator<string>;

  constructor(readonly process: ChildProcessByStdio<Writable, Readable, null>) {
    this.lines = createInterface({ input: process.stdout })[Symbol.asyncIterator]();
  }

  async report(): Promise<Report> {
    const next = await Promise.race([
      this.lines.next(),
      new Promise<never>((_, reject) =>
        setTimeout(() => reject(new Error('the child did not answer in 10 s')), 10_000).unref(),
      ),
    ]);
    if (next.done === true) throw new Error('the child exited before it reported');
    const raw = JSON.parse(next.value) as Omit<Report, 'secret' | 'target'> & { secret: string; target: string };
    return { ...raw, secret: BigInt(raw.secret), target: BigInt(raw.target) };
  }

  /** Asks for a fresh report (after the parent wrote into the child). */
  async ask(): Promise<Report> {
    this.process.stdin.write('report\n');
    return this.report();
  }

  exited(): Promise<void> {
    if (this.process.exitCode !== null || this.process.signalCode !== null) return Promise.resolve();
    return new Promise((resolve) => this.process.once('exit', () => resolve()));
  }
}

async function startChild(t: TestContext): Promise<{ child: Child; report: Report }> {
  const process_ = spawn(process.execPath, ['--input-type=module', '-e', CHILD, packageEntry, String(SIZE)], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const child = new Child(process_);
  t.after(() => {
    process_.stdin.end();
    process_.kill();
  });
  return { child, report: await child.report() };
}

describe('processVmReadv and processVmWritev', () => {
  describe('against a child node process', () => {
    it("reads the child's Buffer into ours, byte for byte", async (t) => {
      const { report } = await startChild(t);
      const local = Buffer.alloc(SIZE);
      assert.equal(processVmReadv(report.pid, local, { address: report.secret, length: SIZE }), SIZE);
      assert.equal(sha256(local), report.secretHash);
    });

    it('scatters one remote range into several local buffers and gathers several remote ranges', async (t) => {
      const { report } = await startChild(t);
      const parts = [Buffer.alloc(1000), Buffer.alloc(SIZE - 3000), new Uint8Array(2000)];
      const remote = [
        { address: report.secret, length: SIZE / 2 },
        { address: report.secret + BigInt(SIZE / 2), length: SIZE / 2 },
      ];
      assert.equal(processVmReadv(report.pid, parts, remote), SIZE);
      assert.equal(sha256(Buffer.concat(parts)), report.secretHash);
    });

    it("writes our bytes into the child's Buffer, as the child sees it", async (t) => {
      const { child, report } = await startChild(t);
      const bytes = randomBytes(SIZE);
      assert.equal(processVmWritev(report.pid, bytes, { address: report.target, length: SIZE }), SIZE);
      const after = await child.ask();
      assert.equal(after.targetHash, sha256(bytes));
      assert.equal(after.secretHash, report.secretHash);
    });

    it('returns 0 for empty lists', async (t) => {
      const { report } = await startChild(t);
      assert.equal(processVmReadv(report.pid, [], []), 0);
      assert.equal(processVmWritev(report.pid, Buffer.alloc(0), { address: report.target, length: 0 }), 0);
    });

    it('stops short when a later remote range is not mapped', async (t) => {
      const { report } = await startChild(t);
      const local = Buffer.alloc(2 * KiB);
      const remote = [
        { address: report.secret, length: KiB },
        { address: 8n, length: KiB },
      ];
      assert.equal(processVmReadv(report.pid, local, remote), KiB);
    });

    it('fails with EFAULT when the first remote range is not mapped', async (t) => {
      const { report } = await startChild(t);
      throwsSystemError(
        () => processVmReadv(report.pid, Buffer.alloc(16), { address: 8n, length: 16 }),
        'EFAULT',
        'process_vm_readv',
      );
      throwsSystemError(
        () => processVmWritev(report.pid, Buffer.alloc(16), { address: 8n, length: 16 }),
        'EFAULT',
        'process_vm_writev',
      );
    });

    it('fails with ESRCH once the child has exited', async (t) => {
      const { child, report } = await startChild(t);
      child.process.stdin.end();
      await child.exited();
      // Its pid is free again; nothing could have taken it between the exit and this call
      // except by a coincidence we accept.
      throwsSystemError(
        () => processVmReadv(report.pid, Buffer.alloc(16), { address: report.secret, length: 16 }),
        'ESRCH',
        'process_vm_readv',
      );
    });
  });

  it('fail with ESRCH for a pid above any pid_max', () => {
    throwsSystemError(
      () => processVmReadv(2 ** 31 - 1, Buffer.alloc(4), { address: 4096n, length: 4 }),
      'ESRCH',
      'process_vm_readv',
    );
    throwsSystemError(
      () => processVmWritev(2 ** 31 - 1, Buffer.alloc(4), { address: 4096n, length: 4 }),
      'ESRCH',
      'process_vm_writev',
    );
  });

  it('read this process too, through addressOf()', () => {
    const bytes = randomBytes(4 * KiB);
    const copy = Buffer.alloc(bytes.length);
    assert.equal(processVmReadv(process.pid, copy, { address: addressOf(bytes), length: bytes.length }), bytes.length);
    assert.deepEqual(copy, bytes);
    // addressOf() a view is the address of its first byte.
    const view = new DataView(bytes.buffer, bytes.byteOffset + 10, 20);
    assert.equal(addressOf(view), addressOf(bytes) + 10n);
  });

  describe('argument validation, before any system call', () => {
    // Were a check missing, the call would reach no process: no pid is this high.
    const NO_PID = 2 ** 31 - 1;
    const remote = { address: 4096n, length: 4 };
    const cases: Array<[string, () => unknown, string]> = [
      ['a pid of 0', () => processVmReadv(0, Buffer.alloc(4), remote), 'ERR_OUT_OF_RANGE'],
      ['a negative pid', () => processVmWritev(-5, Buffer.alloc(4), remote), 'ERR_OUT_OF_RANGE'],
      ['a string pid', () => processVmReadv(wrongType('1'), Buffer.alloc(4), remote), 'ERR_INVALID_ARG_TYPE'],
      ['a string as local', () => processVmReadv(NO_PID, wrongType('bytes'), remote), 'ERR_INVALID_ARG_TYPE'],
      [
        'an ArrayBuffer as local',
        () => processVmReadv(NO_PID, wrongType(new ArrayBuffer(4)), remote),
        'ERR_INVALID_ARG_TYPE',
      ],
      [
        'a number address',
        () => processVmReadv(NO_PID, Buffer.alloc(4), wrongType({ address: 4096, length: 4 })),
        'ERR_INVALID_ARG_TYPE',
      ],
      [
        'a negative address',
        () => processVmReadv(NO_PID, Buffer.alloc(4), { address: -1n, length: 4 }),
        'ERR_OUT_OF_RANGE',
      ],
      [
        'an address of 2^64',
        () => processVmReadv(NO_PID, Buffer.alloc(4), { address: 2n ** 64n, length: 4 }),
        'ERR_OUT_OF_RANGE',
      ],
      [
        'a negative length',
        () => processVmReadv(NO_PID, Buffer.alloc(4), { address: 4096n, length: -4 }),
        'ERR_OUT_OF_RANGE',
      ],
      [
        'a fractional length',
        () => processVmWritev(NO_PID, Buffer.alloc(4), { address: 4096n, length: 0.5 }),
        'ERR_OUT_OF_RANGE',
      ],
      ['a null remote range', () => processVmReadv(NO_PID, Buffer.alloc(4), wrongType(null)), 'ERR_INVALID_ARG_TYPE'],
      [
        'more than IOV_MAX local buffers',
        () =>
          processVmReadv(
            NO_PID,
            Array.from({ length: 1025 }, () => Buffer.alloc(1)),
            remote,
          ),
        'ERR_OUT_OF_RANGE',
      ],
      ['addressOf() a non-view', () => addressOf(wrongType([1, 2, 3])), 'ERR_INVALID_ARG_TYPE'],
    ];
    for (const [what, call, code] of cases) {
      it(`refuses ${what} with ${code}`, () => throwsCode(call, code));
    }
  });
});
