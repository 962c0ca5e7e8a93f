// Turning whatever the caller passed into descriptors this transfer owns.
import { Socket as DatagramSocket } from 'node:dgram';
import { constants as fsConstants, fstatSync } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { open } from 'node:fs/promises';
import { Socket } from 'node:net';

import { addonStatus } from '../binding/load.js';
import { readiness } from '../engine/readiness.js';
import { invalidArgType, sameFile } from '../errors.js';
import { close, describeDescriptor, dup } from '../primitives/fd.js';
import { descriptorIfOpen } from '../primitives/socket.js';
import { validateFd } from '../primitives/validate.js';
import { holdDatagramSocket } from './datagram-socket.js';
import type { EndpointKind, TransferDestination, TransferSource } from './types.js';

export interface Endpoint {
  kind: EndpointKind;
  /** A descriptor this transfer owns (a dup, or a file it opened); -1 when there is none. */
  fd: number;
  /** The Node socket behind it, if any. */
  socket?: Socket;
  bytes?: Uint8Array;
  /** File size when the transfer started. */
  size: number;
  device: number;
  inode: number;
  /** O_NONBLOCK is clear: calls on it could block, so they run on the thread pool. */
  blocking: boolean;
  append: boolean;
  /** Why the kernel cannot be handed this endpoint, if it cannot. */
  unusable?: string;
  close(): Promise<void>;
}

function isFileHandle(value: unknown): value is FileHandle {
  return (
    typeof value === 'object' && value !== null && typeof (value as FileHandle).fd === 'number' && 'readFile' in value
  );
}

async function closeOwned(fd: number, handle?: FileHandle): Promise<void> {
  readiness.forget(fd);
  if (handle !== undefined) await handle.close();
  else close(fd);
}

function fromDescriptor(fd: number, socket?: Socket, handle?: FileHandle): Endpoint {
  let info: ReturnType<typeof describeDescriptor>;
  try {
    info = describeDescriptor(fd);
  } catch (error) {
    void closeOwned(fd, handle).catch(() => {});
    throw error;
  }
  const kind: EndpointKind =
    info.kind === 'file' ? 'file' : info.kind === 'socket' ? 'socket' : info.kind === 'pipe' ? 'pipe' : 'stream';
  const endpoint: Endpoint = {
    kind,
    fd,
    size: info.size,
    device: info.device,
    inode: info.inode,
    blocking: !info.nonBlocking && kind !== 'file',
    append: info.append,
    close: () => closeOwned(fd, handle),
  };
  if (socket !== undefined) endpoint.socket = socket;
  if (info.kind === 'directory') {
    void endpoint.close().catch(() => {});
    const error = new Error('EISDIR: illegal operation on a directory, transfer') as NodeJS.ErrnoException;
    error.code = 'EISDIR';
    error.errno = -21;
    error.syscall = 'transfer';
    throw error;
  }
  if (kind === 'stream') endpoint.unusable = `${info.kind} descriptors are copied`;
  return endpoint;
}

/** A Node stream the kernel cannot be given (TLS, no descriptor): the copy path reads and writes it through Node. */
function streamOnly(socket: Socket, reason: string): Endpoint {
  return {
    kind: 'stream',
    fd: -1,
    socket,
    size: 0,
    device: -1,
    inode: -1,
    blocking: false,
    append: false,
    unusable: reason,
    close: async () => {},
  };
}

function fromSocket(socket: Socket): Endpoint {
  const encrypted = (socket as Socket & { encrypted?: boolean }).encrypted === true;
  if (encrypted) return streamOnly(socket, 'tls');
  const fd = descriptorIfOpen(socket);
  if (fd === undefined) {
    const error = new Error('The socket is not connected or was closed') as NodeJS.ErrnoException;
    error.code = 'ERR_SOCKET_CLOSED';
    throw error;
  }
  if (!addonStatus().available) return streamOnly(socket, 'native addon unavailable');
  return fromDescriptor(dup(fd), socket);
}

/** A dgram socket: its own descriptor duplicated, its receiving stopped until the endpoint is closed. */
function fromDatagramSocket(socket: DatagramSocket): Endpoint {
  const held = holdDatagramSocket(socket);
  if (held === undefined) {
    const error = new Error('The dgram socket is not bound or was closed') as NodeJS.ErrnoException;
    error.code = 'ERR_SOCKET_DGRAM_NOT_RUNNING';
    throw error;
  }
  let endpoint: Endpoint;
  try {
    endpoint = nativeUsable() ? fromDescriptor(dup(held.fd)) : rawWithoutAddon(held.fd, 'destination');
  } catch (error) {
    held.release();
    throw error;
  }
  const closeOwn = endpoint.close;
  endpoint.close = async () => {
    try {
      await closeOwn();
    } finally {
      held.release();
    }
  };
  return endpoint;
}

function nativeUsable(): boolean {
  return addonStatus().available;
}

export async function resolveSource(source: TransferSource): Promise<Endpoint> {
  if (ArrayBuffer.isView(source)) {
    const bytes = new Uint8Array(source.buffer, source.byteOffset, source.byteLength);
    return {
      kind: 'buffer',
      fd: -1,
      bytes,
      size: bytes.byteLength,
      device: -1,
      inode: -1,
      blocking: false,
      append: false,
      close: async () => {},
    };
  }
  if (source instanceof Socket) return fromSocket(source);
  if (typeof source === 'string' || source instanceof URL) {
    const handle = await open(source, 'r');
    return nativeUsable() ? fromDescriptor(handle.fd, undefined, handle) : await fileWithoutAddon(handle);
  }
  if (isFileHandle(source))
    return nativeUsable() ? fromDescriptor(dup(source.fd)) : await fileWithoutAddon(source, false);
  if (typeof source === 'number')
    return nativeUsable() ? fromDescriptor(dup(validateFd(source, 'source'))) : rawWithoutAddon(source, 'source');
  throw invalidArgType('source', 'a path, descriptor, FileHandle, net.Socket or Buffer', source);
}

export async function resolveDestination(destination: TransferDestination, source: Endpoint): Promise<Endpoint> {
  if (destination instanceof Socket) return fromSocket(destination);
  if (destination instanceof DatagramSocket) return fromDatagramSocket(destination);
  if (typeof destination === 'string' || destination instanceof URL) {
    // Not O_TRUNC yet: if this is the source itself, truncating would destroy it.
    const handle = await open(destination, fsConstants.O_WRONLY | fsConstants.O_CREAT, 0o666);
    const endpoint = nativeUsable() ? fromDescriptor(handle.fd, undefined, handle) : await fileWithoutAddon(handle);
    try {
      refuseSameFile(source, endpoint);
      // Like fs.copyFile: a regular file starts empty; a device or FIFO has nothing to truncate
      // (ftruncate on /dev/null is EINVAL).
      if (endpoint.kind === 'file') {
        await handle.truncate(0);
        endpoint.size = 0;
      }
    } catch (error) {
      await endpoint.close();
      throw error;
    }
    return endpoint;
  }
  let endpoint: Endpoint;
  if (isFileHandle(destination))
    endpoint = nativeUsable() ? fromDescriptor(dup(destination.fd)) : await fileWithoutAddon(destination, false);
  else if (typeof destination === 'number')
    endpoint = nativeUsable()
      ? fromDescriptor(dup(validateFd(destination, 'destination')))
      : rawWithoutAddon(destination, 'destination');
  else throw invalidArgType('destination', 'a path, descriptor, FileHandle, net.Socket or dgram.Socket', destination);
  try {
    refuseSameFile(source, endpoint);
  } catch (error) {
    await endpoint.close();
    throw error;
  }
  return endpoint;
}

function refuseSameFile(source: Endpoint, destination: Endpoint): void {
  if (
    source.kind === 'file' &&
    destination.kind === 'file' &&
    source.device === destination.device &&
    source.inode === destination.inode
  ) {
    throw sameFile();
  }
}

/** Without the addon there is no dup(): use the caller's descriptor as it is, and never close it. */
async function fileWithoutAddon(handle: FileHandle, owned = true): Promise<Endpoint> {
  const stats = await handle.stat();
  return {
    kind: stats.isFile() ? 'file' : 'stream',
    fd: handle.fd,
    size: stats.size,
    device: stats.dev,
    inode: stats.ino,
    blocking: !stats.isFile(),
    append: false,
    unusable: 'native addon unavailable',
    close: owned ? () => handle.close() : async () => {},
  };
}

/** A caller's raw descriptor without the addon: fstat says whether it is a file (read at offsets) or a stream. */
function rawWithoutAddon(fd: number, name: string): Endpoint {
  const stats = fstatSync(validateFd(fd, name));
  return {
    kind: stats.isFile() ? 'file' : 'stream',
    fd,
    size: stats.isFile() ? stats.size : 0,
    device: stats.isFile() ? stats.dev : -1,
    inode: stats.isFile() ? stats.ino : -1,
    blocking: !stats.isFile(),
    append: false,
    unusable: 'native addon unavailable',
    close: async () => {},
  };
}
