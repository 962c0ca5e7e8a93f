import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { parseBpfListing } from '../../src/capture/program.js';
import { frame, hash, SOURCE_PORT_BASE } from './frames.js';
import { generate, makeRig, type Rig, startWorker } from './rig.js';

const made = makeRig('ring');
const rig: Rig | undefined = typeof made === 'string' ? undefined : made;
const skip = typeof made === 'string' ? made : false;
const bounds = { idleMs: 1500, deadlineMs: 30_000 };

function expected(count: number, size: number, flows: number, keep: (seq: number) => boolean = () => true) {
  const hashes: string[] = [];
  for (let seq = 0; seq < count; seq++) if (keep(seq)) hashes.push(hash(frame(seq, size, flows)));
  return hashes;
}

describe('capture() on a veth pair between network namespaces', { skip }, () => {
  before(() => {
    if (typeof made === 'string') console.log(`# capture tests skipped: ${made}`);
  });
  after(() => rig?.remove());

  it('delivers every frame, byte for byte, in the order it was sent', async () => {
    if (rig === undefined) return;
    const count = 3000;
    const worker = startWorker(rig, { ...bounds, expect: count, hashes: true, direction: 'in' });
    await worker.ready;
    generate(rig, count, 0, 0, 4);
    const result = await worker.result;
    assert.equal(result.linkType, 'EN10MB');
    assert.equal(result.count, count);
    assert.deepEqual(
      result.packets.map((packet) => packet.seq),
      Array.from({ length: count }, (_, seq) => seq),
    );
    assert.deepEqual(
      result.packets.map((packet) => packet.hash),
      expected(count, 0, 4),
    );
    for (const packet of result.packets) {
      assert.equal(packet.captured, packet.length);
      assert.equal(packet.direction, 'otherhost');
    }
    assert.equal(result.stats.dropped, 0);
    assert.equal(result.stats.delivered, count);
    assert.equal(result.detached, true, "a released batch's views must read as empty");
    assert.equal(result.sameBlock, true, "a batch's packets are views into one block, not copies");
  });

  it('attaches a raw BPF program (tcpdump -dd) and cuts packets to the snap length', async (t) => {
    if (rig === undefined) return;
    let listing: string;
    try {
      listing = execFileSync('tcpdump', ['-dd', '-y', 'EN10MB', `udp and src port ${SOURCE_PORT_BASE + 1}`], {
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'ignore'],
      });
    } catch {
      t.skip('tcpdump is not installed (it compiles the filter for this test)');
      return;
    }
    const filter = parseBpfListing(listing);
    assert.ok(filter.length > 3);
    const count = 2000;
    const flows = 4;
    const snapLength = 64;
    const keep = (seq: number) => seq % flows === 1;
    const worker = startWorker(rig, { ...bounds, expect: count / flows, hashes: true, filter, snapLength });
    await worker.ready;
    generate(rig, count, 0, 0, flows);
    const result = await worker.result;
    const sent = Array.from({ length: count }, (_, seq) => seq).filter(keep);
    assert.deepEqual(
      result.packets.map((packet) => packet.seq),
      sent,
    );
    assert.deepEqual(
      result.packets.map((packet) => packet.hash),
      sent.map((seq) => hash(frame(seq, 0, flows).subarray(0, snapLength))),
    );
    for (const [i, packet] of result.packets.entries()) {
      const length = frame(sent[i] as number, 0, flows).length;
      assert.equal(packet.length, length);
      assert.equal(packet.captured, Math.min(snapLength, length));
    }
    assert.equal(
      result.stats.received,
      count / flows,
      'the filter runs in the kernel: rejected frames are not counted',
    );
  });

  it('attaches a filter expression with the same verdicts as tcpdump', async () => {
    if (rig === undefined) return;
    const count = 2000;
    const flows = 4;
    const worker = startWorker(rig, {
      ...bounds,
      expect: count / flows,
      hashes: true,
      filter: `udp and src port ${SOURCE_PORT_BASE + 2} and dst host 10.77.0.2`,
    });
    await worker.ready;
    generate(rig, count, 0, 0, flows);
    const result = await worker.result;
    const sent = Array.from({ length: count }, (_, seq) => seq).filter((seq) => seq % flows === 2);
    assert.deepEqual(
      result.packets.map((packet) => packet.hash),
      sent.map((seq) => hash(frame(seq, 0, flows))),
    );
    assert.equal(result.stats.received, sent.length);
  });

  it('splits flows across a fanout group with nothing lost or duplicated', async () => {
    if (rig === undefined) return;
    const count = 4000;
    const flows = 16;
    const fanout = { group: 4242 + (process.pid % 1000), mode: 'hash' };
    const first = startWorker(rig, { ...bounds, expect: count, hashes: true, fanout });
    const second = startWorker(rig, { ...bounds, expect: count, hashes: true, fanout });
    await Promise.all([first.ready, second.ready]);
    generate(rig, count, 0, 0, flows);
    const [a, b] = await Promise.all([first.result, second.result]);
    assert.equal(a.count + b.count, count);
    assert.ok(a.count > 0 && b.count > 0, `both members get packets (${a.count}, ${b.count})`);
    const all = [...a.packets, ...b.packets].map((packet) => packet.seq).sort((x, y) => x - y);
    assert.deepEqual(
      all,
      Array.from({ length: count }, (_, seq) => seq),
    );
    const everyHash = new Set([...a.packets, ...b.packets].map((packet) => packet.hash));
    assert.deepEqual(everyHash, new Set(expected(count, 0, flows)));
    // Hash fanout keeps a flow on one member.
    const flowsOf = (packets: { seq: number }[]) => new Set(packets.map((packet) => packet.seq % flows));
    const shared = [...flowsOf(a.packets)].filter((flow) => flowsOf(b.packets).has(flow));
    assert.deepEqual(shared, []);
    // Each member's packets are in the order sent.
    for (const member of [a, b]) {
      const seqs = member.packets.map((packet) => packet.seq);
      assert.deepEqual(
        seqs,
        [...seqs].sort((x, y) => x - y),
      );
    }
  });

  it('counts drops when the reader falls behind, and does not hang', async () => {
    if (rig === undefined) return;
    const count = 40_000;
    const worker = startWorker(rig, {
      idleMs: 2000,
      deadlineMs: 40_000,
      expect: count,
      hashes: false,
      slowMs: 20,
      ring: { blockSize: 4096 * 4, blocks: 2 },
    });
    await worker.ready;
    generate(rig, count, 1000, 0, 4);
    const result = await worker.result;
    assert.ok(result.stats.dropped > 0, `a 32 KiB ring read slowly must drop (${JSON.stringify(result.stats)})`);
    assert.equal(result.count, result.stats.delivered);
    assert.equal(result.stats.delivered + result.stats.dropped, result.stats.received);
    assert.ok(result.stats.received <= count);
  });

  // Last: it takes the receiving interface away.
  it('ends the iteration with an error when the interface goes away, not a hang', async () => {
    if (rig === undefined) return;
    const worker = startWorker(rig, { idleMs: 20_000, deadlineMs: 20_000, expect: 1_000_000, hashes: false });
    await worker.ready;
    generate(rig, 100, 100, 0, 1);
    execFileSync('ip', ['-n', rig.receiver, 'link', 'del', rig.receiverInterface]);
    await assert.rejects(worker.result, /ENETDOWN|ENODEV|ENXIO/);
  });
});
