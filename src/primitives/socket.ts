import type { Socket } from 'node:net';

import { binding } from '../binding/load.js';
import type { ConstantName } from '../binding/native.js';
import { check, invalidArgValue, systemError } from '../errors.js';
import { validateBoolean, validateBytes, validateFd, validateInt, validateObject } from './validate.js';

/**
 * The descriptor under a connected `net.Socket` (TCP or Unix, including the sockets
 * node:http hands you). Node owns it: it may close it, and the number may then be reused
 * by another open; never keep the number past the socket's 'close' without a dup().
 */
export function socketDescriptor(socket: Socket): number {
  const fd = descriptorIfOpen(socket);
  if (fd === undefined) {
    throw invalidArgValue(
      'socket',
      socket,
      'must be a connected net.Socket backed by a descriptor (not TLS-wrapped, not closed)',
    );
  }
  return fd;
}

/** The descriptor Node currently holds for `socket`, or undefined once it has none (closed, not connected). */
export function descriptorIfOpen(socket: Socket): number | undefined {
  const fd = (socket as unknown as { _handle?: { fd?: unknown } | null })._handle?.fd;
  return typeof fd === 'number' && fd >= 0 ? fd : undefined;
}

function setIntOption(fd: number, level: ConstantName, name: ConstantName, value: number) {
  const native = binding();
  const { constants } = native;
  check(native.setsockoptInt(validateFd(fd, 'fd'), constants[level], constants[name], value), 'setsockopt');
}

/**
 * TCP_CORK: while on, the kernel holds partial segments back so that headers written now
 * and a body sent next leave in full packets; turning it off flushes what is queued.
 */
export function setTcpCork(fd: number, on: boolean): void {
  setIntOption(fd, 'IPPROTO_TCP', 'TCP_CORK', validateBoolean(on, 'on') ? 1 : 0);
}

/** TCP_NODELAY: send small segments at once instead of waiting (Nagle) for the last ACK. */
export function setTcpNoDelay(fd: number, on: boolean): void {
  setIntOption(fd, 'IPPROTO_TCP', 'TCP_NODELAY', validateBoolean(on, 'on') ? 1 : 0);
}

/** SO_ZEROCOPY: allow sendZeroCopy() on this socket (TCP, UDP or RDS; Linux 4.14+). */
export function enableZeroCopy(fd: number): void {
  setIntOption(fd, 'SOL_SOCKET', 'SO_ZEROCOPY', 1);
}

export interface SocketInfo {
  family: 'unix' | 'ipv4' | 'ipv6' | 'other';
  type: 'stream' | 'datagram' | 'other';
}

/** SO_DOMAIN and SO_TYPE: what kind of socket a descriptor is. ENOTSOCK if it is not one. */
export function socketInfo(fd: number): SocketInfo {
  const native = binding();
  const { constants } = native;
  const descriptor = validateFd(fd, 'fd');
  const domain = check(native.getsockoptInt(descriptor, constants.SOL_SOCKET, constants.SO_DOMAIN), 'getsockopt');
  const type = check(native.getsockoptInt(descriptor, constants.SOL_SOCKET, constants.SO_TYPE), 'getsockopt');
  return {
    family:
      domain === constants.AF_UNIX
        ? 'unix'
        : domain === constants.AF_INET
          ? 'ipv4'
          : domain === constants.AF_INET6
            ? 'ipv6'
            : 'other',
    type: type === constants.SOCK_STREAM ? 'stream' : type === constants.SOCK_DGRAM ? 'datagram' : 'other',
  };
}

/**
 * send(2) with MSG_ZEROCOPY | MSG_DONTWAIT | MSG_NOSIGNAL: the kernel sends from
 * `bytes`' own pages instead of copying them, and tells you on the socket's error queue
 * when it no longer needs them (readZeroCopyCompletions). Until then, keep `bytes` alive
 * and unchanged.
 *
 * Each call that returns a count (even a short one) is one numbered send: the first is 0,
 * then 1, 2, ... per socket; completions refer to those numbers. EAGAIN when the send
 * buffer is full; ENOBUFS when too many sends await completion (net.core.optmem_max).
 * Zero copy only pays from roughly 10 KiB per send, and on loopback the kernel always
 * copies (completions say `copied: true`).
 */
export function sendZeroCopy(fd: number, bytes: NodeJS.ArrayBufferView, options?: { more?: boolean }): number {
  const native = binding();
  const { constants } = native;
  const descriptor = validateFd(fd, 'fd');
  const view = validateBytes(bytes, 'bytes');
  const opts = validateObject(options, 'options');
  const more = opts.more === undefined ? false : validateBoolean(opts.more, 'options.more');
  const flags =
    constants.MSG_ZEROCOPY | constants.MSG_DONTWAIT | constants.MSG_NOSIGNAL | (more ? constants.MSG_MORE : 0);
  return check(native.send(descriptor, view, flags), 'send');
}

/** The sends numbered `first`..`last` (inclusive) are done with their buffers. */
export interface ZeroCopyCompletion {
  first: number;
  last: number;
  /** The kernel copied the data after all (always so on loopback); zero copy did not help. */
  copied: boolean;
}

/**
 * Drains up to `max` completion notifications from the socket's error queue without
 * blocking; an empty array when none is waiting. The socket becomes readable-with-error
 * (POLLERR) when one arrives.
 */
export function readZeroCopyCompletions(fd: number, max = 64): ZeroCopyCompletion[] {
  const native = binding();
  const result = native.readZerocopyCompletions(validateFd(fd, 'fd'), validateInt(max, 'max', 1, 4096));
  if (typeof result === 'number') throw systemError(result, 'recvmsg');
  return result.map(([first, last, copied]) => ({ first, last, copied: copied === 1 }));
}

/**
 * socketpair(2): two connected Unix stream sockets, O_CLOEXEC (and O_NONBLOCK when asked).
 * Wrap one in a net.Socket with `new net.Socket({ fd })`, or use both directly.
 */
export function socketPair(options?: { nonBlocking?: boolean }): [number, number] {
  const native = binding();
  const { constants } = native;
  const opts = validateObject(options, 'options');
  const nonBlocking = opts.nonBlocking === undefined ? false : validateBoolean(opts.nonBlocking, 'options.nonBlocking');
  const type = constants.SOCK_STREAM | constants.SOCK_CLOEXEC | (nonBlocking ? constants.SOCK_NONBLOCK : 0);
  const result = native.socketpair(constants.AF_UNIX, type, 0);
  if (typeof result === 'number') throw systemError(result, 'socketpair');
  return result;
}
