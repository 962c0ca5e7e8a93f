// The other side of the channel tests: run as a Worker (workerData) or as a child process
// (argv, the channel on descriptor 3). Reports one JSON object per line on stdout, or by
// postMessage in a Worker.
import { createHash } from 'node:crypto';
import { parentPort, workerData } from 'node:worker_threads';

import { binding } from '../../src/binding/load.js';
import { type Channel, type ChannelHandle, openChannel } from '../../src/index.js';
import { fillMessage } from './content.js';

export type { PeerReport, PeerTask } from './content.js';

import type { PeerReport, PeerTask } from './content.js';

function report(value: PeerReport): void {
  if (parentPort !== null) parentPort.postMessage(value);
  else process.stdout.write(`${JSON.stringify(value)}\n`);
}

async function consume(channel: Channel, task: PeerTask): Promise<void> {
  const hash = createHash('sha256');
  const subscriber = channel.subscribe({ spin: task.spin ?? 0 });
  report({ kind: 'ready' });
  let count = 0;
  let bytes = 0;
  for await (const message of subscriber) {
    hash.update(message.buffer);
    bytes += message.buffer.length;
    count++;
    message.release();
  }
  report({ kind: 'done', count, bytes, hash: hash.digest('hex'), missed: subscriber.missed });
}

/** As consume, a batch at a time (receiveBatch: one wake-up, one view for many messages). */
async function consumeBatches(channel: Channel, task: PeerTask): Promise<void> {
  const hash = createHash('sha256');
  const subscriber = channel.subscribe({ spin: task.spin ?? 0 });
  report({ kind: 'ready' });
  let count = 0;
  let bytes = 0;
  for (;;) {
    const batch = await subscriber.receiveBatch();
    if (batch === null) break;
    for (const buffer of batch) {
      hash.update(buffer);
      bytes += buffer.length;
      count++;
    }
    batch.release();
  }
  report({ kind: 'done', count, bytes, hash: hash.digest('hex'), missed: subscriber.missed });
}

/** As countMessages, a batch at a time; also checks that each batch's sequences run on. */
async function countBatches(channel: Channel): Promise<void> {
  const subscriber = channel.subscribe();
  report({ kind: 'ready' });
  let count = 0;
  let sum = 0;
  let ordered = true;
  for (;;) {
    const batch = subscriber.tryReceiveBatch() ?? (await subscriber.receiveBatch());
    if (batch === null) break;
    if (batch.sequence !== count) ordered = false;
    for (let i = 0; i < batch.length; i++) {
      const value = batch.buffer(i).readUInt32LE(0);
      if (value !== count) ordered = false;
      sum += value;
      count++;
    }
  }
  report({ kind: 'done', count, bytes: count * 4, hash: '', ordered, sum });
}

/** Small messages carrying their index: checks order, loss and duplication cheaply. */
async function countMessages(channel: Channel): Promise<void> {
  const subscriber = channel.subscribe();
  report({ kind: 'ready' });
  let count = 0;
  let sum = 0;
  let ordered = true;
  for (;;) {
    let message = subscriber.tryReceive();
    if (message === undefined) {
      if (subscriber.ended) break;
      const next = await subscriber.receive();
      if (next === null) break;
      message = next;
    }
    const value = message.buffer.readUInt32LE(0);
    if (value !== count) ordered = false;
    sum += value;
    count++;
  }
  report({ kind: 'done', count, bytes: count * 4, hash: '', ordered, sum });
}

async function produce(channel: Channel, task: PeerTask): Promise<void> {
  const sizes = task.sizes ?? [64];
  const count = task.count ?? sizes.length;
  const producer = channel.producer({ spin: task.spin ?? 0 });
  if (task.delayMs !== undefined) {
    report({ kind: 'ready' });
    await new Promise((resolve) => setTimeout(resolve, task.delayMs));
  }
  const hash = createHash('sha256');
  let bytes = 0;
  for (let i = 0; i < count; i++) {
    const length = sizes[i % sizes.length] as number;
    const loan = await producer.loan(length);
    fillMessage(loan.buffer, i);
    hash.update(loan.buffer);
    bytes += length;
    loan.publish();
  }
  report({ kind: 'done', count, bytes, hash: hash.digest('hex') });
  producer.close();
}

function scribble(fd: number, milliseconds: number): void {
  const native = binding();
  const { constants } = native;
  const mapping = native.mmap(fd, 4096, 0, constants.PROT_READ | constants.PROT_WRITE, constants.MAP_SHARED);
  if (typeof mapping === 'number') throw new Error(`mmap ${mapping}`);
  const header = new Uint32Array(mapping);
  report({ kind: 'ready' });
  const end = Date.now() + milliseconds;
  let round = 0;
  while (Date.now() < end) {
    for (let i = 0; i < header.length; i++) header[i] = (Math.random() * 2 ** 32) >>> 0;
    // Now and then, values that look plausible: small sequences, states, huge lengths.
    if (round++ % 3 === 0) for (let i = 16; i < header.length; i += 3) header[i] = round % 5;
  }
  report({ kind: 'done', count: round, bytes: 0, hash: '' });
}

async function main(): Promise<void> {
  const task: PeerTask =
    parentPort !== null ? (workerData as { task: PeerTask }).task : (JSON.parse(process.argv[2] as string) as PeerTask);
  if (task.role === 'scribble') {
    scribble(3, task.milliseconds ?? 500);
    return;
  }
  const channel =
    parentPort !== null ? openChannel((workerData as { handle: ChannelHandle }).handle) : openChannel({ fd: 3 });
  try {
    if (task.role === 'consume') await consume(channel, task);
    else if (task.role === 'consume-batch') await consumeBatches(channel, task);
    else if (task.role === 'count') await countMessages(channel);
    else if (task.role === 'count-batch') await countBatches(channel);
    else if (task.role === 'produce') await produce(channel, task);
    else if (task.role === 'hold-loan') {
      await channel.loan(64);
      report({ kind: 'ready' });
      await new Promise(() => setInterval(() => {}, 1000));
    } else if (task.role === 'hold-message') {
      await channel.receive();
      report({ kind: 'ready' });
      await new Promise(() => setInterval(() => {}, 1000));
    } else if (task.role === 'wait-space') {
      const producer = channel.producer();
      while (producer.trySend(Buffer.alloc(8))) {}
      report({ kind: 'ready' });
      await producer.send(Buffer.alloc(8));
      await new Promise(() => setInterval(() => {}, 1000));
    }
  } catch (error) {
    const { code = '', message } = error as Error & { code?: string };
    report({ kind: 'error', code, message });
  } finally {
    channel.close();
  }
}

await main();
