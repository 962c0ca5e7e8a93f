import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { channelLimits, createChannel } from '../../src/index.js';
import { fillMessage } from './content.js';
import { expectedHash, sendCountedWords, sendFilledMessages, startWorker, within } from './support.js';

const sizes = [64, 4096, 65536, 1 << 20];

describe('a channel shared with a Worker (channel.handle)', () => {
  it('carries bytes intact from 64 B to a 1 MiB slot, main thread to worker', async () => {
    const channel = createChannel({ slotSize: 1 << 20, slots: 4 });
    const peer = startWorker(channel, { role: 'consume' });
    try {
      await sendFilledMessages(channel, peer, sizes, 40);
    } finally {
      await peer.stop();
      channel.close();
    }
  });

  it('carries the largest slot the limits allow, worker to main thread', async () => {
    const largest = Math.min(channelLimits().maxSlotSize, 16 << 20);
    const channel = createChannel({ slotSize: largest, slots: 2 });
    const peer = startWorker(channel, { role: 'produce', sizes: [largest, 64], count: 4 });
    try {
      const { createHash } = await import('node:crypto');
      const hash = createHash('sha256');
      let count = 0;
      for await (const message of channel) {
        hash.update(message.buffer);
        count++;
      }
      const done = await peer.next('done');
      assert.equal(count, 4);
      assert.equal(done.kind === 'done' && done.hash, hash.digest('hex'));
      assert.equal(done.kind === 'done' && done.hash, expectedHash([largest, 64], 4).hash);
    } finally {
      await peer.stop();
      channel.close();
    }
  });

  it('delivers 1,000,000 small messages in order, none lost or duplicated', async () => {
    const channel = createChannel({ slotSize: 64, slots: 1024 });
    const peer = startWorker(channel, { role: 'count' });
    try {
      await sendCountedWords(channel, peer, 1_000_000);
    } finally {
      await peer.stop();
      channel.close();
    }
  });

  it('works in spin mode (a bounded spin, then sleep) without losing messages', async () => {
    const channel = createChannel({ slotSize: 64, slots: 8 });
    const peer = startWorker(channel, { role: 'consume', spin: 50 });
    try {
      await peer.next('ready');
      for (let i = 0; i < 2000; i++) {
        const loan = await channel.loan(64);
        fillMessage(loan.buffer, i);
        loan.publish();
      }
      channel.producer().close();
      const done = await peer.next('done');
      assert.equal(done.kind === 'done' && done.hash, expectedHash([64], 2000).hash);
    } finally {
      await peer.stop();
      channel.close();
    }
  });

  it('ends the wait of a producer whose consumer Worker was terminated', async () => {
    const channel = createChannel({ slotSize: 64, slots: 2 });
    const peer = startWorker(channel, { role: 'hold-message' });
    try {
      channel.trySend(Buffer.from('a'));
      channel.trySend(Buffer.from('b'));
      await peer.next('ready');
      const outcome = channel.send(Buffer.from('c')).then(
        () => 'sent',
        (error: { code?: string }) => error.code,
      );
      await peer.stop();
      assert.equal(await outcome, 'ERR_ZEROCOPY_PEER_GONE');
    } finally {
      channel.close();
    }
  });

  it('ends the stream for a consumer asleep on the event loop when its producer Worker is terminated', async () => {
    const channel = createChannel({ slotSize: 64, slots: 2 });
    const peer = startWorker(channel, { role: 'hold-loan' });
    try {
      await peer.next('ready');
      // The producer runs in this process now: the consumer sleeps on its eventfd.
      const receiving = channel.receive();
      await peer.stop();
      assert.equal(await within(receiving, 10_000, 'the end of the stream'), null);
    } finally {
      channel.close();
    }
  });
});
