import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';

import { createChannel } from '../../src/index.js';
import { fillMessage } from './content.js';
import { expectedHash, sendCountedWords, sendFilledMessages, startChild, startWorker, within } from './support.js';

function codeOf(error: unknown): string | undefined {
  return (error as { code?: string }).code;
}

/** Abstract Unix socket names bound in this network namespace (/proc/net/unix shows them with '@'). */
function wakeSocketNames(): string[] {
  return readFileSync('/proc/net/unix', 'utf8')
    .split('\n')
    .map((line) => line.trim().split(/\s+/)[7] ?? '')
    .filter((path) => path.startsWith('@zerocopy-wake/'));
}

describe('receiveBatch in one thread', () => {
  it('hands every ready message over as one batch, in order, bytes intact', async () => {
    const channel = createChannel({ slotSize: 256, slots: 16 });
    try {
      const sizes = [0, 1, 64, 255, 256, 7];
      for (let i = 0; i < sizes.length; i++) {
        const loan = channel.tryLoan(sizes[i] as number);
        assert.ok(loan);
        fillMessage(loan.buffer, i);
        loan.publish();
      }
      const batch = await channel.receiveBatch();
      assert.ok(batch);
      assert.equal(batch.length, sizes.length);
      assert.equal(batch.sequence, 0);
      assert.equal(batch.missed, 0);
      const hash = createHash('sha256');
      const lengths: number[] = [];
      for (const buffer of batch) {
        hash.update(buffer);
        lengths.push(buffer.length);
      }
      assert.deepEqual(lengths, sizes);
      assert.equal(hash.digest('hex'), expectedHash(sizes, sizes.length).hash);
      batch.release();
      assert.equal(channel.tryReceiveBatch(), undefined);
    } finally {
      channel.close();
    }
  });

  it('takes at most `max`, never wraps the ring, and carries on where it stopped', () => {
    const channel = createChannel({ slotSize: 64, slots: 8 });
    try {
      const word = Buffer.alloc(4);
      const send = (value: number) => {
        word.writeUInt32LE(value, 0);
        assert.equal(channel.trySend(word), true);
      };
      for (let i = 0; i < 6; i++) send(i);
      const first = channel.tryReceiveBatch(4);
      assert.equal(first?.length, 4);
      first?.release();
      for (let i = 6; i < 12; i++) send(i); // 6 and 7 end the ring, 8..11 start it again
      const seen: number[] = [];
      const lengths: number[] = [];
      for (let batch = channel.tryReceiveBatch(); batch !== undefined; batch = channel.tryReceiveBatch()) {
        lengths.push(batch.length);
        for (let i = 0; i < batch.length; i++) seen.push(batch.buffer(i).readUInt32LE(0));
      }
      assert.deepEqual(lengths, [4, 4], 'the slots up to the ring end, then the rest');
      assert.deepEqual(seen, [4, 5, 6, 7, 8, 9, 10, 11]);
    } finally {
      channel.close();
    }
  });

  it('detaches every view of a batch on release and on the next receive (length 0), and refuses use after', () => {
    const channel = createChannel({ slotSize: 64, slots: 4 });
    try {
      channel.trySend(Buffer.from('one'));
      channel.trySend(Buffer.from('two'));
      const batch = channel.tryReceiveBatch();
      assert.ok(batch);
      const views = [...batch];
      assert.deepEqual(
        views.map((view) => view.toString()),
        ['one', 'two'],
      );
      batch.release();
      assert.equal(batch.released, true);
      assert.deepEqual(
        views.map((view) => view.length),
        [0, 0],
      );
      assert.throws(
        () => batch.buffer(0),
        (error) => codeOf(error) === 'ERR_ZEROCOPY_MESSAGE_RELEASED',
      );
      batch.release(); // idempotent

      channel.trySend(Buffer.from('three'));
      const next = channel.tryReceiveBatch();
      assert.ok(next);
      const view = next.buffer(0);
      channel.trySend(Buffer.from('four'));
      const message = channel.tryReceive();
      assert.equal(message?.buffer.toString(), 'four');
      assert.equal(next.released, true, 'the next receive released the batch');
      assert.equal(view.length, 0);
    } finally {
      channel.close();
    }
  });

  it('holds its slots until released (backpressure), then gives them all back at once', async () => {
    const channel = createChannel({ slotSize: 64, slots: 4 });
    try {
      for (let i = 0; i < 4; i++) assert.equal(channel.trySend(Buffer.alloc(8, i)), true);
      const batch = channel.tryReceiveBatch();
      assert.equal(batch?.length, 4);
      assert.equal(channel.trySend(Buffer.alloc(8)), false, 'the ring is full while the batch is held');
      const sending = channel.send(Buffer.alloc(8, 9));
      batch?.release();
      await within(sending, 5000, 'the send after release');
      for (let i = 0; i < 3; i++) assert.equal(channel.trySend(Buffer.alloc(8)), true);
    } finally {
      channel.close();
    }
  });

  it('refuses a bad max with Node-style errors', () => {
    const channel = createChannel({ slotSize: 64, slots: 8 });
    try {
      for (const max of [0, -1, 9, 1.5]) {
        assert.throws(
          () => channel.tryReceiveBatch(max),
          (error) => codeOf(error) === 'ERR_OUT_OF_RANGE' && /max/.test((error as Error).message),
          String(max),
        );
      }
      assert.throws(
        () => channel.tryReceiveBatch('4' as unknown as number),
        (error) => codeOf(error) === 'ERR_INVALID_ARG_TYPE',
      );
    } finally {
      channel.close();
    }
  });

  it('ends with null when the producer closed and all was read; aborts with AbortError', async () => {
    const channel = createChannel({ slotSize: 64, slots: 4 });
    try {
      const subscriber = channel.subscribe();
      const controller = new AbortController();
      const waiting = subscriber.receiveBatch({ signal: controller.signal });
      controller.abort();
      await assert.rejects(waiting, (error) => (error as Error).name === 'AbortError');
      const producer = channel.producer();
      producer.trySend(Buffer.from('last'));
      producer.close();
      const batch = await subscriber.receiveBatch();
      assert.equal(batch?.buffer(0).toString(), 'last');
      assert.equal(await subscriber.receiveBatch(), null);
      assert.equal(subscriber.ended, true);
    } finally {
      channel.close();
    }
  });

  it('closing detaches the views of a held batch', () => {
    const channel = createChannel({ slotSize: 64, slots: 4 });
    channel.trySend(Buffer.from('held'));
    const batch = channel.tryReceiveBatch();
    const view = batch?.buffer(0);
    assert.equal(view?.length, 4);
    channel.close();
    assert.equal(view?.length, 0);
  });

  it('overwrite: a held batch is never overwritten; the subscriber is told what it missed', () => {
    const channel = createChannel({ slotSize: 64, slots: 4, mode: 'broadcast', overflow: 'overwrite' });
    try {
      const subscriber = channel.subscribe();
      const producer = channel.producer();
      const word = Buffer.alloc(4);
      const send = (value: number) => {
        word.writeUInt32LE(value, 0);
        return producer.trySend(word);
      };
      for (let i = 0; i < 3; i++) assert.equal(send(i), true);
      const batch = subscriber.tryReceiveBatch();
      assert.equal(batch?.length, 3);
      assert.equal(send(3), true); // the one free slot
      assert.equal(send(4), false, 'the next slot belongs to the held batch');
      assert.deepEqual(
        [0, 1, 2].map((i) => batch?.buffer(i).readUInt32LE(0)),
        [0, 1, 2],
      );
      batch?.release();
      for (let i = 4; i < 10; i++) assert.equal(send(i), true);
      const next = subscriber.tryReceiveBatch();
      assert.equal(next?.missed, 3, 'messages 3, 4 and 5 were overwritten: the ring keeps the last four');
      assert.equal(next?.sequence, 6);
      assert.deepEqual(
        Array.from({ length: next?.length ?? 0 }, (_, i) => next?.buffer(i).readUInt32LE(0)),
        [6, 7, 8, 9].slice(0, next?.length),
      );
    } finally {
      channel.close();
    }
  });
});

describe('receiveBatch across threads and processes', () => {
  it('a Worker consuming in batches gets bytes intact from 64 B to the 1 MiB slot', async () => {
    const channel = createChannel({ slotSize: 1 << 20, slots: 8 });
    const peer = startWorker(channel, { role: 'consume-batch' });
    try {
      await sendFilledMessages(channel, peer, [64, 4096, 65536, 1 << 20, 100], 50);
    } finally {
      await peer.stop();
      channel.close();
    }
  });

  it('a child consuming in batches gets 200,000 small messages in order, none lost or duplicated', async () => {
    const channel = createChannel({ slotSize: 64, slots: 1024 });
    const peer = startChild(channel.fd, { role: 'count-batch' });
    try {
      await sendCountedWords(channel, peer, 200_000);
    } finally {
      await peer.stop();
      channel.close();
    }
  });

  it('a consumer asleep on its event loop is woken by a producer in another process through its wake socket', async () => {
    const channel = createChannel({ slotSize: 4096, slots: 4 });
    const sizes = [64, 4096, 1000];
    const peer = startChild(channel.fd, { role: 'produce', sizes, count: 30, delayMs: 300 });
    try {
      await peer.next('ready');
      const subscriber = channel.subscribe();
      const first = subscriber.receiveBatch(); // sleeps: the child publishes in 300 ms
      await new Promise((resolve) => setTimeout(resolve, 50));
      const mine = wakeSocketNames().filter((name) => name.endsWith(`/${process.pid}`));
      assert.equal(mine.length, 1, 'one wake socket, named after this process, while it sleeps');
      const hash = createHash('sha256');
      let count = 0;
      for (
        let batch = await within(first, 10_000, 'the wake-up');
        batch !== null;
        batch = await subscriber.receiveBatch()
      ) {
        for (const buffer of batch) {
          hash.update(buffer);
          count++;
        }
      }
      const done = await peer.next('done');
      assert.equal(count, 30);
      assert.equal(done.kind === 'done' && done.hash, hash.digest('hex'));
      channel.close();
      assert.equal(
        wakeSocketNames().filter((name) => name.endsWith(`/${process.pid}`)).length,
        0,
        'closed with the channel',
      );
    } finally {
      await peer.stop();
      channel.close();
    }
  });

  it('a batch consumer whose producer is killed mid-burst gets what was published, then ERR_ZEROCOPY_PEER_GONE', async () => {
    const channel = createChannel({ slotSize: 64, slots: 4096 });
    const peer = startChild(channel.fd, { role: 'produce', sizes: [64], count: 10_000_000 });
    try {
      let count = 0;
      const killAt = 5000;
      const error = await within(
        (async () => {
          try {
            for (;;) {
              const batch = await channel.receiveBatch();
              if (batch === null) return undefined;
              if (batch.sequence !== count) throw new Error(`out of order at ${count}`);
              count += batch.length;
              if (count >= killAt && peer.child.exitCode === null) peer.child.kill('SIGKILL');
            }
          } catch (caught) {
            return caught;
          }
        })(),
        20_000,
        'the end of the burst',
      );
      assert.equal(codeOf(error), 'ERR_ZEROCOPY_PEER_GONE');
      assert.ok(count >= killAt);
    } finally {
      await peer.stop();
      channel.close();
    }
  });
});
