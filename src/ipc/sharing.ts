// Passing a channel to an unrelated process over a Unix socket (SCM_RIGHTS).
import type { Socket } from 'node:net';
import { EAGAIN, EPIPE } from '../binding/errno.js';
import { binding } from '../binding/load.js';
import { abortError } from '../engine/abort.js';
import { type Direction, readiness } from '../engine/readiness.js';
import { check, invalidArgType } from '../errors.js';
import { type Channel, openChannel } from './channel.js';
import { nativeFailure, peerGone } from './errors.js';
import type { WaitOptions } from './producer.js';

function socketFd(socket: Socket | number): number {
  if (typeof socket === 'number') return socket;
  const handle = (socket as unknown as { _handle?: { fd?: number } })._handle;
  const fd = handle?.fd;
  if (typeof fd !== 'number' || fd < 0) throw invalidArgType('socket', 'a connected Unix socket', socket);
  return fd;
}

function waitFor(fd: number, direction: Direction, signal: AbortSignal | undefined): Promise<number> {
  if (signal === undefined) return readiness.wait(fd, direction);
  if (signal.aborted) return Promise.reject(abortError(signal));
  const onAbort = () => readiness.cancel(fd, abortError(signal));
  signal.addEventListener('abort', onAbort, { once: true });
  return readiness.wait(fd, direction).finally(() => signal.removeEventListener('abort', onAbort));
}

/** Works on a private dup of the socket, so waiting never races Node closing its own. */
async function withDuplicate<T>(socket: Socket | number, work: (fd: number) => Promise<T>): Promise<T> {
  const native = binding();
  const fd = check(native.fcntl(socketFd(socket), native.constants.F_DUPFD_CLOEXEC, 0), 'fcntl');
  try {
    return await work(fd);
  } finally {
    readiness.forget(fd);
    native.close(fd);
  }
}

/** Sends the channel's descriptor over a connected Unix socket (one byte of data carries it). */
export function sendChannel(socket: Socket | number, channel: Channel, options: WaitOptions = {}): Promise<void> {
  const native = binding();
  return withDuplicate(socket, async (fd) => {
    for (;;) {
      const result = native.Channel.sendDescriptor(fd, channel.fd);
      if (result === 0) return;
      if (result !== EAGAIN) throw nativeFailure(result, 'sendmsg');
      await waitFor(fd, 'writable', options.signal);
    }
  });
}

/**
 * Receives a channel sent with sendChannel. The socket must not be read by Node meanwhile
 * (a server's `pauseOnConnect: true`, or a paused client socket): Node would read the byte
 * and the kernel would drop the descriptor with it.
 */
export function receiveChannel(socket: Socket | number, options: WaitOptions = {}): Promise<Channel> {
  const native = binding();
  return withDuplicate(socket, async (fd) => {
    for (;;) {
      const result = native.Channel.receiveDescriptor(fd);
      if (result >= 0) {
        try {
          return openChannel({ fd: result });
        } finally {
          native.close(result);
        }
      }
      if (result === EPIPE) throw peerGone('sender');
      if (result !== EAGAIN) throw nativeFailure(result, 'recvmsg');
      await waitFor(fd, 'readable', options.signal);
    }
  });
}
