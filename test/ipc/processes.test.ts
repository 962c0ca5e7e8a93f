import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createConnection, createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';

import { createChannel, openChannel, receiveChannel, sendChannel } from '../../src/index.js';
import { fillMessage } from './content.js';
import { expectedHash, sendCountedWords, sendFilledMessages, startChild, within } from './support.js';

const sizes = [64, 4096, 65536, 1 << 20];

function codeOf(error: unknown): string | undefined {
  return (error as { code?: string }).code;
}

describe('a channel shared with a child process (spawn stdio, openChannel({ fd: 3 }))', () => {
  it('carries bytes intact from 64 B to the 1 MiB slot, parent to child', async () => {
    const channel = createChannel({ slotSize: 1 << 20, slots: 4 });
    const peer = startChild(channel.fd, { role: 'consume' });
    try {
      await sendFilledMessages(channel, peer, sizes, 40);
      assert.equal(await peer.exited, 0);
    } finally {
      await peer.stop();
      channel.close();
    }
  });

  it('carries bytes child to parent, read in place and hashed', async () => {
    const channel = createChannel({ slotSize: 65536, slots: 8 });
    const childSizes = [64, 4096, 65536, 100];
    const peer = startChild(channel.fd, { role: 'produce', sizes: childSizes, count: 30 });
    try {
      const hash = createHash('sha256');
      let count = 0;
      for await (const message of channel) {
        hash.update(message.buffer);
        count++;
        message.release();
      }
      const done = await peer.next('done');
      assert.equal(count, 30);
      assert.equal(done.kind === 'done' && done.hash, hash.digest('hex'));
      assert.equal(done.kind === 'done' && done.hash, expectedHash(childSizes, 30).hash);
    } finally {
      await peer.stop();
      channel.close();
    }
  });

  it('delivers 200,000 small messages across processes in order, none lost or duplicated', async () => {
    const channel = createChannel({ slotSize: 64, slots: 1024 });
    const peer = startChild(channel.fd, { role: 'count' });
    try {
      await sendCountedWords(channel, peer, 200_000);
    } finally {
      await peer.stop();
      channel.close();
    }
  });
});

describe('peers killed with SIGKILL', () => {
  it('while holding a loan: the waiting consumer ends with ERR_ZEROCOPY_PEER_GONE', async () => {
    const channel = createChannel({ slotSize: 64, slots: 4 });
    const peer = startChild(channel.fd, { role: 'hold-loan' });
    try {
      await peer.next('ready');
      const receiving = channel.receive();
      peer.child.kill('SIGKILL');
      await assert.rejects(
        within(receiving, 10_000, 'the end of the wait'),
        (e) => codeOf(e) === 'ERR_ZEROCOPY_PEER_GONE',
      );
    } finally {
      await peer.stop();
      channel.close();
    }
  });

  it('while the producer waits for space: its wait ends, and the slot the consumer held is returned', async () => {
    const channel = createChannel({ slotSize: 64, slots: 2 });
    const peer = startChild(channel.fd, { role: 'hold-message' });
    try {
      channel.trySend(Buffer.from('held'));
      channel.trySend(Buffer.from('next'));
      await peer.next('ready');
      const sending = channel.send(Buffer.from('late'));
      peer.child.kill('SIGKILL');
      await assert.rejects(
        within(sending, 10_000, 'the end of the wait'),
        (e) => codeOf(e) === 'ERR_ZEROCOPY_PEER_GONE',
      );
      // A new consumer gets what the dead one had not released, then the rest.
      const seen: string[] = [];
      for (let m = channel.tryReceive(); m !== undefined; m = channel.tryReceive()) seen.push(m.buffer.toString());
      assert.deepEqual(seen, ['held', 'next']);
    } finally {
      await peer.stop();
      channel.close();
    }
  });

  it('mid-burst: the consumer gets every message published before the death, then ERR_ZEROCOPY_PEER_GONE', async () => {
    const channel = createChannel({ slotSize: 64, slots: 4096 });
    const peer = startChild(channel.fd, { role: 'produce', sizes: [64], count: 10_000_000 });
    try {
      let count = 0;
      const killAt = 5000;
      const error = await within(
        (async () => {
          try {
            for await (const message of channel) {
              if (message.sequence !== count) throw new Error(`out of order at ${count}`);
              count++;
              if (count === killAt) peer.child.kill('SIGKILL');
            }
          } catch (caught) {
            return caught;
          }
          return undefined;
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

  it('a child producer waiting for space ends with ERR_ZEROCOPY_PEER_GONE when the consumer closes', async () => {
    const channel = createChannel({ slotSize: 64, slots: 2 });
    const peer = startChild(channel.fd, { role: 'wait-space' });
    try {
      const subscriber = channel.subscribe();
      await peer.next('ready');
      subscriber.close();
      const report = await peer.next('error', 10_000);
      assert.equal(report.kind === 'error' && report.code, 'ERR_ZEROCOPY_PEER_GONE');
    } finally {
      await peer.stop();
      channel.close();
    }
  });
});

describe('a peer that writes garbage over the header', () => {
  it('can corrupt messages but never crash, overrun or hang this process', async () => {
    const channel = createChannel({ slotSize: 256, slots: 8, mode: 'broadcast', overflow: 'overwrite' });
    // Attached before the scribbling starts: attaching later checks the header and refuses.
    const producer = channel.producer();
    const subscriber = channel.subscribe();
    const peer = startChild(channel.fd, { role: 'scribble', milliseconds: 1500 });
    try {
      await peer.next('ready');
      let received = 0;
      let refused = 0;
      const outcomes = new Set<string>();
      const end = Date.now() + 1000;
      while (Date.now() < end) {
        try {
          producer.trySend(Buffer.alloc(100, 7));
          const message = subscriber.tryReceive();
          if (message !== undefined) {
            assert.ok(message.buffer.length <= 256);
            message.buffer.fill(1);
            received++;
          }
          const waited = await subscriber
            .receive({ signal: AbortSignal.timeout(5) })
            .then(() => 'received')
            .catch((error) => codeOf(error) ?? 'unknown');
          outcomes.add(waited);
        } catch (error) {
          outcomes.add(codeOf(error) ?? 'unknown');
          refused++;
        }
      }
      assert.throws(
        () => openChannel({ fd: channel.fd }),
        (error) => codeOf(error) === 'ERR_INVALID_ARG_VALUE',
      );
      const done = await peer.next('done');
      assert.ok(done.kind === 'done' && done.count > 0, 'the scribbler ran');
      for (const outcome of outcomes) {
        assert.ok(
          [
            'received',
            'ABORT_ERR',
            'ERR_ZEROCOPY_CORRUPT_MESSAGE',
            'ERR_ZEROCOPY_PEER_GONE',
            'ERR_ZEROCOPY_LOAN_STATE',
          ].includes(outcome),
          `unexpected outcome ${outcome}`,
        );
      }
      assert.ok(received + refused > 0);
    } finally {
      await peer.stop();
      channel.close();
    }
  });
});

describe('a channel passed over a Unix socket (SCM_RIGHTS)', () => {
  it('reaches an unrelated socket peer, which maps the same memory', async () => {
    const directory = mkdtempSync(join(tmpdir(), 'zerocopy-channel-'));
    const path = join(directory, 'socket');
    const accepted = new Promise<Socket>((resolve) => {
      const server = createServer({ pauseOnConnect: true }, (socket) => {
        server.close();
        resolve(socket);
      });
      server.listen(path);
    });
    const channel = createChannel({ slotSize: 4096, slots: 4 });
    const client = createConnection(path);
    try {
      await new Promise((resolve) => client.once('connect', resolve));
      await sendChannel(client, channel);
      const serverSide = await accepted;
      const received = await within(receiveChannel(serverSide), 10_000, 'the descriptor');
      try {
        assert.notEqual(received.fd, channel.fd);
        assert.equal(received.slotSize, 4096);
        const loan = await channel.loan(4096);
        fillMessage(loan.buffer, 7);
        loan.publish();
        const message = await received.receive();
        const expected = Buffer.alloc(4096);
        fillMessage(expected, 7);
        assert.ok(message?.buffer.equals(expected));
      } finally {
        received.close();
        serverSide.destroy();
      }
    } finally {
      client.destroy();
      channel.close();
      rmSync(directory, { recursive: true, force: true });
    }
  });
});
