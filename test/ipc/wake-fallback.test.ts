// The wake-up across processes goes to an abstract Unix socket the sleeper binds. A sleeper
// in another network namespace cannot be reached by that name: the producer marks it
// unreachable, the sleeper's own timer finds the message, and from then on it sleeps on the
// futex (the waiter thread). Here the consumer runs under `unshare --net`.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';

import { createChannel } from '../../src/index.js';
import { fillMessage } from './content.js';
import { expectedHash, startChild, within } from './support.js';

/** Abstract wake socket names bound in the network namespace of `pid` (/proc/PID/net/unix is that namespace's view). */
function wakeNames(pid: number | 'self'): string[] {
  return readFileSync(`/proc/${pid}/net/unix`, 'utf8')
    .split('\n')
    .map((line) => line.trim().split(/\s+/)[7] ?? '')
    .filter((path) => path.startsWith('@zerocopy-wake/'));
}

async function until(what: string, check: () => boolean): Promise<void> {
  await within(
    (async () => {
      while (!check()) await sleep(10);
    })(),
    10_000,
    what,
  );
}

/** Why a consumer cannot be put in a network namespace of its own here, or null if it can. */
function netnsUnavailable(): string | null {
  const probe = spawnSync('unshare', ['--net', 'true'], { stdio: 'ignore', timeout: 10_000 });
  if (probe.error !== undefined) return `unshare is not available (${probe.error.message})`;
  if (probe.status !== 0) return 'unshare --net failed (needs CAP_SYS_ADMIN: run as root)';
  return null;
}

describe('the wake-up fallback when the wake socket cannot be reached', () => {
  it('a consumer in another network namespace still gets every message, bytes intact, without hanging', async (t) => {
    const reason = netnsUnavailable();
    if (reason !== null) {
      t.skip(reason);
      return;
    }
    const channel = createChannel({ slotSize: 4096, slots: 8 });
    const peer = startChild(channel.fd, { role: 'consume' }, ['unshare', '--net']);
    try {
      await peer.next('ready');
      const pid = peer.child.pid as number;
      const isChilds = (name: string) => name.endsWith(`/${pid}`);
      // The consumer sleeps on its wake socket, bound in its namespace, invisible in ours.
      await until('the consumer binding its wake socket', () => wakeNames(pid).some(isChilds));
      assert.equal(wakeNames('self').filter(isChilds).length, 0, 'the name is not reachable from here');
      const sizes = [64, 4096, 1, 1000];
      const total = 12;
      const publish = async (index: number) => {
        const loan = await channel.loan(sizes[index % sizes.length] as number);
        fillMessage(loan.buffer, index);
        loan.publish();
      };
      await publish(0);
      // The send failed, the consumer found the message on its timer and gave up the socket.
      await until('the consumer closing the unreachable wake socket', () => !wakeNames(pid).some(isChilds));
      for (let i = 1; i < total; i++) {
        // Pauses, so that the consumer is asleep (now on the futex) when most messages come.
        await sleep(20);
        await publish(i);
      }
      channel.producer().close();
      const done = await peer.next('done', 20_000);
      const expected = expectedHash(sizes, total);
      assert.deepEqual(done, { kind: 'done', count: total, bytes: expected.bytes, hash: expected.hash, missed: 0 });
      assert.equal(await within(peer.exited, 10_000, 'the consumer exiting'), 0);
    } finally {
      await peer.stop();
      channel.close();
    }
  });
});
