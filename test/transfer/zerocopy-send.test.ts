// A Buffer into a socket by MSG_ZEROCOPY: the bytes arrive whole at a real receiver across the
// threshold, a copying socket (loopback) switches itself back to plain sends, the kernel
// running out of room for completions (ENOBUFS) costs no byte, and bad options change nothing.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { before, describe, it, type TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

import { type TransferError, transfer, ZERO_COPY_SEND_BYTES } from '../../src/transfer/index.js';
import { orphanedBytes } from '../../src/transfer/zero-copy/ledger.js';
import { openDescriptorCount, sha256, tcpPair } from '../support/fixtures.js';
import {
  datagramPair,
  drain,
  eventually,
  fileWith,
  KB,
  MB,
  payload,
  requireAddon,
  slowDrain,
  unixPair,
  within,
} from '../support/transfer.js';

before(requireAddon);

const child = fileURLToPath(new URL('../support/zerocopy-send-child.js', import.meta.url));

describe('sizes around the zero-copy threshold', () => {
  const threshold = ZERO_COPY_SEND_BYTES;
  // On loopback the kernel copies every lent send, so the method is 'write' either way; what
  // differs is whether the pages were lent (report.zeroCopy.used).
  const cases: Array<[string, number, boolean]> = [
    ['threshold - 1', threshold - 1, false],
    ['threshold', threshold, true],
    ['threshold + 1', threshold + 1, true],
    ['1 MiB', MB, true],
    ['64 MiB', 64 * MB, true],
  ];
  for (const [name, size, lent] of cases) {
    it(`${name} (${size} bytes) arrives whole on a fresh socket, ${lent ? 'lent' : 'copied'}`, async (t) => {
      const { client, server } = await tcpPair(t);
      const received = drain(server);
      const { bytes, hash } = payload(size);
      const report = await transfer(bytes, client);
      client.end();
      assert.equal(report.bytes, size);
      assert.equal(report.method, 'write');
      assert.equal(report.zeroCopy?.used, lent, JSON.stringify(report.zeroCopy));
      if (!lent) assert.match(report.zeroCopy?.reason ?? '', /below the zero-copy threshold/);
      else assert.ok((report.zeroCopy?.copied ?? 0) >= 1, JSON.stringify(report.zeroCopy));
      assert.deepEqual(await received.done, { bytes: size, hash });
    });
  }

  it('zeroCopy "always" lends every send, even below the threshold and on loopback, and the bytes arrive whole', async (t) => {
    const { client, server } = await tcpPair(t);
    const received = drain(server);
    const sizes = [1, threshold - 1, threshold + 1, 3 * MB + 17];
    let expectedBytes = 0;
    for (const size of sizes) {
      const report = await transfer(payload(size).bytes, client, { zeroCopy: 'always' });
      assert.equal(report.method, 'write');
      assert.ok(report.zeroCopy !== undefined && report.zeroCopy.sends >= 1 && report.zeroCopy.plainSends === 0);
      // Resolved means released: every lent send has its completion (loopback copies: all say so).
      assert.equal(report.zeroCopy.copied, report.zeroCopy.sends, JSON.stringify(report.zeroCopy));
      expectedBytes += size;
    }
    client.end();
    const got = await received.done;
    assert.equal(got.bytes, expectedBytes);
    const { createHash } = await import('node:crypto');
    const hasher = createHash('sha256');
    for (const size of sizes) hasher.update(payload(size).bytes);
    assert.equal(got.hash, hasher.digest('hex'));
  });

  it('a smaller zeroCopyBytes moves the threshold', async (t) => {
    const { client, server } = await tcpPair(t);
    const received = drain(server);
    const report = await transfer(payload(8 * KB).bytes, client, { zeroCopyBytes: 4 * KB });
    client.end();
    assert.equal(report.zeroCopy?.used, true);
    assert.deepEqual(await received.done, { bytes: 8 * KB, hash: payload(8 * KB).hash });
  });
});

describe('the switch back to plain sends where the kernel copies', () => {
  it('on loopback, the first completions say COPIED and the rest of the transfer, and the next ones, copy', async (t) => {
    const { client, server } = await tcpPair(t);
    const received = drain(server);
    const first = await transfer(payload(16 * MB).bytes, client);
    assert.equal(first.method, 'write');
    assert.equal(first.zeroCopy?.used, true);
    const stats = first.zeroCopy;
    assert.ok(stats !== undefined && stats.copied >= 1, JSON.stringify(stats));
    assert.ok(
      stats.plainSends >= 1,
      `expected the switch to plain sends within the transfer: ${JSON.stringify(stats)}`,
    );
    assert.ok(stats.sends < stats.plainSends, JSON.stringify(stats));
    assert.match(stats.reason, /copied/);
    const second = await transfer(payload(MB).bytes, client);
    assert.equal(second.method, 'write');
    assert.equal(second.zeroCopy?.used, false);
    assert.match(second.zeroCopy?.reason ?? '', /earlier completions on this socket said the kernel copies/);
    client.end();
    const got = await received.done;
    assert.equal(got.bytes, 17 * MB);
  });

  it('zeroCopy "never" sends plainly and says so', async (t) => {
    const { client, server } = await tcpPair(t);
    const received = drain(server);
    const report = await transfer(payload(MB).bytes, client, { zeroCopy: 'never' });
    client.end();
    assert.equal(report.method, 'write');
    assert.equal(report.zeroCopy?.reason, 'turned off (zeroCopy: "never")');
    assert.deepEqual(await received.done, { bytes: MB, hash: payload(MB).hash });
  });

  it('a Unix socket has no zero-copy send: auto copies and says why', async (t) => {
    const { client, server } = await unixPair(t);
    const received = drain(server);
    const report = await transfer(payload(MB).bytes, client);
    client.end();
    assert.equal(report.method, 'write');
    assert.match(report.zeroCopy?.reason ?? '', /Unix socket has no zero-copy send/);
    assert.deepEqual(await received.done, { bytes: MB, hash: payload(MB).hash });
  });
});

/** Runs the child in a network namespace of its own; undefined (skipped out loud) where that cannot be made. */
async function inNamespace(
  t: TestContext,
  command: string[],
): Promise<
  | { report: { method: string; zeroCopy: Record<string, unknown> }; sent: number; received: number; intact: boolean }
  | undefined
> {
  try {
    await promisify(execFile)('unshare', ['-n', 'true']);
  } catch (error) {
    t.skip(`cannot make a network namespace (unshare -n): ${(error as Error).message.split('\n')[0]}`);
    return undefined;
  }
  const { stdout } = await promisify(execFile)(command[0] as string, command.slice(1), { timeout: 60_000 });
  return JSON.parse(stdout.trim().split('\n').at(-1) as string);
}

describe('UDP', () => {
  for (const zeroCopy of ['auto', 'never'] as const) {
    it(`a 1 MiB Buffer goes out as whole datagrams of at most the path MTU (zeroCopy '${zeroCopy}')`, async (t) => {
      const { sender, received: datagrams } = await datagramPair(t);
      const { bytes, hash } = payload(MB);
      const fd = (sender as unknown as { _handle: { fd: number } })._handle.fd;
      const report = await transfer(bytes, fd, { zeroCopy });
      assert.equal(report.bytes, MB);
      assert.equal(report.method, 'write');
      await eventually(() => datagrams.reduce((sum, d) => sum + d.byteLength, 0) >= MB, 10_000, 'every datagram');
      assert.ok(datagrams.every((datagram) => datagram.byteLength <= 65_507));
      assert.equal(sha256(Buffer.concat(datagrams)), hash);
    });
  }
});

describe('when the kernel has no room for more zero-copy sends (ENOBUFS)', () => {
  it('a tiny net.core.optmem_max: waits for completions, then goes on; every byte arrives once', async (t) => {
    // optmem_max is per network namespace: 1 KiB holds about one unread completion.
    const result = await inNamespace(t, ['unshare', '-n', '--', process.execPath, child, '1024', String(8 * MB)]);
    if (result === undefined) return;
    assert.equal(result.report.zeroCopy.used, true);
    assert.ok((result.report.zeroCopy.noBufferSpace as number) >= 1, JSON.stringify(result.report.zeroCopy));
    assert.ok((result.report.zeroCopy.releaseWaits as number) >= 1, JSON.stringify(result.report.zeroCopy));
    assert.equal(result.received, 8 * MB);
    assert.equal(result.intact, true);
  });

  it('a tiny RLIMIT_MEMLOCK without CAP_IPC_LOCK: sends the kernel cannot pin are copied; every byte arrives once', async (t) => {
    let capsh = true;
    try {
      await promisify(execFile)('capsh', ['--drop=cap_ipc_lock', '--', '-c', 'prlimit --memlock=131072 true']);
    } catch {
      capsh = false;
    }
    if (!capsh) {
      t.skip('capsh or prlimit is missing: cannot run a child without CAP_IPC_LOCK under a small RLIMIT_MEMLOCK');
      return;
    }
    const script = `prlimit --memlock=131072 '${process.execPath}' '${child}' 131072 ${8 * MB}`;
    const result = await inNamespace(t, ['unshare', '-n', '--', 'capsh', '--drop=cap_ipc_lock', '--', '-c', script]);
    if (result === undefined) return;
    assert.ok((result.report.zeroCopy.noBufferSpace as number) >= 1, JSON.stringify(result.report.zeroCopy));
    assert.ok((result.report.zeroCopy.plainSends as number) >= 1, JSON.stringify(result.report.zeroCopy));
    assert.equal(result.received, 8 * MB);
    assert.equal(result.intact, true);
  });
});

describe('errors and cleanup', () => {
  it('refuses bad options before sending anything', async (t) => {
    const { client, server } = await tcpPair(t);
    const received = drain(server);
    const bytes = payload(MB).bytes;
    const cases: Array<[Record<string, unknown>, string]> = [
      [{ zeroCopy: 'sometimes' }, 'ERR_INVALID_ARG_VALUE'],
      [{ zeroCopy: true }, 'ERR_INVALID_ARG_VALUE'],
      [{ zeroCopyBytes: 0 }, 'ERR_OUT_OF_RANGE'],
      [{ zeroCopyBytes: 1.5 }, 'ERR_OUT_OF_RANGE'],
      [{ zeroCopyBytes: '32768' }, 'ERR_INVALID_ARG_TYPE'],
    ];
    for (const [options, code] of cases) {
      await assert.rejects(transfer(bytes, client, options as never), { code }, JSON.stringify(options));
    }
    client.end();
    assert.equal((await received.done).bytes, 0);
  });

  it('zeroCopy "always" where no Buffer goes into a socket is an argument error', async (t) => {
    const { client, server } = await tcpPair(t);
    drain(server);
    const path = fileWith(t, payload(MB).bytes);
    await assert.rejects(transfer(path, client, { zeroCopy: 'always' }), (error: TransferError) => {
      assert.equal(error.code, 'ERR_INVALID_ARG_VALUE');
      assert.match(error.message, /options\.zeroCopy/);
      return true;
    });
  });

  it('zeroCopy "always" on a Unix socket fails with ERR_ZEROCOPY_UNSUPPORTED and sends nothing', async (t) => {
    const { client, server } = await unixPair(t);
    const received = drain(server);
    await assert.rejects(transfer(payload(MB).bytes, client, { zeroCopy: 'always' }), (error: TransferError) => {
      assert.equal(error.code, 'ERR_ZEROCOPY_UNSUPPORTED');
      assert.equal(error.bytesTransferred, 0);
      return true;
    });
    client.end();
    assert.equal((await received.done).bytes, 0);
  });

  it('an abort while pages are lent rejects only after the kernel let go of them, and leaves no descriptor', async (t) => {
    const before = openDescriptorCount();
    const { client, server } = await tcpPair(t);
    // A reader that takes a little at a time: the sender's queue stays full of lent pages.
    slowDrain(server, 64 * KB, 20);
    const controller = new AbortController();
    const pending = transfer(payload(64 * MB).bytes, client, { zeroCopy: 'always', signal: controller.signal });
    setTimeout(() => controller.abort(), 50);
    await within(
      assert.rejects(pending, (error: TransferError) => {
        assert.equal(error.code, 'ABORT_ERR');
        assert.ok(error.bytesTransferred > 0 && error.bytesTransferred < 64 * MB);
        return true;
      }),
      15_000,
      'the aborted transfer',
    );
    assert.equal(client.destroyed, true);
    // Released, not given up on: nothing had to be kept referenced for good.
    assert.equal(orphanedBytes(), 0);
    server.destroy();
    await new Promise((resolve) => setTimeout(resolve, 20));
    assert.equal(openDescriptorCount(), before);
  });

  it('descriptors are back to the baseline after many zero-copy transfers', async (t) => {
    const { client, server } = await tcpPair(t);
    const received = drain(server);
    const before = openDescriptorCount();
    for (let i = 0; i < 50; i++) await transfer(payload(64 * KB).bytes, client, { zeroCopy: 'always' });
    assert.equal(openDescriptorCount(), before);
    client.end();
    assert.equal((await received.done).bytes, 50 * 64 * KB);
  });
});
