// MSG_ZEROCOPY where the kernel really reads the Buffer's pages late: veth pairs between
// network namespaces this test makes and removes (test/support/veth-rig.ts), one of them
// dropping everything at its peer's ingress (a two-instruction BPF program), with an htb
// qdisc holding packets back so that pages are read long after send() returned.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { before, describe, it, type TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';

import { tempDir } from '../support/fixtures.js';
import { MB, requireAddon } from '../support/transfer.js';
import { DROP_ADDRESS, nodeInNamespace, RECEIVER_ADDRESS, type VethRig, vethRigOrSkip } from '../support/veth-rig.js';

before(requireAddon);

const child = fileURLToPath(new URL('../support/veth-rig-child.js', import.meta.url));
const PORT = 7411;

function rigOrSkip(t: TestContext, rateMbit: number): Promise<VethRig | undefined> {
  return vethRigOrSkip(t, tempDir(t, 'zc-veth-'), { rateMbit });
}

function inNamespace(namespace: string, args: string[]): Promise<Record<string, unknown>> {
  return nodeInNamespace(namespace, child, args, ['--expose-gc']);
}

/** Starts the TCP receiver in the receiver namespace; resolves once it listens, with what it will print. */
async function startReceiver(
  t: TestContext,
  rig: VethRig,
): Promise<{ done: Promise<{ bytes: number; hash: string }> }> {
  const receiver: ChildProcess = spawn(
    'ip',
    ['netns', 'exec', rig.receiver, process.execPath, child, 'receive', String(PORT)],
    {
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  t.after(() => receiver.kill());
  let output = '';
  const lines: string[] = [];
  let onLine: (() => void) | undefined;
  receiver.stdout?.on('data', (chunk: Buffer) => {
    output += chunk.toString();
    for (let end = output.indexOf('\n'); end >= 0; end = output.indexOf('\n')) {
      lines.push(output.slice(0, end));
      output = output.slice(end + 1);
      onLine?.();
    }
  });
  const line = (index: number) =>
    new Promise<string>((resolve, reject) => {
      const check = () => {
        if (lines.length > index) resolve(lines[index] as string);
      };
      onLine = check;
      receiver.once('exit', () =>
        lines.length > index ? resolve(lines[index] as string) : reject(new Error('receiver exited')),
      );
      check();
    });
  await line(0);
  // Wrapped: an async function returning the promise itself would wait for it.
  return { done: line(1).then((text) => JSON.parse(text)) };
}

describe('UDP into a veth whose peer drops at ingress', () => {
  // The sender passes its dgram.Socket, which transfer() stops receiving while it waits: given
  // the socket's descriptor instead, Node 24's event loop (which reads the error queue of a
  // socket it receives on) takes the late completions, and the transfer never settles.
  it('completions arrive late and without COPIED; transfer() holds the Buffer until the last one, then lets it go', async (t) => {
    const rig = await rigOrSkip(t, 20);
    if (rig === undefined) return;
    // 64 datagrams of 64000 bytes at 20 Mbit/s: the kernel reads the last pages ~1.6 s after send().
    const result = await inNamespace(rig.sender, ['udp-drop', DROP_ADDRESS, String(64 * 64_000), '16384']);
    const report = result.report as {
      bytes: number;
      method: string;
      zeroCopy: Record<string, number | string | boolean>;
    };
    assert.equal(report.bytes, 64 * 64_000);
    assert.equal(report.method, 'msg_zerocopy', JSON.stringify(report));
    assert.equal(report.zeroCopy.used, true);
    assert.equal(report.zeroCopy.copied, 0, `the kernel copied on the drop rig: ${JSON.stringify(report.zeroCopy)}`);
    // Datagrams of the path MTU less headers (64972 bytes): 63 lent, and a tail below the threshold copied.
    assert.ok((report.zeroCopy.sends as number) >= 63, JSON.stringify(report.zeroCopy));
    // Late for real: after the last send, the transfer still had to wait for completions.
    assert.ok((report.zeroCopy.releaseWaits as number) >= 1, JSON.stringify(report.zeroCopy));
    assert.match(String(report.zeroCopy.reason), /sent from the Buffer's pages/);
    assert.equal(result.gc, true, 'the child runs with --expose-gc');
    assert.equal(result.heldWhilePending, true, 'the Buffer was collected while the kernel could still read it');
    assert.ok((result.pendingChecks as number) >= 1);
    assert.equal(result.freedAfter, true, 'the Buffer stayed referenced after every completion came back');
  });
});

describe('TCP through a slow veth to a real receiver, one Buffer refilled for every send', () => {
  const rounds = 12;
  const size = MB;

  it('after transfer() settles, refilling the Buffer never changes the bytes on the wire', async (t) => {
    const rig = await rigOrSkip(t, 50);
    if (rig === undefined) return;
    const received = await startReceiver(t, rig);
    const sent = await inNamespace(rig.sender, [
      'tcp-reuse',
      RECEIVER_ADDRESS,
      String(PORT),
      String(rounds),
      String(size),
      'transfer',
    ]);
    const got = await received.done;
    assert.equal(got.bytes, rounds * size);
    assert.equal(got.hash, sent.intended, 'bytes on the wire differ from what was in the Buffer when it was sent');
    const reports = sent.reports as Array<{ zeroCopy: { sends: number } }>;
    assert.ok(
      reports.every((report) => report.zeroCopy.sends >= 1),
      JSON.stringify(reports[0]),
    );
  });

  it('the rig reads pages late: the bare primitive, refilled without waiting for completions, corrupts the stream', async (t) => {
    // The control that shows the test above can fail: same rig, same reuse, no waiting.
    const rig = await rigOrSkip(t, 50);
    if (rig === undefined) return;
    const received = await startReceiver(t, rig);
    const sent = await inNamespace(rig.sender, [
      'tcp-reuse',
      RECEIVER_ADDRESS,
      String(PORT),
      String(rounds),
      String(size),
      'raw',
    ]);
    const got = await received.done;
    assert.equal(got.bytes, rounds * size);
    assert.notEqual(got.hash, sent.intended, 'expected pages read after send() returned to carry the refilled bytes');
  });
});
