import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { frame, hash, sequenceOf } from './frames.js';
import { readPcap } from './pcap-file.js';
import { generate, makeRig, type Rig, spawnInReceiver } from './rig.js';

const WRITE_WORKER = fileURLToPath(new URL('./pcap-write-worker.js', import.meta.url));
const made = makeRig('pcapw');
const rig: Rig | undefined = typeof made === 'string' ? undefined : made;
const hasTcpdump = spawnSync('sh', ['-c', 'command -v tcpdump']).status === 0;
const SIZE = 1000;
const FLOWS = 2;

interface WriteResult {
  packets: number;
  write: string;
  iteration: string;
  escaped: string[];
}

/** Ends a capture (`end`) while its first block's write is still running, then checks the file. */
async function endWhileWriting(rig: Rig, end: 'close' | 'abort' | 'release', t: { diagnostic(text: string): void }) {
  const directory = join(rig.generator, '..');
  const fifo = join(directory, `${end}.fifo`);
  const file = join(directory, `${end}.pcap`);
  execFileSync('mkfifo', [fifo]);
  const run = spawnInReceiver(rig, [
    process.execPath,
    WRITE_WORKER,
    JSON.stringify({ interface: rig.receiverInterface, fifo, file, end, readerDelayMs: 500, deadlineMs: 20_000 }),
  ]);
  await run.ready;
  generate(rig, 3000, SIZE, 0, FLOWS);
  const { code, stdout, stderr } = await run.output;
  assert.equal(code, 0, stderr);
  const line = stdout.split('\n').find((text) => text.startsWith('{'));
  assert.ok(line !== undefined, `no result: ${stdout} ${stderr}`);
  const result = JSON.parse(line) as WriteResult;
  assert.deepEqual(result.escaped, [], 'no error escapes');
  assert.equal(result.iteration, 'done');
  assert.equal(result.write, `wrote ${result.packets}`);
  assert.ok(result.packets > 0, 'the first block had packets');
  const bytes = readFileSync(file);
  const { linkType, records, end: last } = readPcap(bytes);
  assert.equal(linkType, 1);
  assert.equal(last, bytes.length, 'every record is whole');
  assert.equal(records.length, result.packets);
  for (const record of records) {
    const seq = sequenceOf(record.captured);
    assert.equal(record.length, SIZE);
    assert.equal(hash(record.captured), hash(frame(seq, SIZE, FLOWS)), `frame ${seq}`);
  }
  if (!hasTcpdump) {
    t.diagnostic('tcpdump is not installed: the file was checked, not read back by tcpdump');
    return;
  }
  const read = spawnSync('tcpdump', ['-r', file, '-nn'], { encoding: 'utf8' });
  assert.equal(read.status, 0, read.stderr);
  assert.equal(read.stdout.trim().split('\n').length, result.packets);
}

describe('PcapWriter from the ring', { skip: typeof made === 'string' ? made : false }, () => {
  after(() => rig?.remove());

  it('keeps the ring mapped for a write in flight when the capture is closed', async (t) => {
    if (rig !== undefined) await endWhileWriting(rig, 'close', t);
  });

  it('keeps the ring mapped for a write in flight when the capture is aborted', async (t) => {
    if (rig !== undefined) await endWhileWriting(rig, 'abort', t);
  });

  it('keeps a block from the kernel until its write is done when the batch is released', async (t) => {
    if (rig !== undefined) await endWhileWriting(rig, 'release', t);
  });

  it('rejects writeBatch with the system error of a failed write (ENOSPC), and nothing escapes', async () => {
    if (rig === undefined) return;
    const run = spawnInReceiver(rig, [
      process.execPath,
      WRITE_WORKER,
      JSON.stringify({ interface: rig.receiverInterface, fifo: '', file: '', end: 'full', deadlineMs: 20_000 }),
    ]);
    await run.ready;
    generate(rig, 100, SIZE, 0, FLOWS);
    const { code, stdout, stderr } = await run.output;
    assert.equal(code, 0, stderr);
    const result = JSON.parse(stdout.split('\n').find((text) => text.startsWith('{')) ?? '{}') as WriteResult;
    assert.equal(result.write, 'failed: ENOSPC writev');
    assert.equal(result.packets, 0);
    assert.deepEqual(result.escaped, []);
  });
});
