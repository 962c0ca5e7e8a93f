// Event-mode round trips over two channels, for looking at the channel's own cost per
// message (perf record, before/after a change). Not a benchmark: no contenders, one run.
//
//   node scripts/ipc-roundtrip.mjs [threads|processes] [count=20000] [size=64] [spin µs=0] [pipelined]
// Prints one-way latency (round trip / 2) p50 and p99 in µs, and round trips per second;
// with `pipelined`, messages per second with every message in flight at once (the peer
// echoes each, the sender reads the echoes as they come).
import { spawn } from 'node:child_process';
import { isMainThread, Worker, workerData } from 'node:worker_threads';

import { createChannel, openChannel } from '../dist/src/index.js';

const [across = 'processes', countArg = '20000', sizeArg = '64', spinArg = '0', shape = 'ping-pong'] =
  process.argv.slice(2);
// ZC_SEND=1: both ends copy in with send() instead of loan()/publish() (one view fewer per message).
const copyIn = process.env.ZC_SEND === '1';
const isPeer = !isMainThread || process.argv[2] === 'peer';

/** Echoes every message back until the other side closes. */
async function echo(incoming, outgoing, spin) {
  const subscriber = incoming.subscribe({ spin });
  const producer = outgoing.producer({ spin });
  for (;;) {
    const message = subscriber.tryReceive() ?? (await subscriber.receive());
    if (message === null) break;
    if (copyIn) {
      if (!producer.trySend(message.buffer)) await producer.send(message.buffer);
      message.release();
      continue;
    }
    const loan = producer.tryLoan(message.buffer.length) ?? (await producer.loan(message.buffer.length));
    message.buffer.copy(loan.buffer);
    message.release();
    loan.publish();
  }
  outgoing.close();
  incoming.close();
}

if (isPeer) {
  const spin = Number(isMainThread ? process.argv[3] : workerData.spin);
  const [incoming, outgoing] = isMainThread
    ? [openChannel({ fd: 3 }), openChannel({ fd: 4 })]
    : workerData.handles.map((handle) => openChannel(handle));
  await echo(incoming, outgoing, spin);
} else {
  const count = Number(countArg);
  const size = Number(sizeArg);
  const spin = Number(spinArg);
  const ping = createChannel({ slotSize: 4096, slots: 64 });
  const pong = createChannel({ slotSize: 4096, slots: 64 });
  const self = new URL(import.meta.url).pathname;
  const peer =
    across === 'threads'
      ? new Worker(self, { workerData: { handles: [ping.handle, pong.handle], spin } })
      : spawn(process.execPath, [self, 'peer', String(spin)], {
          stdio: ['ignore', 'inherit', 'inherit', ping.fd, pong.fd],
        });
  const producer = ping.producer({ spin });
  const subscriber = pong.subscribe({ spin });
  if (shape === 'pipelined') {
    const started = process.hrtime.bigint();
    const echoes = (async () => {
      for (let got = 0; got < count; got++) {
        const reply = subscriber.tryReceive() ?? (await subscriber.receive());
        if (reply === null || reply.buffer.length !== size) throw new Error(`bad echo at ${got}`);
        reply.release();
      }
    })();
    for (let i = 0; i < count; i++) {
      const loan = producer.tryLoan(size) ?? (await producer.loan(size));
      loan.buffer.fill(i & 0x7f);
      loan.publish();
    }
    await echoes;
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    console.log(`${across} ${size} B spin ${spin} pipelined: ${Math.round(count / seconds)} messages/s each way`);
    producer.close();
    if (across === 'threads') await peer.terminate();
    else await new Promise((resolve) => (peer.exitCode !== null ? resolve() : peer.once('exit', resolve)));
    subscriber.close();
    process.exit(0);
  }
  const oneWay = new Float64Array(count);
  const scratch = Buffer.alloc(size);
  const warmup = Math.ceil(count / 10);
  const started = process.hrtime.bigint();
  for (let i = -warmup; i < count; i++) {
    const t0 = process.hrtime.bigint();
    if (copyIn) {
      scratch.fill(i & 0x7f);
      if (!producer.trySend(scratch)) await producer.send(scratch);
    } else {
      const loan = producer.tryLoan(size) ?? (await producer.loan(size));
      loan.buffer.fill(i & 0x7f);
      loan.publish();
    }
    const reply = subscriber.tryReceive() ?? (await subscriber.receive());
    if (reply === null || reply.buffer.length !== size || reply.buffer[size - 1] !== (i & 0x7f)) {
      throw new Error(`bad reply at ${i}`);
    }
    reply.release();
    if (i >= 0) oneWay[i] = Number(process.hrtime.bigint() - t0) / 2000;
  }
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  producer.close();
  oneWay.sort();
  const at = (q) => oneWay[Math.min(count - 1, Math.floor(q * count))].toFixed(2);
  console.log(
    `${across} ${size} B spin ${spin}${copyIn ? ' send()' : ''}: one-way p50 ${at(0.5)} µs p99 ${at(0.99)} µs, ${Math.round((count + warmup) / seconds)} round trips/s`,
  );
  if (across === 'threads') await peer.terminate();
  else await new Promise((resolve) => (peer.exitCode !== null ? resolve() : peer.once('exit', resolve)));
  subscriber.close();
}
