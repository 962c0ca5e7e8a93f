// One trial of the ipc scenario, in a fresh process: this process is the "parent" end; the
// other end is a Worker (same file) or a child process (same file, argv 'peer'). Prints
// one JSON line: messages/s or latency percentiles, and CPU per message.
//
// The payload is written by the sender (Buffer.fill) and read by the receiver
// (indexOf of a byte that is never there: a scan of every byte), so no contender wins by
// not touching memory.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createConnection, createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { serialize } from 'node:v8';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';

import { type Channel, createChannel, openChannel } from '../../src/index.js';
import { nodeIpcEnd, zeromqEnd } from './ipc-installed.js';

export type Transport =
  | 'channel'
  | 'channel-spin'
  | 'channel-batch'
  | 'channel-post'
  | 'post-object'
  | 'sab-ring'
  | 'post-clone'
  | 'post-transfer'
  | 'ipc-json'
  | 'ipc-advanced'
  | 'unix-frames'
  | 'zeromq'
  | 'node-ipc';

export interface IpcTrial {
  transport: Transport;
  across: 'threads' | 'processes';
  measure: 'throughput' | 'latency';
  size: number;
  count: number;
}

const ABSENT = 0xab; // fill values stay below 100: indexOf(ABSENT) scans every byte
const SPIN_MICROSECONDS = 200;

type Touchable = { indexOf(value: number | string): number; length: number };
interface End {
  send(size: number, value: number): void | Promise<void>;
  onMessage(handler: (payload: Touchable) => void): void;
  close(): void;
}

/** A value of about `size` bytes once serialized: what post(value) and postMessage(object) carry. */
function makeValue(size: number, value: number) {
  return {
    id: value,
    name: 'n'.repeat(Math.max(0, size - 420)),
    tags: ['a', 'b', 'c'],
    values: Array.from({ length: 48 }, (_, k) => k * value),
  };
}

/** Reading a received value: every field is looked at. */
function readValue(value: unknown): Touchable {
  const object = value as ReturnType<typeof makeValue>;
  if (typeof object.id !== 'number' || object.values.length !== 48 || object.tags.length !== 3) {
    throw new Error('value corrupt');
  }
  return { indexOf: () => -1, length: object.name.length + 420 };
}

function slotSizeFor(size: number): number {
  let slot = 64;
  while (slot < size) slot *= 2;
  return slot;
}

function slotsFor(size: number): number {
  return size >= 1 << 20 ? 8 : size >= 4096 ? 256 : 1024;
}

// ---- channel ----
/** How a channel end sends and receives: loan/publish and receive() (the default), or copies (send) and receiveBatch(). */
type ChannelStyle = 'loan' | 'batch';

function channelEnd(
  outgoing: Channel,
  incoming: Channel,
  spin: number,
  objects = false,
  style: ChannelStyle = 'loan',
): End {
  const producer = outgoing.producer({ spin });
  const subscriber = incoming.subscribe({ spin });
  let handler: (payload: Touchable) => void = () => {};
  let closed = false;
  const scratch = Buffer.alloc(style === 'batch' ? subscriber.endpoint.slotSize : 0);
  // Batches: one wake-up, one native call and one view for every ready message.
  const batchPump = async () => {
    try {
      while (!closed) {
        let batch = subscriber.tryReceiveBatch() ?? null;
        if (batch === null) {
          await Promise.resolve();
          batch = subscriber.tryReceiveBatch() ?? (await subscriber.receiveBatch());
        }
        if (batch === null) return;
        for (let i = 0; i < batch.length; i++) handler(batch.buffer(i));
        batch.release();
      }
    } catch {
      // closed
    }
  };
  // The pump starts with the first handler: a message must never reach a placeholder.
  const pump = async () => {
    try {
      while (!closed) {
        let message = subscriber.tryReceive() ?? null;
        if (message === null) {
          // Let the code the last message woke (the next ping) run before this thread
          // spins or sleeps waiting for the answer.
          await Promise.resolve();
          message = subscriber.tryReceive() ?? (await subscriber.receive());
        }
        if (message === null) return;
        handler(objects ? readValue(message.value()) : message.buffer);
        message.release();
      }
    } catch {
      // closed
    }
  };
  let started = false;
  return {
    send(size, value) {
      if (objects) {
        // post(value): v8.serialize, then one copy into the slot.
        const bytes = serialize(makeValue(size, value));
        if (!producer.trySend(bytes)) return producer.send(bytes);
        return;
      }
      if (style === 'batch') {
        // The payload is written into a buffer of the sender's, then copied into the slot.
        const bytes = scratch.subarray(0, size).fill(value);
        if (!producer.trySend(bytes)) return producer.send(bytes);
        return;
      }
      const loan = producer.tryLoan(size);
      if (loan !== null) {
        loan.buffer.fill(value);
        loan.publish();
        return;
      }
      return producer.loan(size).then((later) => {
        later.buffer.fill(value);
        later.publish();
      });
    },
    onMessage(h) {
      handler = h;
      if (!started) {
        started = true;
        void (style === 'batch' ? batchPump() : pump());
      }
    },
    close() {
      closed = true;
      outgoing.close();
      incoming.close();
    },
  };
}

function isChannel(transport: Transport): boolean {
  return transport.startsWith('channel');
}

function styleOf(transport: Transport): ChannelStyle {
  return transport === 'channel-batch' ? 'batch' : 'loan';
}

// ---- a SharedArrayBuffer ring with Atomics.waitAsync/notify (threads only) ----
const HEAD = 0;
const TAIL = 1;
interface SabRing {
  control: SharedArrayBuffer;
  lengths: SharedArrayBuffer;
  data: SharedArrayBuffer;
  slots: number;
  slotSize: number;
}
function makeSabRing(size: number): SabRing {
  const slots = slotsFor(size);
  const slotSize = slotSizeFor(size);
  return {
    control: new SharedArrayBuffer(8),
    lengths: new SharedArrayBuffer(4 * slots),
    data: new SharedArrayBuffer(slots * slotSize),
    slots,
    slotSize,
  };
}
type WaitAsync = (array: Int32Array, index: number, value: number) => { async: boolean; value: unknown };
// Node 20 has Atomics.waitAsync; TypeScript's ES2022 library does not declare it.
const waitAsync = (Atomics as unknown as { waitAsync: WaitAsync }).waitAsync;

function sabEnd(outgoing: SabRing, incoming: SabRing): End {
  // A pending Atomics.waitAsync does not keep the event loop alive; this does, until close.
  const keepAlive = setInterval(() => {}, 1 << 30);
  const outControl = new Int32Array(outgoing.control);
  const outLengths = new Int32Array(outgoing.lengths);
  const outData = new Uint8Array(outgoing.data);
  const inControl = new Int32Array(incoming.control);
  const inLengths = new Int32Array(incoming.lengths);
  const inData = new Uint8Array(incoming.data);
  let handler: (payload: Touchable) => void = () => {};
  let closed = false;
  const pump = async () => {
    while (!closed) {
      const tail = Atomics.load(inControl, TAIL);
      const head = Atomics.load(inControl, HEAD);
      if (head === tail) {
        const waited = waitAsync(inControl, HEAD, head);
        if (waited.async) await waited.value;
        continue;
      }
      const slot = tail % incoming.slots;
      const offset = slot * incoming.slotSize;
      handler(inData.subarray(offset, offset + (inLengths[slot] as number)));
      Atomics.store(inControl, TAIL, tail + 1);
      Atomics.notify(inControl, TAIL);
    }
  };
  let started = false;
  const write = (size: number, value: number) => {
    const head = Atomics.load(outControl, HEAD);
    const slot = head % outgoing.slots;
    outData.fill(value, slot * outgoing.slotSize, slot * outgoing.slotSize + size);
    outLengths[slot] = size;
    Atomics.store(outControl, HEAD, head + 1);
    Atomics.notify(outControl, HEAD);
  };
  const full = () => Atomics.load(outControl, HEAD) - Atomics.load(outControl, TAIL) >= outgoing.slots;
  return {
    send(size, value) {
      if (!full()) return write(size, value);
      return (async () => {
        while (full()) {
          const waited = waitAsync(outControl, TAIL, Atomics.load(outControl, TAIL));
          if (waited.async) await waited.value;
        }
        write(size, value);
      })();
    },
    onMessage(h) {
      handler = h;
      if (!started) {
        started = true;
        void pump();
      }
    },
    close() {
      closed = true;
      clearInterval(keepAlive);
    },
  };
}

// ---- postMessage between threads ----
interface Port {
  postMessage(value: unknown, transfer?: ArrayBuffer[]): void;
  on(event: 'message', listener: (value: unknown) => void): void;
  removeAllListeners(event: 'message'): void;
}
function portEnd(port: Port, transfer: boolean, objects = false): End {
  return {
    send(size, value) {
      if (objects) {
        port.postMessage(makeValue(size, value));
        return;
      }
      if (transfer) {
        const buffer = new ArrayBuffer(size);
        new Uint8Array(buffer).fill(value);
        port.postMessage(buffer, [buffer]);
      } else {
        port.postMessage(Buffer.allocUnsafe(size).fill(value));
      }
    },
    onMessage(handler) {
      port.removeAllListeners('message');
      port.on('message', (value) => {
        if (objects) handler(readValue(value));
        else handler(value instanceof ArrayBuffer ? new Uint8Array(value) : (value as Uint8Array));
      });
    },
    close() {},
  };
}

// ---- child_process IPC ----
interface IpcProcess {
  send(message: unknown, callback?: (error: Error | null) => void): boolean;
  on(event: 'message', listener: (value: unknown) => void): void;
  removeAllListeners(event: 'message'): void;
}
function ipcEnd(target: IpcProcess, json: boolean): End {
  return {
    send(size, value) {
      const buffer = Buffer.allocUnsafe(size).fill(value);
      const payload = json ? buffer.toString('latin1') : buffer;
      if (target.send(payload)) return;
      return new Promise<void>((resolve) => target.send('', () => resolve()));
    },
    onMessage(handler) {
      target.removeAllListeners('message');
      target.on('message', (value) => {
        if (value === '') return;
        handler(value as Touchable);
      });
    },
    close() {},
  };
}

// ---- length-prefixed frames over a Unix socket ----
function frameEnd(socket: Socket): End {
  const early: Buffer[] = [];
  let handler: (payload: Touchable) => void = (payload) => early.push(Buffer.from(payload as Buffer));
  let pending: Buffer = Buffer.alloc(0);
  socket.on('data', (chunk: Buffer) => {
    pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
    while (pending.length >= 4) {
      const length = pending.readUInt32LE(0);
      if (pending.length < 4 + length) break;
      handler(pending.subarray(4, 4 + length));
      pending = pending.subarray(4 + length);
    }
  });
  return {
    send(size, value) {
      const frame = Buffer.allocUnsafe(4 + size);
      frame.writeUInt32LE(size, 0);
      frame.fill(value, 4);
      if (socket.write(frame)) return;
      return new Promise<void>((resolve) => socket.once('drain', resolve));
    },
    onMessage(h) {
      handler = h;
      for (const payload of early.splice(0)) h(payload);
    },
    close() {
      socket.destroy();
    },
  };
}

// ---- the two roles ----
function touch(payload: Touchable): void {
  if (payload.indexOf(typeof payload === 'string' ? '\u00ab' : ABSENT) !== -1) throw new Error('payload corrupt');
}

async function runParent(trial: IpcTrial, end: End, peerCpuMicros: () => number): Promise<Record<string, number>> {
  let wake: (() => void) | undefined;
  end.onMessage((payload) => {
    touch(payload);
    const resolve = wake;
    wake = undefined;
    resolve?.();
  });
  const next = () => new Promise<void>((resolve) => (wake = resolve));
  const cpuBefore = process.cpuUsage();
  const peerBefore = peerCpuMicros();
  const started = process.hrtime.bigint();
  const result: Record<string, number> = {};
  if (trial.measure === 'throughput') {
    const done = next();
    for (let i = 0; i < trial.count; i++) {
      const pending = end.send(trial.size, i % 100);
      if (pending !== undefined) await pending;
    }
    await done;
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    result.msgsPerS = trial.count / seconds;
    result.mbPerS = (trial.count * trial.size) / seconds / 1e6;
  } else {
    const oneWay: number[] = [];
    const warmup = Math.ceil(trial.count / 10);
    for (let i = 0; i < trial.count + warmup; i++) {
      const reply = next();
      const t0 = process.hrtime.bigint();
      const pending = end.send(trial.size, i % 100);
      if (pending !== undefined) await pending;
      await reply;
      if (i >= warmup) oneWay.push(Number(process.hrtime.bigint() - t0) / 2000);
    }
    oneWay.sort((a, b) => a - b);
    const at = (q: number) => oneWay[Math.min(oneWay.length - 1, Math.floor(q * oneWay.length))] as number;
    result.p50Us = at(0.5);
    result.p99Us = at(0.99);
    result.p999Us = at(0.999);
    result.maxUs = oneWay[oneWay.length - 1] as number;
  }
  const cpu = process.cpuUsage(cpuBefore);
  const messages = trial.measure === 'latency' ? trial.count * 2.2 : trial.count;
  result.cpuUsPerMsg = (cpu.user + cpu.system + (peerCpuMicros() - peerBefore)) / messages;
  return result;
}

function childCpuMicros(child: ChildProcess | undefined): () => number {
  return () => {
    if (child?.pid === undefined) return 0;
    try {
      const stat = readFileSync(`/proc/${child.pid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      return ((Number(fields[11]) + Number(fields[12])) / 100) * 1e6;
    } catch {
      return 0;
    }
  };
}

const self = fileURLToPath(import.meta.url);

async function parent(trial: IpcTrial): Promise<void> {
  const spin = trial.transport === 'channel-spin' ? SPIN_MICROSECONDS : 0;
  let end: End;
  let stop: () => Promise<void> = async () => {};
  let child: ChildProcess | undefined;
  const directory = mkdtempSync(join(tmpdir(), 'zerocopy-ipc-bench-'));
  if (isChannel(trial.transport)) {
    const slotSize = slotSizeFor(trial.transport === 'channel-post' ? trial.size * 2 : trial.size);
    const slots = slotsFor(trial.size);
    const outgoing = createChannel({ slotSize, slots });
    const incoming = createChannel({ slotSize, slots });
    if (trial.across === 'threads') {
      const worker = new Worker(self, { workerData: { trial, handles: [outgoing.handle, incoming.handle] } });
      stop = async () => void (await worker.terminate());
    } else {
      child = spawn(process.execPath, [self, 'peer', JSON.stringify(trial)], {
        stdio: ['ignore', 'inherit', 'inherit', outgoing.fd, incoming.fd],
      });
    }
    end = channelEnd(outgoing, incoming, spin, trial.transport === 'channel-post', styleOf(trial.transport));
    const previous = stop;
    stop = async () => {
      end.close();
      await previous();
    };
  } else if (trial.transport === 'sab-ring') {
    const outgoing = makeSabRing(trial.size);
    const incoming = makeSabRing(trial.size);
    const worker = new Worker(self, { workerData: { trial, rings: [outgoing, incoming] } });
    end = sabEnd(outgoing, incoming);
    stop = async () => void (await worker.terminate());
  } else if (
    trial.transport === 'post-clone' ||
    trial.transport === 'post-transfer' ||
    trial.transport === 'post-object'
  ) {
    const worker = new Worker(self, { workerData: { trial } });
    end = portEnd(worker as unknown as Port, trial.transport === 'post-transfer', trial.transport === 'post-object');
    stop = async () => void (await worker.terminate());
  } else if (trial.transport === 'ipc-json' || trial.transport === 'ipc-advanced') {
    child = spawn(process.execPath, [self, 'peer', JSON.stringify(trial)], {
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      serialization: trial.transport === 'ipc-json' ? 'json' : 'advanced',
    });
    end = ipcEnd(child as unknown as IpcProcess, trial.transport === 'ipc-json');
  } else if (trial.transport === 'zeromq' || trial.transport === 'node-ipc') {
    const ending = (trial.transport === 'zeromq' ? zeromqEnd : nodeIpcEnd)('parent', directory);
    child = spawn(process.execPath, [self, 'peer', JSON.stringify({ ...trial, path: directory })], {
      stdio: ['ignore', 'inherit', 'inherit'],
    });
    end = await ending;
  } else {
    const path = join(directory, 'socket');
    const accepted = new Promise<Socket>((resolve) => {
      const server = createServer((socket) => {
        server.close();
        resolve(socket);
      }).listen(path);
    });
    child = spawn(process.execPath, [self, 'peer', JSON.stringify({ ...trial, path })], {
      stdio: ['ignore', 'inherit', 'inherit'],
    });
    end = frameEnd(await accepted);
  }
  // The peer is ready when it answers a first round trip.
  try {
    await new Promise<void>((resolve) => {
      end.onMessage(() => resolve());
      void end.send(64, 1);
    });
    const result = await runParent(trial, end, childCpuMicros(child));
    process.stdout.write(`${JSON.stringify(result)}\n`);
  } finally {
    end.close();
    await stop();
    child?.kill('SIGKILL');
    rmSync(directory, { recursive: true, force: true });
  }
  process.exit(0);
}

async function peer(trial: IpcTrial & { path?: string }, handles?: unknown[], rings?: SabRing[]): Promise<void> {
  const spin = trial.transport === 'channel-spin' ? SPIN_MICROSECONDS : 0;
  // The warm-up round trip comes first: a latency-style echo for one message.
  let end: End;
  if (isChannel(trial.transport)) {
    const [fromParent, toParent] =
      handles !== undefined
        ? handles.map((handle) => openChannel(handle as Parameters<typeof openChannel>[0]))
        : [openChannel({ fd: 3 }), openChannel({ fd: 4 })];
    end = channelEnd(
      toParent as Channel,
      fromParent as Channel,
      spin,
      trial.transport === 'channel-post',
      styleOf(trial.transport),
    );
  } else if (trial.transport === 'sab-ring') {
    const [fromParent, toParent] = rings as [SabRing, SabRing];
    end = sabEnd(toParent, fromParent);
  } else if (
    trial.transport === 'post-clone' ||
    trial.transport === 'post-transfer' ||
    trial.transport === 'post-object'
  ) {
    end = portEnd(
      parentPort as unknown as Port,
      trial.transport === 'post-transfer',
      trial.transport === 'post-object',
    );
  } else if (trial.transport === 'ipc-json' || trial.transport === 'ipc-advanced') {
    end = ipcEnd(process as unknown as IpcProcess, trial.transport === 'ipc-json');
    process.on('disconnect', () => process.exit(0));
  } else if (trial.transport === 'zeromq' || trial.transport === 'node-ipc') {
    end = await (trial.transport === 'zeromq' ? zeromqEnd : nodeIpcEnd)('peer', trial.path as string);
  } else {
    const socket = createConnection(trial.path as string);
    await new Promise((resolve) => socket.once('connect', resolve));
    socket.on('close', () => process.exit(0));
    end = frameEnd(socket);
  }
  let warmedUp = false;
  let received = 0;
  end.onMessage((payload) => {
    touch(payload);
    if (!warmedUp) {
      warmedUp = true;
      void end.send(payload.length, 1);
      return;
    }
    received++;
    if (trial.measure === 'latency') void end.send(payload.length, received % 100);
    else if (received === trial.count) void end.send(64, 1);
  });
}

if (!isMainThread) {
  const data = workerData as { trial: IpcTrial; handles?: unknown[]; rings?: SabRing[] };
  await peer(data.trial, data.handles, data.rings);
} else if (process.argv[2] === 'peer') {
  await peer(JSON.parse(process.argv[3] as string) as IpcTrial & { path?: string });
} else if (process.argv[2] !== undefined) {
  await parent(JSON.parse(process.argv[2]) as IpcTrial);
}
