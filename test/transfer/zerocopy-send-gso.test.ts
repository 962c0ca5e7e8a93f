// UDP sends that carry many datagrams each (UDP_SEGMENT): a real receiving socket sees the same
// datagrams as with one send per datagram (count, lengths and a hash of each), at sizes around
// the segment and around the 64-segment and 64 KiB limits; the kernel's refusal (UDP checksums
// off: EINVAL) falls back to one datagram per send and says so; on the veth-drop rig, segmented
// sends are lent and come back without COPIED. Loopback runs in a network namespace of its own
// so that lo can have an Ethernet-sized MTU.
import assert from 'node:assert/strict';
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { before, describe, it, type TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

import { binding } from '../../src/binding/load.js';
import { type TransferError, type TransferReport, transfer } from '../../src/transfer/index.js';
import { GSO_MAX_SEGMENTS } from '../../src/transfer/zero-copy/gso.js';
import { tempDir } from '../support/fixtures.js';
import { datagramPair, MB, requireAddon } from '../support/transfer.js';
import { DROP_ADDRESS, nodeInNamespace, RECEIVER_ADDRESS, type VethRig, vethRigOrSkip } from '../support/veth-rig.js';

before(requireAddon);

const child = fileURLToPath(new URL('../support/udp-gso-child.js', import.meta.url));
const run = promisify(execFile);
const MAX_UDP_IPV4 = 65_507;
const MAX_UDP_IPV6 = 65_527;

type Datagram = [number, string];
type ZeroCopy = 'auto' | 'always' | 'never';
interface Case {
  mtu: number;
  size: number;
  zeroCopy: ZeroCopy;
  noCheck?: boolean;
  rounds?: number;
  ipv6?: boolean;
}
interface CaseResult extends Case {
  reports: TransferReport[];
  expected: Datagram[];
  received: Datagram[];
}

/** Runs the loopback cases in a namespace of their own; undefined (skipped out loud) where none can be made. */
async function loopback(t: TestContext, cases: Case[]): Promise<CaseResult[] | undefined> {
  try {
    await run('unshare', ['-n', 'ip', 'link', 'set', 'lo', 'mtu', '1500', 'up']);
  } catch (error) {
    t.skip(`cannot make a network namespace with lo at MTU 1500: ${(error as Error).message.split('\n')[0]}`);
    return undefined;
  }
  const { stdout } = await run(
    'unshare',
    ['-n', '--', process.execPath, '--no-deprecation', child, 'loop', JSON.stringify(cases)],
    {
      timeout: 60_000,
      maxBuffer: 64 * MB,
    },
  );
  return JSON.parse(stdout.trim().split('\n').at(-1) as string);
}

/** Sends carrying more than one datagram that a transfer of `size` bytes makes. */
function segmentedSends(size: number, segment: number, largest = MAX_UDP_IPV4): number {
  const perSend = Math.min(GSO_MAX_SEGMENTS, Math.floor(largest / segment)) * segment;
  return Math.floor(size / perSend) + (size % perSend > segment ? 1 : 0);
}

function sameDatagrams(result: CaseResult): void {
  const what = `${result.size} bytes, MTU ${result.mtu}, zeroCopy '${result.zeroCopy}'`;
  assert.equal(result.received.length, result.expected.length, `datagrams received for ${what}`);
  assert.deepEqual(result.received, result.expected, `datagram lengths and hashes for ${what}`);
}

describe('UDP_SEGMENT on loopback (lo at MTU 1500: datagrams of 1472 bytes, 44 per send)', () => {
  const segment = 1472;
  const perSend = 44 * segment;
  const sizes = [
    segment - 1,
    segment,
    segment + 1,
    2 * segment,
    perSend - 1,
    perSend,
    perSend + 1,
    perSend + segment,
    perSend + segment + 1,
    3 * perSend + 5,
  ];
  for (const zeroCopy of ['never', 'always', 'auto'] as const) {
    it(`every size arrives as the same datagrams as one send per datagram (zeroCopy '${zeroCopy}')`, async (t) => {
      const results = await loopback(
        t,
        sizes.map((size) => ({ mtu: 1500, size, zeroCopy })),
      );
      if (results === undefined) return;
      for (const result of results) {
        sameDatagrams(result);
        const report = result.reports[0] as TransferReport;
        assert.equal(report.bytes, result.size);
        assert.equal(report.gso?.segmentBytes, segment, JSON.stringify(report.gso));
        assert.equal(
          report.gso?.sends,
          segmentedSends(result.size, segment),
          `${result.size}: ${JSON.stringify(report.gso)}`,
        );
        assert.equal(report.gso?.used, result.size > segment);
        assert.match(report.gso?.reason ?? '', /UDP_SEGMENT: up to 44 datagrams of 1472 bytes per send/);
        assert.equal(report.gso?.errno, undefined);
        if (zeroCopy === 'always') {
          // One lent send per call, whatever it carried; loopback copies, and says so.
          assert.equal(report.zeroCopy?.sends, report.syscalls, JSON.stringify(report));
          assert.equal(report.zeroCopy?.copied, report.syscalls);
        }
      }
    });
  }

  it('a send carries at most 64 datagrams (lo at MTU 1000: datagrams of 972 bytes)', async (t) => {
    const small = 972;
    const limit = GSO_MAX_SEGMENTS * small;
    assert.ok(limit < MAX_UDP_IPV4, 'the segment count, not the payload size, is the limit at this MTU');
    const cases = [limit - 1, limit, limit + 1, limit + small + 1, 3 * limit + 5].flatMap((size) =>
      (['never', 'always'] as const).map((zeroCopy) => ({ mtu: 1000, size, zeroCopy })),
    );
    const results = await loopback(t, cases);
    if (results === undefined) return;
    for (const result of results) {
      sameDatagrams(result);
      const report = result.reports[0] as TransferReport;
      assert.equal(
        report.gso?.sends,
        segmentedSends(result.size, small),
        `${result.size}: ${JSON.stringify(report.gso)}`,
      );
      assert.match(report.gso?.reason ?? '', /up to 64 datagrams of 972 bytes per send/);
      // Every call but a last short one carried 64 datagrams.
      assert.equal(report.syscalls, Math.ceil(result.size / limit), JSON.stringify(report));
    }
  });
});

describe('UDP_SEGMENT over IPv6 loopback (MTU 1500: datagrams of 1452 bytes, 45 per send)', () => {
  it('every size arrives as the same datagrams, lent or not', async (t) => {
    const segment = 1452;
    const perSend = 45 * segment;
    const cases = [segment, segment + 1, perSend - 1, perSend, perSend + segment + 1, 3 * perSend + 5].flatMap((size) =>
      (['never', 'always'] as const).map((zeroCopy) => ({ mtu: 1500, size, zeroCopy, ipv6: true })),
    );
    const results = await loopback(t, cases);
    if (results === undefined) return;
    for (const result of results) {
      sameDatagrams(result);
      const report = result.reports[0] as TransferReport;
      assert.equal(report.bytes, result.size);
      assert.equal(
        report.gso?.sends,
        segmentedSends(result.size, segment, MAX_UDP_IPV6),
        `${result.size}: ${JSON.stringify(report.gso)}`,
      );
      assert.match(report.gso?.reason ?? '', /up to 45 datagrams of 1452 bytes per send/);
    }
  });
});

describe('when the kernel refuses UDP_SEGMENT', () => {
  it('UDP checksums off (SO_NO_CHECK): EINVAL, then one datagram per send; the same datagrams arrive', async (t) => {
    const size = 100_000;
    const results = await loopback(t, [
      { mtu: 1500, size, zeroCopy: 'never', noCheck: true, rounds: 2 },
      { mtu: 1500, size, zeroCopy: 'always', noCheck: true, rounds: 2 },
      { mtu: 1500, size, zeroCopy: 'auto', noCheck: true, rounds: 2 },
    ]);
    if (results === undefined) return;
    const datagrams = Math.ceil(size / 1472);
    for (const result of results) {
      sameDatagrams(result);
      for (const report of result.reports) {
        assert.equal(report.bytes, size);
        assert.equal(report.gso?.used, false, JSON.stringify(report.gso));
        assert.equal(report.gso?.sends, 0);
        assert.equal(report.gso?.errno, 'EINVAL');
        assert.match(report.gso?.reason ?? '', /the kernel refused UDP_SEGMENT \(EINVAL\): one datagram per send/);
      }
      const [first, second] = result.reports as [TransferReport, TransferReport];
      // The refused call sent nothing: one call more than datagrams.
      assert.equal(first.syscalls, datagrams + 1, JSON.stringify(first));
      if (result.zeroCopy === 'always') {
        // The kernel numbered the refused lent send and completed it at once: the ledger kept in
        // step (every datagram's completion matched, nothing left lent), and the socket remembers
        // the refusal instead of asking again with lent pages.
        assert.equal(first.zeroCopy?.sends, datagrams, JSON.stringify(first.zeroCopy));
        assert.equal(first.zeroCopy?.copied, datagrams, JSON.stringify(first.zeroCopy));
        assert.equal(second.syscalls, datagrams, JSON.stringify(second));
        assert.equal(second.zeroCopy?.sends, datagrams);
      } else if (result.zeroCopy === 'auto') {
        // The first 64 KiB send was to be lent and was refused; single datagrams are below the
        // threshold, so nothing is lent, and the next transfer knows why from the start.
        assert.equal(first.zeroCopy?.used, false, JSON.stringify(first.zeroCopy));
        assert.equal(second.syscalls, datagrams, JSON.stringify(second));
        assert.match(
          second.zeroCopy?.reason ?? '',
          /the kernel refused UDP_SEGMENT on this socket: datagrams of 1472 bytes are below the zero-copy threshold/,
        );
      } else assert.equal(second.syscalls, datagrams + 1, JSON.stringify(second));
    }
  });

  it('sendSegments answers -errno for what the kernel or the argument refuses, and sends nothing', async (t) => {
    const { sender, received } = await datagramPair(t);
    const fd = (sender as unknown as { _handle: { fd: number } })._handle.fd;
    const native = binding();
    const { MSG_DONTWAIT } = native.constants;
    const bytes = Buffer.alloc(3000, 7);
    assert.equal(native.sendSegments(fd, bytes, MSG_DONTWAIT, 0), -22, 'a segment of 0 bytes');
    assert.equal(native.sendSegments(fd, bytes, MSG_DONTWAIT, 65_536), -22, 'a segment over 16 bits');
    // More datagrams than the kernel cuts one send into (UDP_MAX_SEGMENTS: 64, or 128 on newer kernels).
    assert.equal(native.sendSegments(fd, Buffer.alloc(129 * 100), MSG_DONTWAIT, 100), -22, 'over 128 segments');
    assert.equal(native.sendSegments(fd, Buffer.alloc(70_000), MSG_DONTWAIT, 1000), -90, 'over the largest payload');
    assert.equal(native.sendSegments(-1, bytes, MSG_DONTWAIT, 1000), -9, 'a bad descriptor');
    assert.equal(native.sendSegments(fd, bytes, MSG_DONTWAIT, 1000), 3000, 'and a good one goes');
    for (let i = 0; i < 100 && received.length < 3; i++) await new Promise((resolve) => setTimeout(resolve, 10));
    assert.equal(received.length, 3, 'only the accepted send arrived, as three datagrams');
  });

  it('an unconnected UDP socket fails with the kernel error and moves nothing', async (t) => {
    const sender = createSocket('udp4');
    await new Promise<void>((resolve) => sender.bind(0, '127.0.0.1', resolve));
    t.after(() => sender.close());
    const fd = (sender as unknown as { _handle: { fd: number } })._handle.fd;
    await assert.rejects(transfer(Buffer.alloc(100_000, 1), fd), (error: TransferError) => {
      assert.equal(error.code, 'EDESTADDRREQ');
      assert.equal(error.bytesTransferred, 0);
      return true;
    });
  });
});

/** Starts the UDP receiver in the receiver namespace; its printed lines, by index. */
function startReceiver(t: TestContext, rig: VethRig, port: number, size: number): (index: number) => Promise<string> {
  const receiver: ChildProcess = spawn(
    'ip',
    ['netns', 'exec', rig.receiver, process.execPath, '--no-deprecation', child, 'receive', String(port), String(size)],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  t.after(() => receiver.kill());
  const lines = readLines(receiver);
  return (index: number) =>
    new Promise<string>((resolve, reject) => {
      const check = () => {
        if (lines.all.length > index) resolve(lines.all[index] as string);
      };
      lines.onLine = check;
      receiver.once('exit', () =>
        lines.all.length > index ? resolve(lines.all[index] as string) : reject(new Error('receiver exited')),
      );
      check();
    });
}

/** The lines a child prints, as they come. */
function readLines(process: ChildProcess): { all: string[]; onLine: (() => void) | undefined } {
  const lines: { all: string[]; onLine: (() => void) | undefined } = { all: [], onLine: undefined };
  let output = '';
  process.stdout?.on('data', (chunk: Buffer) => {
    output += chunk.toString();
    for (let end = output.indexOf('\n'); end >= 0; end = output.indexOf('\n')) {
      lines.all.push(output.slice(0, end));
      output = output.slice(end + 1);
      lines.onLine?.();
    }
  });
  return lines;
}

function rigOrSkip(t: TestContext, rateMbit?: number): Promise<VethRig | undefined> {
  return vethRigOrSkip(t, tempDir(t, 'zc-gso-'), { dropMtu: 1500, ...(rateMbit === undefined ? {} : { rateMbit }) });
}

function inNamespace(namespace: string, args: string[]): Promise<Record<string, unknown>> {
  return nodeInNamespace(namespace, child, args, ['--no-deprecation']);
}

describe('UDP_SEGMENT over veth (MTU 1500)', () => {
  it('into a peer that drops at ingress: segmented sends are lent and complete without COPIED', async (t) => {
    const rig = await rigOrSkip(t);
    if (rig === undefined) return;
    const size = 40 * 44 * 1472 + 1000;
    const result = await inNamespace(rig.sender, ['send', DROP_ADDRESS, '9', String(size), 'auto']);
    const report = result.report as TransferReport;
    assert.equal(report.bytes, size);
    assert.equal(report.gso?.used, true, JSON.stringify(report.gso));
    assert.equal(report.gso?.sends, 40);
    assert.equal(report.method, 'msg_zerocopy', JSON.stringify(report));
    // The 40 full sends are lent; the 1000-byte tail is below the threshold and copied.
    assert.equal(report.zeroCopy?.sends, 40, JSON.stringify(report.zeroCopy));
    assert.equal(report.zeroCopy?.copied, 0, `the kernel copied on the drop rig: ${JSON.stringify(report.zeroCopy)}`);
    assert.match(report.zeroCopy?.reason ?? '', /sent from the Buffer's pages/);
  });

  it('into a real receiver in another namespace: the same datagrams arrive as one send per datagram', async (t) => {
    const rig = await rigOrSkip(t);
    if (rig === undefined) return;
    const size = 5 * 44 * 1472 + 777;
    const port = 7412;
    const line = startReceiver(t, rig, port, size);
    await line(0);
    // Lent: the kernel copies into a local receiver, so the completions say COPIED.
    const sent = await inNamespace(rig.sender, ['send', RECEIVER_ADDRESS, String(port), String(size), 'always']);
    const report = sent.report as TransferReport;
    assert.equal(report.gso?.used, true, JSON.stringify(report.gso));
    assert.equal(report.gso?.sends, 5);
    assert.equal(report.zeroCopy?.sends, 6, JSON.stringify(report.zeroCopy));
    const { datagrams } = JSON.parse(await line(1)) as { datagrams: Datagram[] };
    assert.equal(datagrams.length, (sent.expected as Datagram[]).length);
    assert.deepEqual(datagrams, sent.expected);
  });

  it('no room for more completions (ENOBUFS, tiny optmem_max): waits, sends again; the same datagrams arrive once', async (t) => {
    const rig = await rigOrSkip(t, 100);
    if (rig === undefined) return;
    const size = 30 * 44 * 1472 + 333;
    const port = 7413;
    const line = startReceiver(t, rig, port, size);
    await line(0);
    // optmem_max is per network namespace: 1 KiB holds about one unread completion, and the
    // htb qdisc keeps each lent send in flight for a few milliseconds.
    const sent = await inNamespace(rig.sender, [
      'send',
      RECEIVER_ADDRESS,
      String(port),
      String(size),
      'always',
      '1024',
    ]);
    const report = sent.report as TransferReport;
    assert.equal(report.bytes, size);
    assert.equal(report.gso?.used, true, JSON.stringify(report.gso));
    assert.ok((report.zeroCopy?.noBufferSpace ?? 0) >= 1, JSON.stringify(report.zeroCopy));
    const { datagrams } = JSON.parse(await line(1)) as { datagrams: Datagram[] };
    assert.equal(datagrams.length, (sent.expected as Datagram[]).length);
    assert.deepEqual(datagrams, sent.expected);
  });
});
