// A dgram.Socket as transfer()'s destination: the datagrams arrive whole, the socket receives
// again once the transfer settles (it is paused meanwhile, so that Node's event loop does not
// read the zero-copy completions off its error queue: on the veth rig, see
// zerocopy-send-veth.test.ts), and a socket without a descriptor is refused up front.
import assert from 'node:assert/strict';
import { createSocket, type Socket as DatagramSocket } from 'node:dgram';
import { before, describe, it } from 'node:test';

import { transfer } from '../../src/transfer/index.js';
import { sha256 } from '../support/fixtures.js';
import { datagramPair, eventually, payload, requireAddon, within } from '../support/transfer.js';

before(requireAddon);

function messageTo(socket: DatagramSocket): Promise<string> {
  return new Promise((resolve) => socket.once('message', (message) => resolve(message.toString())));
}

describe('transfer() into a dgram.Socket', () => {
  for (const zeroCopy of ['always', 'never'] as const) {
    it(`the datagrams arrive whole (zeroCopy: '${zeroCopy}')`, async (t) => {
      const { sender, received } = await datagramPair(t);
      // Three datagrams: two of the largest UDP payload and a tail.
      const { bytes, hash } = payload(150_000);
      const report = await within(transfer(bytes, sender, { zeroCopy }), 10_000, 'the transfer');
      assert.equal(report.bytes, bytes.byteLength);
      assert.equal(report.zeroCopy?.used, zeroCopy === 'always', JSON.stringify(report.zeroCopy));
      await eventually(
        () => received.reduce((sum, message) => sum + message.byteLength, 0) >= bytes.byteLength,
        10_000,
        'every datagram',
      );
      assert.equal(received.length, 3);
      assert.equal(sha256(Buffer.concat(received)), hash);
    });
  }

  it('receives again once the transfer settles, and once the last of two at a time does', async (t) => {
    const { receiver, sender } = await datagramPair(t);
    const { bytes } = payload(100_000);
    await within(transfer(bytes, sender, { zeroCopy: 'always' }), 10_000, 'the transfer');
    const first = messageTo(sender);
    receiver.send('after one', sender.address().port, '127.0.0.1');
    assert.equal(await within(first, 10_000, 'a datagram after one transfer'), 'after one');
    await within(
      Promise.all([transfer(bytes, sender, { zeroCopy: 'always' }), transfer(bytes, sender, { zeroCopy: 'always' })]),
      10_000,
      'two transfers at once',
    );
    const second = messageTo(sender);
    receiver.send('after two', sender.address().port, '127.0.0.1');
    assert.equal(await within(second, 10_000, 'a datagram after two transfers'), 'after two');
  });

  it('a datagram that arrives while it is paused is delivered after, not lost', async (t) => {
    const { receiver, sender } = await datagramPair(t);
    const { bytes } = payload(100_000);
    const arrived: string[] = [];
    sender.on('message', (message) => arrived.push(message.toString()));
    // Sent before the transfer's first await: it waits in the receive buffer while paused.
    const pending = transfer(bytes, sender, { zeroCopy: 'always' });
    receiver.send('meanwhile', sender.address().port, '127.0.0.1');
    await within(pending, 10_000, 'the transfer');
    await eventually(() => arrived.length === 1, 10_000, 'the datagram sent meanwhile');
    assert.deepEqual(arrived, ['meanwhile']);
  });

  it('a dgram socket that is not bound, or was closed, is refused', async (t) => {
    const unbound = createSocket('udp4');
    t.after(() => unbound.close());
    await assert.rejects(transfer(Buffer.alloc(10), unbound), { code: 'ERR_SOCKET_DGRAM_NOT_RUNNING' });
    const closed = createSocket('udp4');
    await new Promise<void>((resolve) => closed.bind(0, '127.0.0.1', resolve));
    await new Promise<void>((resolve) => closed.close(resolve));
    await assert.rejects(transfer(Buffer.alloc(10), closed), { code: 'ERR_SOCKET_DGRAM_NOT_RUNNING' });
  });
});
