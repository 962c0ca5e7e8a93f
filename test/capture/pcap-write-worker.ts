// Runs inside a test's network namespace: writes a capture with PcapWriter into a pipe whose
// reader starts reading only after `readerDelayMs`, so the first block's write is still
// running (blocked on the full pipe, reading the ring) when the capture ends: by close(), by
// an abort, or by releasing the batch (the write awaited after). The reader copies the pipe
// to `file`. With `end: 'full'` it writes to /dev/full instead (every write fails, ENOSPC).
// Prints "ready", then one JSON line: packets written, how the write ended, every error that
// escaped.
import { spawn } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { capture } from '../../src/capture/capture.js';
import { PcapWriter } from '../../src/capture/pcap.js';

interface Options {
  interface: string;
  fifo: string;
  file: string;
  end: 'close' | 'abort' | 'release' | 'full';
  readerDelayMs: number;
  deadlineMs: number;
}

const options = JSON.parse(process.argv[2] ?? '{}') as Options;
const escaped: string[] = [];
process.on('uncaughtException', (error) => escaped.push(`uncaught: ${error.message}`));
process.on('unhandledRejection', (error) => escaped.push(`unhandled: ${String(error)}`));

const controller = new AbortController();
const session = capture({
  interface: options.interface,
  direction: 'in',
  signal: controller.signal,
  ring: { blockSize: 1 << 18, blocks: 4, blockTimeoutMs: 10 },
});
const full = options.end === 'full';
const reader = full
  ? undefined
  : spawn(
      'sh',
      ['-c', `exec 3<"$0"; sleep ${options.readerDelayMs / 1000}; exec cat <&3 >"$1"`, options.fifo, options.file],
      { stdio: 'ignore' },
    );
const readerDone = new Promise((resolve) => (reader === undefined ? resolve(0) : reader.on('close', resolve)));
// Blocks until the reader has the pipe open (at once: it opens before it sleeps).
const fd = openSync(full ? '/dev/full' : options.fifo, 'w');
const link = session.linkType;
if (link === undefined) throw new Error('no pcap link type');
const writer = PcapWriter.toDescriptor(fd, { linkType: link.value, snapLength: session.snapLength });
const deadline = setTimeout(() => session.close(), options.deadlineMs);
process.stdout.write('ready\n');

let inFlight: Promise<number> | undefined;
let iteration = 'done';
try {
  for await (const batch of session) {
    if (batch.length === 0) continue;
    inFlight = writer.writeBatch(batch);
    // The write is on the thread pool, stuck on the pipe until the reader wakes up.
    if (options.end === 'close') session.close();
    else if (options.end === 'abort') controller.abort();
    else if (options.end === 'release') batch.release();
    else await inFlight.catch(() => {});
    break;
  }
} catch (error) {
  iteration = (error as Error).name;
}
let write = 'none';
try {
  write = `wrote ${await inFlight}`;
} catch (error) {
  const { code, syscall } = error as NodeJS.ErrnoException;
  write = `failed: ${code} ${syscall}`;
}
clearTimeout(deadline);
session.close();
await writer.close();
closeSync(fd);
await readerDone;
process.stdout.write(`${JSON.stringify({ packets: writer.packets, write, iteration, escaped })}\n`);
