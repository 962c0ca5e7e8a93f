// The native relay's events as a pair's listener hears them: the kinds are numbered by the
// addon (Relay.eventKinds), and each must reach the listener method it means.
import assert from 'node:assert/strict';
import { readSync, writeSync } from 'node:fs';
import { constants } from 'node:os';
import { describe, it, type TestContext } from 'node:test';

import { close, socketPair } from '../../src/index.js';
import { type RelayListener, relayHub } from '../../src/proxy/native-relay.js';
import { delay } from '../support/fixtures.js';

type Heard = Array<[keyof RelayListener, ...unknown[]]>;

/** A listener that writes down what it hears. */
function recorder(heard: Heard): RelayListener {
  return {
    moved: (aToB, bToA) => heard.push(['moved', aToB, bToA]),
    spliced: (aToB, bToA) => heard.push(['spliced', aToB, bToA]),
    ended: (direction) => heard.push(['ended', direction]),
    switched: (direction) => heard.push(['switched', direction]),
    failed: (direction, errno, syscall) => heard.push(['failed', direction, errno, syscall]),
  };
}

/** Waits (at most 5 s) until the listener has heard `event`. */
async function heardEventually(heard: Heard, event: unknown[]): Promise<void> {
  for (let waited = 0; waited < 5_000; waited += 5) {
    if (heard.some((entry) => JSON.stringify(entry) === JSON.stringify(event))) return;
    await delay(5);
  }
  assert.fail(`never heard ${JSON.stringify(event)}; heard ${JSON.stringify(heard)}`);
}

/**
 * Two socket pairs joined by the relay: bytes written to `a` come out of `b` and back. The
 * relay works on dups of the inner ends, closed here at once. `closeEnd` closes `a` or `b`
 * once; the test's end closes whatever is still open.
 */
function joinedPairs(t: TestContext, heard: Heard): { a: number; b: number; closeEnd: (fd: number) => void } {
  const hub = relayHub();
  if (hub === undefined) assert.fail('the native relay is not available');
  const [a, innerA] = socketPair({ nonBlocking: true });
  const [innerB, b] = socketPair({ nonBlocking: true });
  const id = hub.add(innerA, innerB, 0, [null, null], true, recorder(heard));
  close(innerA);
  close(innerB);
  assert.ok(id !== undefined);
  const open = new Set([a, b]);
  const closeEnd = (fd: number) => {
    if (open.delete(fd)) close(fd);
  };
  t.after(() => {
    hub.remove(id);
    for (const fd of open) closeEnd(fd);
  });
  return { a, b, closeEnd };
}

describe('the native relay tells a pair its events', () => {
  it('as bytes moved, a FIN read, and a send that failed', async (t) => {
    const heard: Heard = [];
    const { a, b, closeEnd } = joinedPairs(t, heard);
    writeSync(a, 'hello');
    await heardEventually(heard, ['moved', 5, 0]);
    const received = Buffer.alloc(16);
    assert.equal(readSync(b, received), 5);
    assert.equal(received.subarray(0, 5).toString(), 'hello');

    closeEnd(a);
    await heardEventually(heard, ['ended', 0]);
    writeSync(b, 'nobody reads this');
    await heardEventually(heard, ['failed', 1, constants.errno.EPIPE, 'send']);
  });

  it('as a receive that failed (the peer closed with bytes unread)', async (t) => {
    const heard: Heard = [];
    const { a, b, closeEnd } = joinedPairs(t, heard);
    writeSync(b, 'left unread');
    await heardEventually(heard, ['moved', 0, 11]);
    closeEnd(a);
    await heardEventually(heard, ['failed', 0, constants.errno.ECONNRESET, 'recv']);
  });
});
