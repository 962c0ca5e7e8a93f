// capture({ backend: 'xdp' }): an AF_XDP socket fed by a six-instruction XDP program, on a
// veth pair between two network namespaces this file makes and removes. Every frame is the
// generator's (bench/peers/packet-gen.c), checked byte for byte against frames.ts.
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it, test } from 'node:test';
import { binding } from '../../src/binding/load.js';
import { capture } from '../../src/capture/capture.js';
import { compileFilter } from '../../src/capture/filter/index.js';
import { programWords } from '../../src/capture/program.js';
import { runProgram } from './filter-support/bpf-interpreter.js';
import { EXPRESSIONS } from './filter-support/expressions.js';
import { craftedFrames, mutatedFrames } from './filter-support/frames.js';
import { frame, hash, SOURCE_PORT_BASE } from './frames.js';
import { readPcap } from './pcap-file.js';
import { CLI, generate, makeRig, type Rig, spawnInReceiver, startWorker, WORKER } from './rig.js';

const made = makeRig('xdp');
const rig: Rig | undefined = typeof made === 'string' ? undefined : made;
const bounds = { idleMs: 1500, deadlineMs: 30_000 };
const xdp = { backend: 'xdp' };

/** Whether AF_XDP can be set up in the rig at all (a kernel without it skips out loud). */
async function probe(): Promise<string | false> {
  if (rig === undefined) return made as string;
  const worker = startWorker(rig, { ...xdp, idleMs: 100, deadlineMs: 100, expect: 1, hashes: false });
  const result = await worker.result;
  if (result.error === undefined) return false;
  if (['EAFNOSUPPORT', 'ENOSYS', 'EOPNOTSUPP'].includes(result.error.code ?? '')) {
    return `AF_XDP cannot be set up here: ${result.error.message}`;
  }
  return false;
}

test('the in-process classic BPF interpreter gives the kernel-model verdicts on every crafted frame', (t) => {
  const { XdpSocket, PacketRing } = binding();
  const frames = [...craftedFrames(), ...mutatedFrames(craftedFrames(), 11, 3)];
  let programs = 0;
  let ancillary = 0;
  let compared = 0;
  for (const expression of EXPRESSIONS) {
    let program: ReturnType<typeof compileFilter>;
    try {
      program = compileFilter(expression);
    } catch {
      continue;
    }
    const words = programWords(program, 262144, 'inout', PacketRing.kernel, PacketRing.layout.maxFilterInstructions);
    const first = XdpSocket.filterVerdict(words, frames[0]?.bytes ?? new Uint8Array(0));
    if (first === -95) {
      ancillary++; // EOPNOTSUPP: reads the kernel's ancillary data
      continue;
    }
    assert.ok(first >= 0, `${expression}: the interpreter refused the program (${first})`);
    programs++;
    for (const { bytes, wireLength, name } of frames) {
      if (wireLength !== bytes.length) continue;
      const expected = runProgram(program, bytes);
      assert.equal(XdpSocket.filterVerdict(words, bytes), Math.min(expected, 262144), `${expression} on ${name}`);
      compared++;
    }
  }
  assert.ok(programs > 20, `programs compared: ${programs}`);
  // A malformed program is refused, as the kernel refuses it: a jump past the end.
  const broken = new Uint32Array([0x15, 5, 0, 1, 0x06, 0, 0, 0]);
  assert.equal(XdpSocket.filterVerdict(broken, new Uint8Array(60)), -22);
  // One that reads ancillary data (ld [SKF_AD_OFF + SKF_AD_PKTTYPE]) is refused with EOPNOTSUPP.
  const ancillaryLoad = new Uint32Array([0x20, 0, 0, 0xfffff004, 0x06, 0, 0, 0]);
  assert.equal(XdpSocket.filterVerdict(ancillaryLoad, new Uint8Array(60)), -95);
  t.diagnostic(`${compared} verdicts, ${ancillary} programs with ancillary loads refused`);
});

test('capture({ backend: "xdp" }) checks its options before any system call', () => {
  assert.throws(() => capture({ interface: 'lo', backend: 'xdp', fanout: { group: 1 } }), {
    code: 'ERR_INVALID_ARG_VALUE',
    message: /fanout.*does not apply to backend 'xdp'/,
  });
  assert.throws(() => capture({ interface: 'lo', backend: 'xdp', direction: 'out' }), {
    code: 'ERR_INVALID_ARG_VALUE',
  });
  assert.throws(() => capture({ interface: 'lo', backend: 'xdp', xdp: { mode: 'fast' as never } }), {
    code: 'ERR_INVALID_ARG_VALUE',
  });
  assert.throws(() => capture({ interface: 'lo', backend: 'xdp', xdp: { queue: -1 } }), { code: 'ERR_OUT_OF_RANGE' });
  assert.throws(() => capture({ interface: 'lo', xdp: { queue: 0 } }), { code: 'ERR_INVALID_ARG_VALUE' });
  assert.throws(() => capture({ interface: 'lo', backend: 'bpf' as never }), { code: 'ERR_INVALID_ARG_VALUE' });
  assert.throws(() => capture({ interface: 'zcnosuch0', backend: 'xdp' }), {
    code: 'ENODEV',
    message: /no network interface named 'zcnosuch0'/,
  });
});

describe('capture({ backend: "xdp" }) on a veth pair between network namespaces', () => {
  let skip: string | false = false;
  before(async () => {
    skip = await probe();
    if (skip !== false) console.log(`# AF_XDP tests skipped: ${skip}`);
  });
  after(() => rig?.remove());

  it('delivers every frame, byte for byte, in order, and reports the mode it got', async (t) => {
    if (skip !== false || rig === undefined) return t.skip(skip || 'no rig');
    // Fewer frames than the receive ring holds: none can be dropped however late the reader.
    const count = 2000;
    const worker = startWorker(rig, { ...xdp, ...bounds, expect: count, hashes: true });
    await worker.ready;
    generate(rig, count, 0, 0, 4);
    const result = await worker.result;
    assert.equal(result.error, undefined, result.error?.message);
    assert.equal(result.backend, 'xdp');
    assert.equal(result.linkType, 'EN10MB');
    const info = result.xdp;
    assert.ok(info !== undefined);
    t.diagnostic(`mode ${info.mode} (zero-copy refused: ${info.zeroCopyRefused}), XDP in ${info.attach} mode`);
    if (info.mode === 'copy') assert.match(info.zeroCopyRefused ?? '', /^E[A-Z]+$/, 'copy mode says why');
    else assert.equal(info.zeroCopyRefused, undefined);
    assert.equal(info.queue, 0);
    assert.equal(result.count, count);
    assert.deepEqual(
      result.packets.map((packet) => packet.seq),
      Array.from({ length: count }, (_, seq) => seq),
    );
    assert.deepEqual(
      result.packets.map((packet) => packet.hash),
      Array.from({ length: count }, (_, seq) => hash(frame(seq, 0, 4))),
    );
    for (const packet of result.packets) {
      assert.equal(packet.captured, packet.length);
      assert.equal(packet.direction, 'in');
    }
    assert.equal(result.stats.delivered, count);
    assert.equal(result.stats.dropped, 0);
    assert.equal(result.stats.received, count);
    assert.equal(result.detached, true, "a released batch's views must read as empty");
    assert.equal(result.sameBlock, true, "a batch's packets are views into the UMEM, not copies");
    assert.equal(result.closedCode, 'ERR_ZEROCOPY_CAPTURE_CLOSED');
  });

  it('keeps what the packet backend keeps, for the same filters on the same traffic', async (t) => {
    if (skip !== false || rig === undefined) return t.skip(skip || 'no rig');
    const count = 1000;
    const flows = 4;
    const filters = [
      `udp and src port ${SOURCE_PORT_BASE + 1}`,
      `udp and src port ${SOURCE_PORT_BASE + 2} and dst host 10.77.0.2`,
      'greater 800',
      'ip[4:2] & 1 = 0',
      'tcp',
    ];
    for (const filter of filters) {
      const seen: Record<string, number[]> = {};
      for (const backend of ['packet', 'xdp']) {
        const expect = count;
        // 'tcp' keeps nothing: the deadline ends that run.
        const worker = startWorker(rig, { backend, idleMs: 800, deadlineMs: 4000, expect, hashes: true, filter });
        await worker.ready;
        generate(rig, count, 0, 0, flows);
        const result = await worker.result;
        assert.equal(result.error, undefined, result.error?.message);
        for (const packet of result.packets) assert.equal(packet.hash, hash(frame(packet.seq, 0, flows)));
        seen[backend] = result.packets.map((packet) => packet.seq);
        if (backend === 'xdp') {
          assert.equal(result.stats.received, result.count);
          assert.equal(
            (result.stats as { refused?: number }).refused,
            count - result.count,
            'refused frames are counted',
          );
        }
      }
      assert.deepEqual(seen.xdp, seen.packet, filter);
      t.diagnostic(`${filter}: ${seen.xdp?.length} of ${count} kept by both`);
    }
  });

  it("cuts packets to the snap length (xdp.mode 'copy')", async (t) => {
    if (skip !== false || rig === undefined) return t.skip(skip || 'no rig');
    const count = 500;
    const snapLength = 64;
    const worker = startWorker(rig, {
      ...xdp,
      xdp: { mode: 'copy' },
      ...bounds,
      expect: count,
      hashes: true,
      snapLength,
    });
    await worker.ready;
    generate(rig, count, 0, 0, 1);
    const result = await worker.result;
    assert.equal(result.count, count);
    assert.equal(result.xdp?.mode, 'copy');
    assert.equal(result.xdp?.zeroCopyRefused, undefined, "'copy' does not try zero-copy");
    for (const packet of result.packets) {
      const sent = frame(packet.seq, 0, 1);
      assert.equal(packet.length, sent.length);
      assert.equal(packet.captured, Math.min(snapLength, sent.length));
      assert.equal(packet.hash, hash(sent.subarray(0, snapLength)));
    }
  });

  it("takes the frames: the namespace's own UDP socket receives none of what the capture took", async (t) => {
    if (skip !== false || rig === undefined) return t.skip(skip || 'no rig');
    const { receiver, receiverInterface } = rig;
    // Make the generator's frames the receiver's own: its MAC and address, a socket on port 9.
    execFileSync('ip', ['-n', receiver, 'link', 'set', receiverInterface, 'address', '02:00:00:00:00:02']);
    execFileSync('ip', ['-n', receiver, 'addr', 'add', '10.77.0.2/24', 'dev', receiverInterface]);
    try {
      const count = 300;
      // Paced (2000 frames/s) so the UDP socket's receive buffer never overflows in the control.
      // Control: with the packet backend watching, the stack gets every datagram.
      const control = startWorker(rig, { ...bounds, idleMs: 800, expect: count, hashes: false, udpPort: 9 });
      await control.ready;
      generate(rig, count, 200, 2000, 1);
      const watched = await control.result;
      assert.equal(watched.count, count);
      assert.equal(watched.udpReceived, count, 'the packet backend leaves the frames to the stack');
      const taken = startWorker(rig, { ...xdp, ...bounds, idleMs: 800, expect: count, hashes: false, udpPort: 9 });
      await taken.ready;
      generate(rig, count, 200, 2000, 1);
      const result = await taken.result;
      assert.equal(result.count, count);
      assert.equal(result.udpReceived, 0, 'XDP_REDIRECT takes the frames away from the stack');
    } finally {
      spawnSync('ip', ['-n', receiver, 'addr', 'flush', 'dev', receiverInterface]);
    }
  });

  it('ends a pending iteration when closed, and takes its program off the interface', async (t) => {
    if (skip !== false || rig === undefined) return t.skip(skip || 'no rig');
    // No traffic: the worker's deadline closes the capture while next() waits.
    const worker = startWorker(rig, { ...xdp, idleMs: 500, deadlineMs: 500, expect: 1, hashes: false });
    await worker.ready;
    const result = await worker.result;
    assert.equal(result.count, 0);
    assert.equal(result.closedCode, 'ERR_ZEROCOPY_CAPTURE_CLOSED');
    const link = execFileSync('ip', ['-n', rig.receiver, '-d', 'link', 'show', rig.receiverInterface], {
      encoding: 'utf8',
    });
    assert.doesNotMatch(link, /prog\/xdp/, 'the XDP program goes with the capture');
  });

  it('refuses a second capture of the same queue (EBUSY)', async (t) => {
    if (skip !== false || rig === undefined) return t.skip(skip || 'no rig');
    const first = startWorker(rig, { ...xdp, idleMs: 3000, deadlineMs: 3000, expect: 1, hashes: false });
    await first.ready;
    const second = await startWorker(rig, { ...xdp, idleMs: 100, deadlineMs: 100, expect: 1, hashes: false }).result;
    assert.ok(second.error !== undefined);
    assert.match(second.error.code ?? '', /^(EBUSY|EEXIST)$/);
    assert.match(second.error.message, /already has an (AF_XDP socket|XDP program)/);
    assert.equal((await first.result).error, undefined);
  });

  it('says which queue does not exist (EINVAL from bind)', async (t) => {
    if (skip !== false || rig === undefined) return t.skip(skip || 'no rig');
    const result = await startWorker(rig, { ...xdp, xdp: { queue: 7 }, ...bounds, expect: 1, hashes: false }).result;
    assert.equal(result.error?.code, 'EINVAL');
    assert.equal(result.error?.syscall, 'bind');
    assert.match(result.error?.message ?? '', /has no receive queue 7/);
  });

  it("fails when 'zerocopy' is demanded of a driver that refuses it, and says 'auto' falls back", async (t) => {
    if (skip !== false || rig === undefined) return t.skip(skip || 'no rig');
    const result = await startWorker(rig, { ...xdp, xdp: { mode: 'zerocopy' }, ...bounds, expect: 1, hashes: false })
      .result;
    if (result.error === undefined) return t.skip(`this driver does zero-copy AF_XDP (${result.xdp?.mode})`);
    assert.equal(result.error.syscall, 'bind');
    assert.match(result.error.code ?? '', /^E[A-Z]+$/);
    assert.match(result.error.message, /refused zero-copy AF_XDP.*'auto' would fall back to copy mode/);
  });

  it('says which capabilities are missing (EPERM)', async (t) => {
    if (skip !== false || rig === undefined) return t.skip(skip || 'no rig');
    if (spawnSync('setpriv', ['--version']).status !== 0) return t.skip('setpriv (util-linux) is not installed');
    // Root without capabilities: an empty bounding set leaves none after exec.
    const options = JSON.stringify({ interface: rig.receiverInterface, ...xdp, ...bounds, expect: 1, hashes: false });
    const run = spawnInReceiver(rig, [
      'setpriv',
      '--inh-caps=-all',
      '--bounding-set=-all',
      process.execPath,
      WORKER,
      options,
    ]);
    const { stdout } = await run.output;
    const line = stdout.split('\n').find((text) => text.startsWith('{'));
    const result = JSON.parse(line ?? '{}') as { error?: { code: string; message: string } };
    assert.equal(result.error?.code, 'EPERM');
    assert.match(result.error?.message ?? '', /CAP_NET_RAW.*CAP_BPF/);
  });
  it('zerocopy capture --xdp writes pcap files (-w FILE, -w -) with every frame intact', async (t) => {
    if (skip !== false || rig === undefined) return t.skip(skip || 'no rig');
    const count = 300;
    const file = join(rig.generator, '..', 'xdp.pcap');
    for (const [flag, target] of [
      ['--xdp', file],
      ['--xdp=0', '-'],
    ] as const) {
      const run = spawnInReceiver(rig, [
        process.execPath,
        CLI,
        'capture',
        '-i',
        rig.receiverInterface,
        flag,
        '-w',
        target,
        '-c',
        String(count),
      ]);
      await run.ready;
      generate(rig, count, 0, 0, 3);
      const { code, stdout, stderr } = await run.output;
      assert.equal(code, 0, stderr);
      assert.match(stderr, /AF_XDP queue 0 in (copy|zerocopy) mode.*taken from the stack/);
      assert.match(stderr, new RegExp(`^${count} packets captured$`, 'm'));
      const bytes = target === '-' ? Buffer.from(stdout, 'latin1') : readFileSync(file);
      const { linkType, records } = readPcap(bytes);
      assert.equal(linkType, 1);
      assert.deepEqual(
        records.map((record) => hash(record.captured)),
        Array.from({ length: count }, (_, seq) => hash(frame(seq, 0, 3))),
        `${flag} -w ${target}`,
      );
    }
  });

  // Last: it takes the receiving interface away.
  it('ends the iteration with an error when the interface goes away, not a hang', async (t) => {
    if (skip !== false || rig === undefined) return t.skip(skip || 'no rig');
    const worker = startWorker(rig, { ...xdp, idleMs: 20_000, deadlineMs: 20_000, expect: 1_000_000, hashes: false });
    await worker.ready;
    generate(rig, 100, 100, 0, 1);
    execFileSync('ip', ['-n', rig.receiver, 'link', 'del', rig.receiverInterface]);
    await assert.rejects(worker.result, /ENETDOWN|ENODEV|ENXIO/);
  });
});
