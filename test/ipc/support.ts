// Running channel peers as Workers and child processes, with bounded waits.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { Worker } from 'node:worker_threads';

import type { Channel } from '../../src/index.js';
import { fillMessage, type PeerReport, type PeerTask } from './content.js';

export const peerScript = new URL('./peer.js', import.meta.url);

export interface Peer {
  next(kind: PeerReport['kind'], timeoutMs?: number): Promise<PeerReport>;
  exited: Promise<number | null>;
  stop(): Promise<void>;
}

function queue() {
  const reports: PeerReport[] = [];
  const waiting: Array<(report: PeerReport) => void> = [];
  return {
    push(report: PeerReport) {
      const waiter = waiting.shift();
      if (waiter) waiter(report);
      else reports.push(report);
    },
    next(kind: PeerReport['kind'], timeoutMs = 20_000): Promise<PeerReport> {
      const take = (): Promise<PeerReport> => {
        const ready = reports.shift();
        if (ready !== undefined) return Promise.resolve(ready);
        return new Promise((resolve) => waiting.push(resolve));
      };
      return new Promise((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error(`peer did not report '${kind}' within ${timeoutMs} ms`)),
          timeoutMs,
        );
        void take().then((report) => {
          clearTimeout(timer);
          if (report.kind === kind) resolve(report);
          else reject(new Error(`expected '${kind}' from the peer, got ${JSON.stringify(report)}`));
        });
      });
    },
  };
}

export function startWorker(channel: Channel, task: PeerTask): Peer {
  const reports = queue();
  const worker = new Worker(peerScript, { workerData: { handle: channel.handle, task } });
  worker.on('message', (report: PeerReport) => reports.push(report));
  worker.on('error', (error) => reports.push({ kind: 'error', code: 'WORKER', message: String(error) }));
  const exited = new Promise<number | null>((resolve) => worker.on('exit', resolve));
  return { next: reports.next, exited, stop: async () => void (await worker.terminate()) };
}

/** `launcher` (e.g. ['unshare', '--net']) runs the child's node in another context; its descriptors pass through. */
export function startChild(fd: number, task: PeerTask, launcher: string[] = []): Peer & { child: ChildProcess } {
  const reports = queue();
  const argv = [...launcher, process.execPath, peerScript.pathname, JSON.stringify(task)];
  const child = spawn(argv[0] as string, argv.slice(1), {
    stdio: ['ignore', 'pipe', 'inherit', fd],
  });
  createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', (line) =>
    reports.push(JSON.parse(line) as PeerReport),
  );
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return {
    child,
    next: reports.next,
    exited,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    },
  };
}

/** The hash of what `produce` sends for these sizes. */
export function expectedHash(sizes: number[], count: number): { hash: string; bytes: number } {
  const hash = createHash('sha256');
  let bytes = 0;
  for (let i = 0; i < count; i++) {
    const buffer = Buffer.alloc(sizes[i % sizes.length] as number);
    fillMessage(buffer, i);
    hash.update(buffer);
    bytes += buffer.length;
  }
  return { hash: hash.digest('hex'), bytes };
}

export function openDescriptors(): number {
  return readdirSync('/proc/self/fd').length;
}

export function channelMappings(): number {
  return readFileSync('/proc/self/maps', 'utf8')
    .split('\n')
    .filter((line) => line.includes('zerocopy-channel')).length;
}

/** Rejects after `ms`: a bound for waits that must end. */
export function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not happen within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/**
 * Sends the numbers 0..total-1 as 4-byte words to a peer started with role 'count', closes
 * the producer, and checks that the peer saw every one, once, in order.
 */
export async function sendCountedWords(channel: Channel, peer: Peer, total: number): Promise<void> {
  await peer.next('ready');
  const producer = channel.producer();
  const word = Buffer.alloc(4);
  for (let i = 0; i < total; i++) {
    word.writeUInt32LE(i, 0);
    if (!producer.trySend(word)) await producer.send(word);
  }
  producer.close();
  const done = await peer.next('done', 60_000);
  assert.equal(done.kind === 'done' && done.count, total);
  assert.equal(done.kind === 'done' && done.ordered, true);
  assert.equal(done.kind === 'done' && done.sum, (total * (total - 1)) / 2);
}

/**
 * Loans, fills (fillMessage) and publishes `count` messages cycling through `sizes` to a peer
 * started with role 'consume', closes the producer, and checks the peer's count and hash.
 */
export async function sendFilledMessages(channel: Channel, peer: Peer, sizes: number[], count: number): Promise<void> {
  await peer.next('ready');
  for (let i = 0; i < count; i++) {
    const loan = await channel.loan(sizes[i % sizes.length] as number);
    fillMessage(loan.buffer, i);
    loan.publish();
  }
  channel.producer().close();
  const done = await peer.next('done');
  const expected = expectedHash(sizes, count);
  assert.deepEqual(done, { kind: 'done', count, bytes: expected.bytes, hash: expected.hash, missed: 0 });
}
