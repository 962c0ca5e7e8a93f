// A bare descriptor's MSG_ZEROCOPY ledger is known by the socket's inode number, and socket
// inode numbers come back around: a socket that finds a ledger left by a closed one (and so
// never had SO_ZEROCOPY turned on) must still lend its pages and get every completion back.
import assert from 'node:assert/strict';
import { fstatSync } from 'node:fs';
import type { Socket } from 'node:net';
import { before, describe, it } from 'node:test';

import { binding } from '../../src/binding/load.js';
import { transfer } from '../../src/transfer/index.js';
import { existingLedger, newLedger } from '../../src/transfer/zero-copy/ledger.js';
import { tcpPair } from '../support/fixtures.js';
import { drain, MB, payload, requireAddon, within } from '../support/transfer.js';

before(requireAddon);

function descriptorOf(socket: Socket): number {
  return (socket as unknown as { _handle: { fd: number } })._handle.fd;
}

function zeroCopyOption(fd: number): number {
  const native = binding();
  return native.getsockoptInt(fd, native.constants.SOL_SOCKET, native.constants.SO_ZEROCOPY);
}

describe('a ledger left by a closed socket with the same inode number', () => {
  it('is dropped: the new socket gets SO_ZEROCOPY, every completion, and every byte', async (t) => {
    const { client, server } = await tcpPair(t);
    const received = drain(server);
    const fd = descriptorOf(client);
    const { dev, ino } = fstatSync(fd);
    // What a closed socket with this inode number would have left (inode numbers wrap at 2^32:
    // waiting for a real reuse is out of reach of a test).
    const stale = newLedger(undefined, dev, ino);
    assert.equal(zeroCopyOption(fd), 0);
    const size = 3 * MB + 17;
    const { bytes, hash } = payload(size);
    const report = await within(transfer(bytes, fd, { zeroCopy: 'always' }), 15_000, 'the transfer');
    assert.equal(report.bytes, size);
    assert.ok(report.zeroCopy !== undefined && report.zeroCopy.sends >= 1, JSON.stringify(report.zeroCopy));
    // Resolved means every lent send was completed by the kernel (loopback copies: all say so).
    assert.equal(report.zeroCopy.copied, report.zeroCopy.sends, JSON.stringify(report.zeroCopy));
    assert.equal(zeroCopyOption(fd), 1);
    const ledger = existingLedger(undefined, dev, ino);
    assert.ok(ledger !== undefined && ledger !== stale);
    assert.equal(ledger.outstanding, 0);
    client.end();
    assert.deepEqual(await received.done, { bytes: size, hash });
  });

  it('is kept while its socket has SO_ZEROCOPY on: a second transfer goes on with the same numbering', async (t) => {
    const { client, server } = await tcpPair(t);
    const received = drain(server);
    const fd = descriptorOf(client);
    const { dev, ino } = fstatSync(fd);
    const first = payload(MB);
    await within(transfer(first.bytes, fd, { zeroCopy: 'always' }), 15_000, 'the first transfer');
    const ledger = existingLedger(undefined, dev, ino);
    assert.ok(ledger !== undefined);
    const released = ledger.released;
    const second = await within(transfer(first.bytes, fd, { zeroCopy: 'always' }), 15_000, 'the second transfer');
    assert.equal(existingLedger(undefined, dev, ino), ledger);
    assert.equal(ledger.released - released, second.zeroCopy?.sends);
    client.end();
    const got = await received.done;
    assert.equal(got.bytes, 2 * MB);
  });
});
