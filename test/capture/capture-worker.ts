// Runs inside a test's network namespace (ip netns exec): captures with the options given
// as JSON in argv[2], prints "ready" once the socket is bound, then one JSON line with
// what it captured. Every wait is bounded: it stops after `expect` packets, after `idleMs`
// without one, or at `deadlineMs`.
import { createSocket } from 'node:dgram';
import { type Capture, capture } from '../../src/capture/capture.js';
import type { CaptureOptions } from '../../src/capture/options.js';
import { XDP_FRAME_SIZE, XDP_FRAMES } from '../../src/capture/xdp.js';
import { hash, sequenceOf } from './frames.js';

interface WorkerOptions extends CaptureOptions {
  expect: number;
  idleMs: number;
  deadlineMs: number;
  /** Keep a hash of every packet (false for floods). */
  hashes: boolean;
  /** Wait this long before releasing each batch (a slow reader). */
  slowMs?: number;
  /** Also receive UDP on this port (0.0.0.0) and report how many datagrams the stack delivered. */
  udpPort?: number;
}

const options = JSON.parse(process.argv[2] ?? '{}') as WorkerOptions;
let session: Capture;
try {
  session = capture(options);
} catch (error) {
  // Setting up failed: the error, as a caller would see it.
  const { code, errno, syscall, message } = error as NodeJS.ErrnoException;
  process.stdout.write('ready\n');
  process.stdout.write(`${JSON.stringify({ error: { code, errno, syscall, message } })}\n`);
  process.exit(0);
}
let udpReceived = 0;
const udp = options.udpPort === undefined ? undefined : createSocket('udp4');
if (udp !== undefined) {
  udp.on('message', () => udpReceived++);
  await new Promise<void>((resolve) => udp.bind(options.udpPort, '0.0.0.0', resolve));
}
const bufferBytes = options.backend === 'xdp' ? XDP_FRAMES * XDP_FRAME_SIZE : (options.ring?.blockSize ?? 1 << 20);
const packets: { hash: string; seq: number; length: number; captured: number; direction: string }[] = [];
let count = 0;
let detached = true;
/** Every packet of a batch is a view into the same block (no copies). */
let sameBlock = true;
let idle: NodeJS.Timeout | undefined;
const deadline = setTimeout(() => session.close(), options.deadlineMs);
process.stdout.write('ready\n');
for await (const batch of session) {
  for (const packet of batch) {
    count++;
    if (options.hashes) {
      packets.push({
        hash: hash(packet.data),
        seq: sequenceOf(packet.data),
        length: packet.length,
        captured: packet.capturedLength,
        direction: packet.direction,
      });
    }
  }
  const view = batch.length > 0 ? batch.data(0) : undefined;
  if (view !== undefined && view.buffer.byteLength !== bufferBytes) sameBlock = false;
  for (let i = 1; i < batch.length; i++) if (batch.data(i).buffer !== view?.buffer) sameBlock = false;
  if (options.slowMs !== undefined) await new Promise((resolve) => setTimeout(resolve, options.slowMs));
  batch.release();
  if (view !== undefined && view.length !== 0) detached = false;
  if (count >= options.expect) break;
  clearTimeout(idle);
  idle = setTimeout(() => session.close(), options.idleMs);
}
clearTimeout(idle);
clearTimeout(deadline);
const stats = session.stats();
session.close();
let closedCode: string | undefined;
try {
  session[Symbol.asyncIterator]();
} catch (error) {
  closedCode = (error as NodeJS.ErrnoException).code;
}
if (udp !== undefined) {
  // Datagrams the stack took are queued by now; give the socket a moment to read them.
  await new Promise((resolve) => setTimeout(resolve, 300));
  udp.close();
}
process.stdout.write(
  `${JSON.stringify({
    count,
    packets,
    stats,
    detached,
    sameBlock,
    linkType: session.linkType?.name,
    backend: session.backend,
    xdp: session.xdp,
    closedCode,
    udpReceived,
  })}\n`,
);
