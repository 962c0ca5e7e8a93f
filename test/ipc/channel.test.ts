import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { closeSync, ftruncateSync, openSync, readdirSync, readlinkSync } from 'node:fs';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';

import { channelLimits, createChannel, memfdCreate, openChannel } from '../../src/index.js';
import { fillMessage } from './content.js';
import { channelMappings, openDescriptors, within } from './support.js';

/** Event-loop sleepers each hold one eventfd. */
function eventfds(): number {
  return readdirSync('/proc/self/fd').filter((fd) => {
    try {
      return readlinkSync(`/proc/self/fd/${fd}`) === 'anon_inode:[eventfd]';
    } catch {
      return false; // the listing's own descriptor, gone already
    }
  }).length;
}

function codeOf(error: unknown): string | undefined {
  return (error as { code?: string }).code;
}

describe('createChannel: bad input is refused before anything is mapped', () => {
  const cases: Array<[string, unknown, string]> = [
    ['no options', undefined, 'ERR_INVALID_ARG_TYPE'],
    ['slotSize missing', { slots: 4 }, 'ERR_INVALID_ARG_TYPE'],
    ['slotSize zero', { slotSize: 0, slots: 4 }, 'ERR_OUT_OF_RANGE'],
    ['slotSize not a power of two', { slotSize: 100, slots: 4 }, 'ERR_INVALID_ARG_VALUE'],
    ['slotSize below the minimum', { slotSize: 32, slots: 4 }, 'ERR_OUT_OF_RANGE'],
    ['slotSize beyond the limit', { slotSize: 128 << 20, slots: 2 }, 'ERR_OUT_OF_RANGE'],
    ['slots zero', { slotSize: 64, slots: 0 }, 'ERR_OUT_OF_RANGE'],
    ['slots not a power of two', { slotSize: 64, slots: 3 }, 'ERR_INVALID_ARG_VALUE'],
    ['slots fractional', { slotSize: 64, slots: 2.5 }, 'ERR_OUT_OF_RANGE'],
    ['data area beyond 1 GiB', { slotSize: 64 << 20, slots: 32 }, 'ERR_OUT_OF_RANGE'],
    ['unknown mode', { slotSize: 64, slots: 4, mode: 'mpmc' }, 'ERR_INVALID_ARG_VALUE'],
    ['overwrite in spsc', { slotSize: 64, slots: 4, overflow: 'overwrite' }, 'ERR_INVALID_ARG_VALUE'],
    ['too many subscribers', { slotSize: 64, slots: 4, mode: 'broadcast', maxSubscribers: 17 }, 'ERR_OUT_OF_RANGE'],
  ];
  for (const [name, options, code] of cases) {
    it(name, () => {
      const before = openDescriptors();
      assert.throws(
        () => createChannel(options as never),
        (error) => codeOf(error) === code,
      );
      assert.equal(openDescriptors(), before);
    });
  }

  it('exports the limits the native layout defines', () => {
    const limits = channelLimits();
    assert.equal(limits.minSlotSize, 64);
    assert.equal(limits.maxSubscribers, 16);
    assert.ok(limits.maxSlotSize >= 1 << 20);
  });
});

describe('openChannel: what is not a channel is refused', () => {
  it('a negative or missing descriptor', () => {
    assert.throws(
      () => openChannel({ fd: -1 }),
      (error) => codeOf(error) === 'ERR_INVALID_ARG_TYPE',
    );
    assert.throws(
      () => openChannel(undefined as never),
      (error) => codeOf(error) === 'ERR_INVALID_ARG_TYPE',
    );
  });

  it('a descriptor that is not a sealed channel memfd, leaving no descriptor behind', () => {
    const before = openDescriptors();
    const file = openSync(fileURLToPath(import.meta.url), 'r');
    try {
      assert.throws(
        () => openChannel({ fd: file }),
        (error) => codeOf(error) === 'ERR_INVALID_ARG_VALUE',
      );
    } finally {
      closeSync(file);
    }
    const unsealed = memfdCreate('not-a-channel');
    try {
      ftruncateSync(unsealed, 8192);
      assert.throws(
        () => openChannel({ fd: unsealed }),
        (error) => codeOf(error) === 'ERR_INVALID_ARG_VALUE',
      );
    } finally {
      closeSync(unsealed);
    }
    assert.equal(openDescriptors(), before);
  });

  it('a handle from another process, or one whose descriptor is no longer the channel', () => {
    const channel = createChannel({ slotSize: 64, slots: 2 });
    const handle = channel.handle;
    try {
      assert.throws(
        () => openChannel({ ...handle, pid: handle.pid + 1 }),
        (error) => codeOf(error) === 'ERR_INVALID_ARG_VALUE',
      );
      assert.throws(
        () => openChannel({ ...handle, inode: handle.inode + 1 }),
        (error) => codeOf(error) === 'ERR_INVALID_ARG_VALUE',
      );
    } finally {
      channel.close();
    }
    assert.throws(
      () => openChannel(handle),
      (error) => codeOf(error) === 'ERR_INVALID_ARG_VALUE',
    );
  });
});

describe('a channel in one thread', () => {
  it('delivers loaned, sent and posted messages in order', async () => {
    const channel = createChannel({ slotSize: 1024, slots: 8 });
    try {
      const loan = channel.tryLoan(5);
      assert.ok(loan);
      loan.buffer.write('hello');
      loan.publish();
      await channel.send(Buffer.from('world!'));
      await channel.post({ answer: 42, list: [1, 2, 3] });
      const first = await channel.receive();
      assert.equal(first?.buffer.toString(), 'hello');
      assert.equal(first?.sequence, 0);
      const second = await channel.receive();
      assert.equal(second?.buffer.toString(), 'world!');
      assert.equal(first?.released, true, 'the next receive released the previous message');
      const third = await channel.receive();
      assert.deepEqual(third?.value(), { answer: 42, list: [1, 2, 3] });
      third?.release();
      assert.equal(channel.tryReceive(), undefined);
    } finally {
      channel.close();
    }
  });

  it('detaches a published loan and a released message (length 0, never a window onto a rewritten slot)', () => {
    const channel = createChannel({ slotSize: 8192, slots: 2 });
    try {
      const loan = channel.tryLoan(5000);
      assert.ok(loan);
      const written = loan.buffer;
      loan.publish();
      assert.equal(written.length, 0);
      const message = channel.tryReceive();
      assert.ok(message);
      const view = message.buffer;
      assert.equal(view.length, 5000);
      message.release();
      assert.equal(view.length, 0);
      assert.throws(
        () => message.buffer,
        (error) => codeOf(error) === 'ERR_ZEROCOPY_MESSAGE_RELEASED',
      );
    } finally {
      channel.close();
    }
  });

  it('messages up to 1 KiB are copies that stay intact after release; the others are detached', () => {
    const channel = createChannel({ slotSize: 8192, slots: 4 });
    const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');
    try {
      // Arena copies up to 1 KiB, copies of their own up to 4 KiB, views of the slot beyond.
      const copies: { view: Buffer; hash: string }[] = [];
      for (const size of [1, 64, 256, 1024, 1025, 4095, 4096, 4097, 8192]) {
        const loan = channel.tryLoan(size);
        assert.ok(loan);
        const written = loan.buffer;
        fillMessage(written, size);
        const expected = Buffer.from(written);
        loan.publish();
        assert.equal(written.length, size <= 1024 ? size : 0, `the loan of ${size} B`);
        const message = channel.tryReceive();
        assert.ok(message);
        const view = message.buffer;
        assert.equal(sha256(view), sha256(expected));
        message.release();
        if (size <= 1024) copies.push({ view, hash: sha256(expected) });
        else assert.equal(view.length, 0, `the message of ${size} B is detached`);
      }
      // Hundreds of later messages through the same slots leave every copy as it was.
      for (let i = 0; i < 300; i++) {
        assert.ok(channel.trySend(Buffer.alloc(4096, i)));
        channel.tryReceive()?.release();
      }
      for (const { view, hash } of copies) assert.equal(sha256(view), hash);
      // Published shorter than loaned: only the published bytes count.
      const loan = channel.tryLoan(200);
      assert.ok(loan);
      loan.buffer.fill(7);
      loan.publish(3);
      assert.deepEqual([...(channel.tryReceive()?.buffer ?? [])], [7, 7, 7]);
    } finally {
      channel.close();
    }
  });

  it('refuses publishing a small loan whose memory was transferred away, and publishes nothing', () => {
    const channel = createChannel({ slotSize: 64, slots: 2 });
    try {
      const loan = channel.tryLoan(32);
      assert.ok(loan);
      const memory = loan.buffer.buffer as ArrayBuffer;
      structuredClone(memory, { transfer: [memory] });
      assert.equal(loan.buffer.length, 0);
      assert.throws(
        () => loan.publish(),
        (error) => codeOf(error) === 'EINVAL',
      );
      assert.equal(channel.tryReceive(), undefined, 'nothing was published');
      const next = channel.tryLoan(8);
      assert.ok(next, 'the slot went back: a new loan is possible');
      next.cancel();
    } finally {
      channel.close();
    }
  });

  it('closing detaches the views still live: a held message and an open loan read as empty', () => {
    const channel = createChannel({ slotSize: 8192, slots: 4 });
    channel.trySend(Buffer.alloc(5000, 1));
    const message = channel.tryReceive();
    const loan = channel.tryLoan(6000);
    const view = message?.buffer;
    const written = loan?.buffer;
    assert.equal(view?.length, 5000);
    assert.equal(written?.length, 6000);
    channel.close();
    assert.equal(view?.length, 0);
    assert.equal(written?.length, 0);
  });

  it('a small loan whose scratch is written after publish changes nothing that was sent', () => {
    const channel = createChannel({ slotSize: 64, slots: 4 });
    try {
      const loan = channel.tryLoan(8);
      assert.ok(loan);
      loan.buffer.fill(1);
      loan.publish();
      loan.buffer.fill(2);
      assert.deepEqual([...(channel.tryReceive()?.buffer ?? [])], [1, 1, 1, 1, 1, 1, 1, 1]);
      const next = channel.tryLoan(8);
      assert.ok(next);
      const apart = next.buffer.buffer !== loan.buffer.buffer || next.buffer.byteOffset >= loan.buffer.byteOffset + 8;
      assert.ok(apart, 'a scratch is never handed out twice');
      next.cancel();
    } finally {
      channel.close();
    }
  });

  it('refuses publishing twice, a second open loan, a message longer than its slot', () => {
    const channel = createChannel({ slotSize: 64, slots: 4 });
    try {
      const loan = channel.tryLoan(8);
      assert.ok(loan);
      assert.throws(
        () => channel.tryLoan(8),
        (error) => codeOf(error) === 'ERR_ZEROCOPY_LOAN_STATE',
      );
      loan.publish();
      assert.throws(
        () => loan.publish(),
        (error) => codeOf(error) === 'ERR_ZEROCOPY_LOAN_STATE',
      );
      assert.throws(
        () => channel.tryLoan(65),
        (error) => codeOf(error) === 'ERR_OUT_OF_RANGE',
      );
      assert.throws(
        () => channel.trySend(Buffer.alloc(65)),
        (error) => codeOf(error) === 'ERR_OUT_OF_RANGE',
      );
      const cancelled = channel.tryLoan(8);
      cancelled?.cancel();
      assert.ok(channel.tryLoan(8), 'a cancelled loan gives its slot back');
    } finally {
      channel.close();
    }
  });

  it('blocks the producer when the ring is full (backpressure) until the consumer releases', async () => {
    const channel = createChannel({ slotSize: 64, slots: 4 });
    try {
      for (let i = 0; i < 4; i++) assert.equal(channel.trySend(Buffer.from([i])), true);
      assert.equal(channel.trySend(Buffer.from([9])), false);
      const pending = channel.send(Buffer.from([4]));
      const message = channel.tryReceive();
      assert.equal(message?.buffer[0], 0);
      message?.release();
      await within(pending, 5000, 'the blocked send');
      const seen: number[] = [];
      for (let m = channel.tryReceive(); m !== undefined; m = channel.tryReceive()) seen.push(m.buffer[0] as number);
      assert.deepEqual(seen, [1, 2, 3, 4]);
    } finally {
      channel.close();
    }
  });

  it('ends a wait with AbortError when aborted', async () => {
    const channel = createChannel({ slotSize: 64, slots: 2 });
    try {
      const controller = new AbortController();
      const receiving = channel.receive({ signal: controller.signal });
      setTimeout(() => controller.abort(), 20);
      await assert.rejects(receiving, (error) => codeOf(error) === 'ABORT_ERR');
      channel.trySend(Buffer.from('x'));
      channel.trySend(Buffer.from('y'));
      await assert.rejects(
        channel.send(Buffer.from('z'), { signal: AbortSignal.timeout(20) }),
        (error) => codeOf(error) === 'ABORT_ERR',
      );
      assert.equal((await channel.receive())?.buffer.toString(), 'x', 'the channel still works after aborts');
    } finally {
      channel.close();
    }
  });

  it('ends the stream (null) when the producer closes, after every message was read', async () => {
    const channel = createChannel({ slotSize: 64, slots: 4 });
    const reader = openChannel({ fd: channel.fd });
    try {
      channel.trySend(Buffer.from('last'));
      channel.producer().close();
      const seen: string[] = [];
      for await (const message of reader) seen.push(message.buffer.toString());
      assert.deepEqual(seen, ['last']);
    } finally {
      reader.close();
      channel.close();
    }
  });

  it('puts a consumer whose producer is in this process to sleep on an eventfd, closed with the channel', async () => {
    const before = eventfds();
    const channel = createChannel({ slotSize: 64, slots: 2 });
    try {
      channel.producer();
      const receiving = channel.receive();
      assert.equal(eventfds(), before + 1, 'the wait sleeps on an eventfd of its own');
      setTimeout(() => channel.trySend(Buffer.from('up')), 20);
      assert.equal((await within(receiving, 10_000, 'the wake-up'))?.buffer.toString(), 'up');
      const again = channel.receive();
      setTimeout(() => channel.trySend(Buffer.from('again')), 20);
      assert.equal((await within(again, 10_000, 'the second wake-up'))?.buffer.toString(), 'again');
    } finally {
      channel.close();
    }
    assert.equal(eventfds(), before, 'closing closes the eventfd');
  });

  it('puts a producer whose consumer is in this process to sleep on an eventfd while the ring is full', async () => {
    const before = eventfds();
    const channel = createChannel({ slotSize: 64, slots: 2 });
    try {
      const subscriber = channel.subscribe();
      channel.trySend(Buffer.from('a'));
      channel.trySend(Buffer.from('b'));
      const sending = channel.send(Buffer.from('c'));
      assert.equal(eventfds(), before + 1, 'the wait for space sleeps on an eventfd of its own');
      setTimeout(() => subscriber.tryReceive()?.release(), 20);
      await within(sending, 10_000, 'the wake-up for space');
      const seen: string[] = [];
      for (let message = subscriber.tryReceive(); message !== undefined; message = subscriber.tryReceive()) {
        seen.push(message.buffer.toString());
      }
      assert.deepEqual(seen, ['b', 'c']);
    } finally {
      channel.close();
    }
    assert.equal(eventfds(), before, 'closing closes the eventfd');
  });

  it('wakes a consumer asleep on the event loop when a Worker publishes (would hang without the wake-up)', async () => {
    const channel = createChannel({ slotSize: 64, slots: 4 });
    try {
      const subscriber = channel.subscribe();
      const receiving = subscriber.receive();
      // The producer starts only after the consumer is asleep.
      const worker = new Worker(
        `const { workerData } = require('node:worker_threads');
         setTimeout(async () => {
           const { openChannel } = await import(workerData.module);
           const channel = openChannel(workerData.handle);
           channel.trySend(Buffer.from('wake'));
           channel.close();
         }, 100);`,
        {
          eval: true,
          workerData: { handle: channel.handle, module: new URL('../../src/index.js', import.meta.url).href },
        },
      );
      const exited = new Promise((resolve) => worker.once('exit', resolve));
      const message = await within(receiving, 10_000, 'the wake-up');
      assert.equal(message?.buffer.toString(), 'wake');
      await exited;
    } finally {
      channel.close();
    }
  });

  it('gives up to maxSubscribers places and refuses one more', () => {
    const channel = createChannel({ slotSize: 64, slots: 4, mode: 'broadcast', maxSubscribers: 2 });
    const others = [openChannel({ fd: channel.fd }), openChannel({ fd: channel.fd })];
    try {
      channel.subscribe();
      others[0]?.subscribe();
      assert.throws(
        () => others[1]?.subscribe(),
        (error) => codeOf(error) === 'ERR_ZEROCOPY_CHANNEL_BUSY',
      );
      assert.throws(
        () => others[1]?.producer() && openChannel({ fd: channel.fd }).producer(),
        (error) => codeOf(error) === 'ERR_ZEROCOPY_CHANNEL_BUSY',
      );
    } finally {
      for (const other of others) other.close();
      channel.close();
    }
  });
});

describe('broadcast', () => {
  it('block: every subscriber gets every message; the slowest holds the producer back', async () => {
    const channel = createChannel({ slotSize: 64, slots: 4, mode: 'broadcast' });
    const fast = openChannel({ fd: channel.fd });
    const slow = openChannel({ fd: channel.fd });
    try {
      fast.subscribe();
      slow.subscribe();
      for (let i = 0; i < 4; i++) assert.ok(channel.trySend(Buffer.from([i])));
      for (let i = 0; i < 4; i++) fast.tryReceive()?.release();
      assert.equal(channel.trySend(Buffer.from([4])), false, 'the slow subscriber has read nothing');
      slow.tryReceive()?.release();
      assert.equal(channel.trySend(Buffer.from([4])), true);
      const rest: number[] = [];
      for (let m = slow.tryReceive(); m !== undefined; m = slow.tryReceive()) rest.push(m.buffer[0] as number);
      assert.deepEqual(rest, [1, 2, 3, 4]);
      assert.equal(fast.tryReceive()?.buffer[0], 4);
    } finally {
      fast.close();
      slow.close();
      channel.close();
    }
  });

  it('overwrite: the producer never waits for a lagging subscriber, which is told exactly how many it missed', () => {
    const channel = createChannel({ slotSize: 64, slots: 8, mode: 'broadcast', overflow: 'overwrite' });
    const lagging = openChannel({ fd: channel.fd });
    try {
      const subscriber = lagging.subscribe();
      for (let i = 0; i < 100; i++) assert.ok(channel.trySend(Buffer.from([i])));
      const first = subscriber.tryReceive();
      assert.equal(first?.missed, 92);
      assert.equal(first?.sequence, 92);
      assert.equal(first?.buffer[0], 92);
      let count = 1;
      for (let m = subscriber.tryReceive(); m !== undefined; m = subscriber.tryReceive()) {
        assert.equal(m.missed, 0);
        count++;
      }
      assert.equal(count, 8);
      assert.equal(subscriber.missed, 92);
      // A held message is never overwritten: the producer waits for that one slot only.
      assert.equal(subscriber.tryReceive(), undefined);
      channel.trySend(Buffer.from([100]));
      const held = subscriber.tryReceive();
      assert.equal(held?.buffer[0], 100);
      let sent = 0;
      while (channel.trySend(Buffer.from([101 + sent])) && sent < 100) sent++;
      assert.equal(sent, 7, 'seven free slots, then the held one');
      assert.equal(held?.buffer[0], 100, 'the held message was not rewritten');
    } finally {
      lagging.close();
      channel.close();
    }
  });
});

describe('resources', () => {
  it('descriptors and mappings are back to baseline after 1,000 channels created and closed', () => {
    const descriptors = openDescriptors();
    const mappings = channelMappings();
    for (let i = 0; i < 1000; i++) {
      const channel = createChannel({ slotSize: 4096, slots: 4 });
      const peer = openChannel(channel.handle);
      channel.trySend(Buffer.from('x'));
      const message = peer.tryReceive();
      assert.equal(message?.buffer.toString(), 'x');
      if (i % 2 === 0) message?.release(); // the others are still held at close
      peer.close();
      channel.close();
    }
    assert.equal(openDescriptors(), descriptors);
    // Views carry no finalizer: the memory is unmapped at close, not at some collection.
    assert.equal(channelMappings(), mappings);
  });
});
