import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { readSync, writeSync } from 'node:fs';
import { Socket } from 'node:net';
import { describe, it } from 'node:test';

import { binding } from '../../src/binding/load.js';
import {
  close,
  describeDescriptor,
  enableZeroCopy,
  pipe,
  readZeroCopyCompletions,
  sendZeroCopy,
  setTcpCork,
  setTcpNoDelay,
  socketDescriptor,
  socketInfo,
  socketPair,
  type ZeroCopyCompletion,
} from '../../src/index.js';
import {
  closeAfter,
  collect,
  delay,
  KiB,
  openFor,
  randomFile,
  readExactly,
  sha256,
  tcpPair,
  throwsCode,
  throwsSystemError,
  wrongType,
} from '../support/fixtures.js';

function tcpOption(fd: number, name: 'TCP_CORK' | 'TCP_NODELAY'): number {
  const native = binding();
  return native.getsockoptInt(fd, native.constants.IPPROTO_TCP, native.constants[name]);
}

/** How many sends the completions cover, counting each range once. */
const covered = (completions: ZeroCopyCompletion[]) =>
  completions.reduce((sum, { first, last }) => sum + last - first + 1, 0);

describe('socketInfo', () => {
  it('describes a loopback TCP socket as ipv4 stream', async (t) => {
    const { client, server } = await tcpPair(t);
    assert.deepEqual(socketInfo(socketDescriptor(client)), { family: 'ipv4', type: 'stream' });
    assert.deepEqual(socketInfo(socketDescriptor(server)), { family: 'ipv4', type: 'stream' });
  });

  it('describes a Unix socket pair as unix stream', (t) => {
    const [left, right] = closeAfter(t, socketPair());
    assert.deepEqual(socketInfo(left), { family: 'unix', type: 'stream' });
    assert.deepEqual(socketInfo(right), { family: 'unix', type: 'stream' });
  });

  it('describes a UDP socket as ipv4 datagram', async (t) => {
    const udp = createSocket('udp4');
    t.after(() => udp.close());
    await new Promise<void>((resolve) => udp.bind(0, '127.0.0.1', resolve));
    const fd = (udp as unknown as { _handle: { fd: number } })._handle.fd;
    assert.deepEqual(socketInfo(fd), { family: 'ipv4', type: 'datagram' });
  });

  it('fails with ENOTSOCK for a file and a pipe, EBADF for a closed descriptor', (t) => {
    const file = openFor(t, randomFile(t, 16).path);
    throwsSystemError(() => socketInfo(file), 'ENOTSOCK', 'getsockopt');
    const [readEnd] = closeAfter(t, pipe());
    throwsSystemError(() => socketInfo(readEnd), 'ENOTSOCK', 'getsockopt');
    const [left] = closeAfter(t, socketPair());
    close(left);
    throwsSystemError(() => socketInfo(left), 'EBADF', 'getsockopt');
  });
});

describe('socketDescriptor', () => {
  it('returns the descriptor under a connected net.Socket', async (t) => {
    const { client } = await tcpPair(t);
    const fd = socketDescriptor(client);
    assert.equal(describeDescriptor(fd).kind, 'socket');
  });

  it('refuses a socket that was never connected or is destroyed', async (t) => {
    throwsCode(() => socketDescriptor(new Socket()), 'ERR_INVALID_ARG_VALUE');
    const { client } = await tcpPair(t);
    client.destroy();
    throwsCode(() => socketDescriptor(client), 'ERR_INVALID_ARG_VALUE');
  });
});

describe('TCP options', () => {
  it('setTcpCork turns TCP_CORK on and off', async (t) => {
    const { client } = await tcpPair(t);
    const fd = socketDescriptor(client);
    setTcpCork(fd, true);
    assert.equal(tcpOption(fd, 'TCP_CORK'), 1);
    setTcpCork(fd, false);
    assert.equal(tcpOption(fd, 'TCP_CORK'), 0);
  });

  it('setTcpNoDelay turns TCP_NODELAY on and off', async (t) => {
    const { client } = await tcpPair(t);
    const fd = socketDescriptor(client);
    setTcpNoDelay(fd, true);
    assert.equal(tcpOption(fd, 'TCP_NODELAY'), 1);
    setTcpNoDelay(fd, false);
    assert.equal(tcpOption(fd, 'TCP_NODELAY'), 0);
  });

  it('corked bytes still arrive, whole, once the cork is pulled', async (t) => {
    const { client, server } = await tcpPair(t);
    const fd = socketDescriptor(client);
    const received = collect(server);
    setTcpCork(fd, true);
    writeSync(fd, 'header\r\n');
    writeSync(fd, 'body');
    setTcpCork(fd, false);
    client.end();
    assert.equal((await received).toString(), 'header\r\nbody');
  });

  it('fail with ENOTSUP (EOPNOTSUPP) on a Unix socket and ENOTSOCK on a file', (t) => {
    const [left] = closeAfter(t, socketPair());
    throwsSystemError(() => setTcpCork(left, true), 'ENOTSUP', 'setsockopt');
    const file = openFor(t, randomFile(t, 16).path);
    throwsSystemError(() => setTcpNoDelay(file, true), 'ENOTSOCK', 'setsockopt');
  });

  it('refuse a non-boolean switch', (t) => {
    const [left] = closeAfter(t, socketPair());
    throwsCode(() => setTcpCork(left, wrongType(1)), 'ERR_INVALID_ARG_TYPE');
    throwsCode(() => setTcpNoDelay(left, wrongType('on')), 'ERR_INVALID_ARG_TYPE');
  });
});

describe('socketPair', () => {
  it('gives two connected, close-on-exec Unix stream sockets', (t) => {
    const [left, right] = closeAfter(t, socketPair());
    const native = binding();
    for (const fd of [left, right]) {
      assert.notEqual(native.fcntl(fd, native.constants.F_GETFD, 0) & native.constants.FD_CLOEXEC, 0);
      assert.equal(describeDescriptor(fd).nonBlocking, false);
    }
    const bytes = randomBytes(8 * KiB);
    writeSync(left, bytes);
    assert.equal(sha256(readExactly(right, bytes.length)), sha256(bytes));
    writeSync(right, 'back');
    assert.equal(readExactly(left, 4).toString(), 'back');
  });

  it('with nonBlocking, reading an empty end fails with EAGAIN', (t) => {
    const [left, right] = closeAfter(t, socketPair({ nonBlocking: true }));
    assert.equal(describeDescriptor(left).nonBlocking, true);
    assert.equal(describeDescriptor(right).nonBlocking, true);
    throwsCode(() => readSync(left, Buffer.alloc(1)), 'EAGAIN');
  });

  it('refuses bad options', () => {
    throwsCode(() => socketPair(wrongType(true)), 'ERR_INVALID_ARG_TYPE');
    throwsCode(() => socketPair({ nonBlocking: wrongType('yes') }), 'ERR_INVALID_ARG_TYPE');
  });
});

describe('MSG_ZEROCOPY', () => {
  it('on loopback, sends the bytes and reports completions for every send (copied, as loopback does)', async (t) => {
    const { client, server } = await tcpPair(t);
    const fd = socketDescriptor(client);
    try {
      enableZeroCopy(fd);
    } catch (error) {
      t.skip(`SO_ZEROCOPY is not available: ${(error as Error).message}`);
      return;
    }
    const received = collect(server);
    const chunks = [randomBytes(64 * KiB), randomBytes(64 * KiB), randomBytes(16 * KiB)];
    for (const chunk of chunks) assert.equal(sendZeroCopy(fd, chunk), chunk.length);
    const completions: ZeroCopyCompletion[] = [];
    for (let polls = 0; polls < 400 && covered(completions) < chunks.length; polls++) {
      completions.push(...readZeroCopyCompletions(fd));
      if (covered(completions) < chunks.length) await delay(5);
    }
    assert.equal(covered(completions), chunks.length, JSON.stringify(completions));
    assert.equal(completions[0]?.first, 0);
    assert.equal(completions.at(-1)?.last, chunks.length - 1);
    // The kernel copies on loopback (the receiver is local): it says so in each completion.
    assert.ok(
      completions.every((completion) => completion.copied),
      `expected copied completions on loopback: ${JSON.stringify(completions)}`,
    );
    client.end();
    assert.equal(sha256(await received), sha256(Buffer.concat(chunks)));
  });

  it('reports no completions when none is waiting', async (t) => {
    const { client } = await tcpPair(t);
    assert.deepEqual(readZeroCopyCompletions(socketDescriptor(client)), []);
  });

  it('fails with EAGAIN or ENOBUFS once the peer stops reading', async (t) => {
    const { client, server } = await tcpPair(t);
    server.pause();
    const fd = socketDescriptor(client);
    enableZeroCopy(fd);
    const chunk = randomBytes(256 * KiB);
    let code: string | undefined;
    for (let sends = 0; sends < 2000 && code === undefined; sends++) {
      try {
        sendZeroCopy(fd, chunk, { more: sends % 2 === 0 });
      } catch (error) {
        code = (error as NodeJS.ErrnoException).code;
      }
    }
    assert.ok(code === 'EAGAIN' || code === 'ENOBUFS', `got ${code}`);
  });

  it('SO_ZEROCOPY fails with ENOTSUP (EOPNOTSUPP) on a Unix socket', (t) => {
    const [left] = closeAfter(t, socketPair());
    throwsSystemError(() => enableZeroCopy(left), 'ENOTSUP', 'setsockopt');
  });

  it('reading completions fails with ENOTSOCK on a file', (t) => {
    const file = openFor(t, randomFile(t, 16).path);
    throwsSystemError(() => readZeroCopyCompletions(file), 'ENOTSOCK', 'recvmsg');
  });

  it('refuses bad arguments before sending', (t) => {
    const [left] = closeAfter(t, socketPair());
    throwsCode(() => sendZeroCopy(left, wrongType('text')), 'ERR_INVALID_ARG_TYPE');
    throwsCode(() => sendZeroCopy(left, Buffer.from('x'), { more: wrongType(1) }), 'ERR_INVALID_ARG_TYPE');
    throwsCode(() => sendZeroCopy(-1, Buffer.from('x')), 'ERR_OUT_OF_RANGE');
    throwsCode(() => readZeroCopyCompletions(left, 0), 'ERR_OUT_OF_RANGE');
    throwsCode(() => readZeroCopyCompletions(left, 4097), 'ERR_OUT_OF_RANGE');
  });
});
