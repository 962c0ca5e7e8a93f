// A channel: the shared memory (a sealed memfd this object owns a descriptor of) and the
// roles this thread takes in it.
import { fstatSync } from 'node:fs';

import { binding } from '../binding/load.js';
import { check, invalidArgType, invalidArgValue } from '../errors.js';
import type { Batch } from './batch.js';
import { Endpoint } from './endpoint.js';
import { channelClosed, nativeFailure } from './errors.js';
import type { Message } from './message.js';
import {
  type ChannelMode,
  type ChannelOptions,
  type OverflowPolicy,
  validateChannelOptions,
  validateSpin,
} from './options.js';
import { type Loan, Producer, type WaitOptions } from './producer.js';
import { type BatchOptions, Subscriber } from './subscriber.js';

/** What a Worker needs to open the same channel: pass it in postMessage or workerData. */
export interface ChannelHandle {
  kind: 'zerocopy-channel';
  /** The descriptor in process `pid` (descriptors are per process). */
  fd: number;
  pid: number;
  /** The memfd's identity: the opener checks the descriptor still is this file. */
  device: number;
  inode: number;
}

export interface RoleOptions {
  /** Microseconds to busy-wait before sleeping (spin mode, for latency-critical workers: it blocks this thread that long). Default 0. */
  spin?: number;
}

const MODES: ChannelMode[] = ['spsc', 'broadcast'];
const OVERFLOWS: OverflowPolicy[] = ['block', 'overwrite'];

export class Channel implements AsyncIterable<Message> {
  #fd: number;
  #producer: Producer | undefined;
  #subscriber: Subscriber | undefined;
  readonly slotSize: number;
  readonly slots: number;
  readonly mode: ChannelMode;
  readonly overflow: OverflowPolicy;
  readonly #identity: { device: number; inode: number };

  /** @internal use createChannel() or openChannel(). Takes ownership of `fd`. */
  constructor(fd: number) {
    this.#fd = fd;
    // Map once to read and check the geometry; the roles map their own views.
    const probe = new Endpoint(fd, 2, 0);
    probe.close();
    const [slotSize, slots, mode, overflow] = probe.state as unknown as [number, number, number, number];
    this.slotSize = slotSize;
    this.slots = slots;
    this.mode = MODES[mode] ?? 'spsc';
    this.overflow = OVERFLOWS[overflow] ?? 'block';
    const stats = fstatSync(fd);
    this.#identity = { device: stats.dev, inode: stats.ino };
  }

  /** The memfd, for spawn's stdio (the child calls openChannel({ fd: 3 })) or SCM_RIGHTS. */
  get fd(): number {
    if (this.#fd < 0) throw channelClosed();
    return this.#fd;
  }

  /** For a Worker of this process: openChannel(handle) there maps the same memory. Keep this channel open until the worker has opened it. */
  get handle(): ChannelHandle {
    return { kind: 'zerocopy-channel', fd: this.fd, pid: process.pid, ...this.#identity };
  }

  get closed(): boolean {
    return this.#fd < 0;
  }

  /** Attaches this thread as the producer (one per channel; ERR_ZEROCOPY_CHANNEL_BUSY if taken). */
  producer(options: RoleOptions = {}): Producer {
    if (this.#producer !== undefined && !this.#producer.endpoint.closed) return this.#producer;
    this.#producer = new Producer(new Endpoint(this.fd, 0, validateSpin(options.spin)));
    return this.#producer;
  }

  /** Attaches this thread as a subscriber; in spsc mode the one consumer. Messages published before it attached wait for it while the ring has room (block mode). */
  subscribe(options: RoleOptions = {}): Subscriber {
    if (this.#subscriber !== undefined && !this.#subscriber.endpoint.closed) return this.#subscriber;
    this.#subscriber = new Subscriber(new Endpoint(this.fd, 1, validateSpin(options.spin)));
    return this.#subscriber;
  }

  // Conveniences: the first use attaches the role.
  tryLoan(length: number): Loan | null {
    return this.producer().tryLoan(length);
  }
  loan(length: number, options?: WaitOptions): Promise<Loan> {
    return this.producer().loan(length, options);
  }
  trySend(bytes: NodeJS.ArrayBufferView): boolean {
    return this.producer().trySend(bytes);
  }
  send(bytes: NodeJS.ArrayBufferView, options?: WaitOptions): Promise<void> {
    return this.producer().send(bytes, options);
  }
  post(value: unknown, options?: WaitOptions): Promise<void> {
    return this.producer().post(value, options);
  }
  tryReceive(): Message | undefined {
    return this.subscribe().tryReceive();
  }
  receive(options?: WaitOptions): Promise<Message | null> {
    return this.subscribe().receive(options);
  }
  tryReceiveBatch(max?: number): Batch | undefined {
    return this.subscribe().tryReceiveBatch(max);
  }
  receiveBatch(options?: BatchOptions): Promise<Batch | null> {
    return this.subscribe().receiveBatch(options);
  }
  [Symbol.asyncIterator](): AsyncIterator<Message> {
    return this.subscribe()[Symbol.asyncIterator]();
  }

  /** Leaves every role (a producer's close ends the stream for its consumers) and closes the descriptor; the memory is freed when the last participant anywhere closed. */
  close(): void {
    if (this.#fd < 0) return;
    this.#producer?.close();
    this.#subscriber?.close();
    check(binding().close(this.#fd), 'close');
    this.#fd = -1;
  }
}

/** A new channel in a sealed memfd (no file in /dev/shm, freed with its last descriptor). Options are checked before anything is created. */
export function createChannel(options: ChannelOptions): Channel {
  const geometry = validateChannelOptions(options);
  const native = binding();
  const fd = native.Channel.create(
    geometry.slotSize,
    geometry.slots,
    geometry.mode === 'spsc' ? 0 : 1,
    geometry.overflow === 'block' ? 0 : 1,
    geometry.maxSubscribers,
  );
  if (fd < 0) throw nativeFailure(fd, 'memfd_create');
  try {
    return new Channel(fd);
  } catch (error) {
    native.close(fd);
    throw error;
  }
}

export type OpenChannelSource = ChannelHandle | { fd: number };

function duplicate(fd: number): number {
  const native = binding();
  return check(native.fcntl(fd, native.constants.F_DUPFD_CLOEXEC, 0), 'fcntl');
}

/**
 * Opens a channel made elsewhere: `{ fd }` (e.g. 3, from spawn's stdio, or one received
 * over a Unix socket) or a Worker's `handle`. The descriptor is duplicated: the channel
 * owns its copy; the caller still owns (and may close) the one it passed.
 */
export function openChannel(source: OpenChannelSource): Channel {
  if (typeof source !== 'object' || source === null) throw invalidArgType('source', 'of type object', source);
  const { fd } = source;
  if (typeof fd !== 'number' || !Number.isInteger(fd) || fd < 0) {
    throw invalidArgType('source.fd', 'a non-negative integer', fd);
  }
  if ('kind' in source) {
    if (source.kind !== 'zerocopy-channel')
      throw invalidArgValue('source.kind', source.kind, "must be 'zerocopy-channel'");
    if (source.pid !== process.pid) {
      throw invalidArgValue(
        'source.pid',
        source.pid,
        'must be this process: pass channel.fd to a child process instead',
      );
    }
    // The number may have been closed and reused since the handle was made: open only
    // the very same file.
    let stats: { dev: number; ino: number } | undefined;
    try {
      stats = fstatSync(fd);
    } catch {
      stats = undefined;
    }
    if (stats === undefined || stats.dev !== source.device || stats.ino !== source.inode) {
      throw invalidArgValue('source', source, 'names a descriptor that is no longer the channel (was it closed?)');
    }
  }
  const owned = duplicate(fd);
  try {
    return new Channel(owned);
  } catch (error) {
    binding().close(owned);
    throw error;
  }
}
