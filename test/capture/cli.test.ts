import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { frame, hash } from './frames.js';
import { readPcap } from './pcap-file.js';
import { CLI, generate, makeRig, type Rig, spawnInReceiver } from './rig.js';

const made = makeRig('cli');
const rig: Rig | undefined = typeof made === 'string' ? undefined : made;
const hasTcpdump = spawnSync('sh', ['-c', 'command -v tcpdump']).status === 0;

describe('zerocopy capture', { skip: typeof made === 'string' ? made : false }, () => {
  after(() => rig?.remove());

  it('writes a pcap file that tcpdump -r reads, every frame intact, and stops after -c', async (t) => {
    if (rig === undefined) return;
    const count = 500;
    const file = join(rig.generator, '..', 'out.pcap');
    const run = spawnInReceiver(rig, [
      process.execPath,
      CLI,
      'capture',
      '-i',
      rig.receiverInterface,
      '-Q',
      'in',
      '-w',
      file,
      '-c',
      String(count),
    ]);
    await run.ready;
    generate(rig, count + 100, 0, 0, 3);
    const { code, stderr } = await run.output;
    assert.equal(code, 0, stderr);
    assert.match(stderr, new RegExp(`^${count} packets captured$`, 'm'));
    assert.match(stderr, /^\d+ packets received by filter$/m);
    assert.match(stderr, /^0 packets dropped by kernel$/m);
    const { linkType, records } = readPcap(readFileSync(file));
    assert.equal(linkType, 1);
    assert.equal(records.length, count);
    assert.deepEqual(
      records.map((record) => hash(record.captured)),
      Array.from({ length: count }, (_, seq) => hash(frame(seq, 0, 3))),
    );
    if (!hasTcpdump) {
      t.diagnostic('tcpdump is not installed: the file was checked, not read back by tcpdump');
      return;
    }
    const read = spawnSync('tcpdump', ['-r', file, '-nn', '--nano'], { encoding: 'utf8' });
    assert.equal(read.status, 0, read.stderr);
    const lines = read.stdout.trim().split('\n');
    assert.equal(lines.length, count);
    assert.match(lines[0] ?? '', /IP 10\.77\.0\.1\.10000 > 10\.77\.0\.2\.9: UDP, length \d+/);
  });

  it('writes pcap to standard output with -w -', async () => {
    if (rig === undefined) return;
    const run = spawnInReceiver(rig, [
      process.execPath,
      CLI,
      'capture',
      '-i',
      rig.receiverInterface,
      '-w',
      '-',
      '-c',
      '50',
    ]);
    await run.ready;
    generate(rig, 50, 200, 0, 1);
    const { code, stdout, stderr } = await run.output;
    assert.equal(code, 0, stderr);
    const { records } = readPcap(Buffer.from(stdout, 'latin1'));
    assert.deepEqual(
      records.map((record) => hash(record.captured)),
      Array.from({ length: 50 }, (_, seq) => hash(frame(seq, 200, 1))),
    );
  });

  it('prints one line per packet, and the counts on SIGINT with status 0', async () => {
    if (rig === undefined) return;
    const run = spawnInReceiver(rig, [process.execPath, CLI, 'capture', '-i', rig.receiverInterface, '-n']);
    await run.ready;
    generate(rig, 20, 100, 0, 1);
    // The lines come when the block is handed over (after its 10 ms timeout); then interrupt.
    await new Promise((resolve) => setTimeout(resolve, 500));
    run.child.kill('SIGINT');
    const { code, stdout, stderr } = await run.output;
    assert.equal(code, 0, stderr);
    const lines = stdout.trim().split('\n');
    assert.equal(lines.length, 20);
    assert.match(lines[0] ?? '', /^\d\d:\d\d:\d\d\.\d{6} IP 10\.77\.0\.1\.10000 > 10\.77\.0\.2\.9: UDP, length 58$/);
    assert.match(stderr, /^20 packets captured$/m);
  });

  it('on SIGINT keeps the packets of the block still filling, then exits 0', async () => {
    if (rig === undefined) return;
    const count = 30;
    const file = join(rig.generator, '..', 'interrupted.pcap');
    const run = spawnInReceiver(rig, [
      process.execPath,
      CLI,
      'capture',
      '-i',
      rig.receiverInterface,
      '-Q',
      'in',
      '-w',
      file,
    ]);
    await run.ready;
    // Writing a file, the kernel hands over a part-filled block only after 200 ms: the signal
    // comes well before that, with every packet still in the block the kernel is filling.
    generate(rig, count, 100, 0, 5);
    run.child.kill('SIGINT');
    const { code, stderr } = await run.output;
    assert.equal(code, 0, stderr);
    assert.match(stderr, new RegExp(`^${count} packets captured$`, 'm'));
    const { records } = readPcap(readFileSync(file));
    assert.deepEqual(
      records.map((record) => hash(record.captured)),
      Array.from({ length: count }, (_, seq) => hash(frame(seq, 100, 5))),
    );
  });

  it('puts back the VLAN tag the kernel took off, so tcpdump -r sees it', async () => {
    if (rig === undefined) return;
    const file = join(rig.generator, '..', 'vlan.pcap');
    const run = spawnInReceiver(rig, [
      process.execPath,
      CLI,
      'capture',
      '-i',
      rig.receiverInterface,
      '-w',
      file,
      '-c',
      '20',
    ]);
    await run.ready;
    // Tagged on the wire: the receiving kernel takes the tag off into the packet's metadata.
    generate(rig, 20, 100, 0, 1, 5);
    const { code, stderr } = await run.output;
    assert.equal(code, 0, stderr);
    const { records } = readPcap(readFileSync(file));
    assert.equal(records.length, 20);
    records.forEach((record, seq) => {
      const sent = frame(seq, 100, 1);
      const tagged = Buffer.concat([sent.subarray(0, 12), Buffer.from([0x81, 0x00, 0x00, 0x05]), sent.subarray(12)]);
      assert.equal(record.captured.toString('hex'), tagged.toString('hex'), `frame ${seq}`);
      assert.equal(record.length, 104);
    });
    if (!hasTcpdump) return;
    const read = spawnSync('tcpdump', ['-r', file, '-nn', '-e'], { encoding: 'utf8' });
    assert.equal(read.status, 0, read.stderr);
    assert.match(read.stdout.split('\n')[0] ?? '', /vlan 5/);
  });

  it('takes a filter EXPRESSION as tcpdump does', async () => {
    if (rig === undefined) return;
    const args = ['capture', '-i', rig.receiverInterface, '-w', '-', '-c', '25', 'udp', 'src', 'port', '10003'];
    const run = spawnInReceiver(rig, [process.execPath, CLI, ...args]);
    await run.ready;
    generate(rig, 100, 150, 0, 4);
    const { code, stdout, stderr } = await run.output;
    assert.equal(code, 0, stderr);
    const { records } = readPcap(Buffer.from(stdout, 'latin1'));
    assert.deepEqual(
      records.map((record) => hash(record.captured)),
      Array.from({ length: 25 }, (_, i) => hash(frame(i * 4 + 3, 150, 4))),
    );
  });

  it('fails with status 1, before capturing, when the file cannot be written', async () => {
    if (rig === undefined) return;
    const file = join(rig.generator, '..', 'no-such-directory', 'out.pcap');
    const run = spawnInReceiver(rig, [process.execPath, CLI, 'capture', '-i', rig.receiverInterface, '-w', file]);
    const { code, stderr } = await run.output;
    assert.equal(code, 1);
    assert.match(stderr, /ENOENT.*no-such-directory/);
    assert.doesNotMatch(stderr, /listening on/);
  });

  it('fails with status 1 and the reason for a missing interface', () => {
    const result = spawnSync(process.execPath, [CLI, 'capture', '-i', 'zcnosuch0'], {
      encoding: 'utf8',
      timeout: 20_000,
    });
    assert.equal(result.status, 1);
    assert.match(result.stderr, /ENODEV.*no network interface named 'zcnosuch0'/);
  });
});
