// Runs inside a test's network namespace (ip netns exec): captures with the options given
// as JSON in argv[2], prints "ready" once the socket is bound, then one JSON line with
// what it captured. Every wait is bounded: it stops after `expect` packets, after `idleMs`
// without one, or at `deadlineMs`.
import { capture } from '../../src/capture/capture.js';
import type { CaptureOptions } from '../../src/capture/options.js';
import { hash, sequenceOf } from './frames.js';

interface WorkerOptions extends CaptureOptions {
  expect: number;
  idleMs: number;
  deadlineMs: number;
  /** Keep a hash of every packet (false for floods). */
  hashes: boolean;
  /** Wait this long before releasing each batch (a slow reader). */
  slowMs?: number;
}

const options = JSON.parse(process.argv[2] ?? '{}') as WorkerOptions;
const session = capture(options);
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
  if (view !== undefined && view.buffer.byteLength !== (options.ring?.blockSize ?? 1 << 20)) sameBlock = false;
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
process.stdout.write(
  `${JSON.stringify({ count, packets, stats, detached, sameBlock, linkType: session.linkType?.name })}\n`,
);
