// fanout(): one source to many destinations. The source is spliced into a pipe, tee(2)
// duplicates that pipe's pages into each destination's own pipes (the last taker gets them
// moved), and each destination's pipes are spliced to it: no byte passes through JavaScript
// unless a side cannot be spliced (TLS, append-only files), and then only for that side.
// Without the native addon there are no pipes: the source is read into Buffers, each one
// queued by reference for every destination and written out by each (copy everywhere).
import { addonStatus } from '../binding/load.js';
import { abortError } from '../engine/abort.js';
import { Pacer } from '../engine/pacer.js';
import { fanoutEnded, invalidArgType, outOfRange, transferFailed } from '../errors.js';
import { validateBoolean, validateInt, validateLength, validateObject, validateOneOf } from '../primitives/validate.js';
import { type Endpoint, resolveDestination, resolveSource } from '../transfer/endpoints.js';
import { flushNodeWrites, leaseSource, type SourceLease } from '../transfer/node-socket.js';
import { acquirePipe, type PooledPipe, releasePipe } from '../transfer/pipe-pool.js';
import type { ChunkQueue } from './chunk-queue.js';
import { Destination, Stop } from './destination.js';
import { NativeQueues } from './native-queues.js';
import { discard, growPipe, type PipeQueue } from './pipe-queue.js';
import { EndOfInput, SourceReader } from './source.js';
import type {
  DestinationOptions,
  DestinationReport,
  FanoutDestination,
  FanoutError,
  FanoutOptions,
  FanoutReport,
  FanoutSource,
  LagPolicy,
} from './types.js';

export type * from './types.js';

/** 8 MiB: a few round trips of a fast reader, and under a second of most live streams. */
export const DEFAULT_LAG_LIMIT = 8 * 1024 * 1024;
const POLICIES = ['wait', 'drop'] as const;
/** How far the source may read past the destination furthest ahead: two source pipes' worth keeps every pipe busy. */
const READ_AHEAD = 2 * 1024 * 1024;
/** How long a 'drop' destination past its lag limit may hold the source before it is dropped. */
const DROP_GRACE_MS = 250;
/** Copy mode: the most read from the source at once (1 MiB read/write loops beat 64 KiB ones by 1.7x in transfer()). */
const COPY_CHUNK = 1024 * 1024;
/** The source pipe's capacity (the pipe pool's): every native queue pipe must take a whole chunk. */
const QUEUE_PIPE_BYTES = 1024 * 1024;

/** A destination while it is part of a fan-out. */
export interface FanoutMember {
  readonly id: number;
  /** The source position its first byte came from. */
  readonly joinedAt: number;
  /** Resolves with its report once it has ended, however it ended (it never rejects). */
  readonly finished: Promise<DestinationReport>;
  /** Bytes written to it so far. */
  readonly bytes: number;
  /** Bytes read from the source and not yet written to it. */
  readonly lag: number;
  /** Removes it now (outcome 'left'); bytes queued for it are dropped. */
  leave(): void;
}

function lagLimitOf(value: unknown, name: string): number {
  return validateInt(value, name, 1, Number.MAX_SAFE_INTEGER);
}

/**
 * A running fan-out. `await` it (or its `done`) for the report; add() and remove()
 * destinations while it runs; end() stops reading a live source or a followed file.
 */
export class Fanout implements PromiseLike<FanoutReport> {
  readonly done: Promise<FanoutReport>;
  readonly #members = new Set<Destination>();
  readonly #all: Destination[] = [];
  readonly #policy: LagPolicy;
  readonly #lagLimit: number;
  readonly #signal: AbortSignal | undefined;
  readonly #onDestinationEnd: ((report: DestinationReport) => void) | undefined;
  #source: Endpoint | undefined;
  #reader: SourceReader | undefined;
  #lease: SourceLease | undefined;
  #position = 0;
  #ended = false;
  #ending = false;
  #nextId = 0;
  #progress: (() => void) | undefined;
  #pendingJoins = 0;
  #setup: Promise<void>;
  readonly #pacer = new Pacer();
  /** No addon, so no pipes: the source's Buffers are queued for every destination instead. */
  readonly #chunked = !addonStatus().available;
  /** The destinations' queues in native code (with the addon): tee and splice with no JavaScript per chunk. */
  readonly #queues: NativeQueues | undefined;

  constructor(source: FanoutSource, destinations: readonly FanoutDestination[], options: FanoutOptions) {
    this.#policy = options.policy ?? 'wait';
    this.#lagLimit = options.lagLimit ?? DEFAULT_LAG_LIMIT;
    this.#signal = options.signal;
    this.#onDestinationEnd = options.onDestinationEnd;
    // Made now, not at the first join: its descriptors (an epoll set) are there from the start.
    if (!this.#chunked) this.#queues = new NativeQueues(QUEUE_PIPE_BYTES, () => this.#progressed());
    this.#setup = this.#open(source, destinations, options);
    this.done = this.#run();
    // The caller may only ever look at members' reports; an unhandled rejection would kill the process.
    this.done.catch(() => {});
  }

  // biome-ignore lint/suspicious/noThenProperty: a fan-out is awaited for its report, like a promise.
  then<A = FanoutReport, B = never>(
    onFulfilled?: ((value: FanoutReport) => A | PromiseLike<A>) | null,
    onRejected?: ((reason: unknown) => B | PromiseLike<B>) | null,
  ): Promise<A | B> {
    return this.done.then(onFulfilled, onRejected);
  }

  /** Bytes read from the source so far: where a destination joining now starts. */
  get position(): number {
    return this.#position;
  }

  /** Reports of every destination so far, the running ones included. */
  destinations(): DestinationReport[] {
    return this.#all.map((member) => member.report());
  }

  /** Destinations still being written to. */
  get size(): number {
    return this.#members.size;
  }

  /**
   * Adds a destination. It gets the stream from the current position on (a Node socket
   * first gets whatever Node had queued for it, such as HTTP headers).
   */
  async add(destination: FanoutDestination, options: DestinationOptions = {}): Promise<FanoutMember> {
    validateObject(options, 'options');
    const policy =
      options.policy === undefined ? this.#policy : validateOneOf(options.policy, 'options.policy', POLICIES);
    const lagLimit = options.lagLimit === undefined ? this.#lagLimit : lagLimitOf(options.lagLimit, 'options.lagLimit');
    this.#pendingJoins++;
    try {
      await this.#setup;
      return await this.#join(destination, policy, lagLimit);
    } finally {
      this.#pendingJoins--;
    }
  }

  async #join(destination: FanoutDestination, policy: LagPolicy, lagLimit: number): Promise<FanoutMember> {
    // Numbered in the order they were asked for, whatever order their set-up finishes in.
    const id = this.#nextId++;
    {
      if (this.#ended || this.#ending) throw fanoutEnded();
      const endpoint = await resolveDestination(destination, this.#source as Endpoint);
      if (endpoint.kind === 'pipe' && !this.#chunked) growPipe(endpoint.fd);
      try {
        if (endpoint.socket !== undefined && endpoint.fd >= 0) await flushNodeWrites(endpoint.socket, this.#signal);
        if (this.#ended || this.#ending) throw fanoutEnded();
      } catch (error) {
        await endpoint.close();
        throw error;
      }
      const member = new Destination(
        id,
        endpoint,
        this.#position,
        policy,
        lagLimit,
        () => this.#progressed(),
        this.#chunked,
        this.#queues,
      );
      this.#members.add(member);
      this.#all.push(member);
      this.#all.sort((a, b) => a.id - b.id);
      void member.finished.then((report) => {
        this.#members.delete(member);
        this.#onDestinationEnd?.(report);
      });
      return {
        id: member.id,
        joinedAt: member.joinedAt,
        finished: member.finished,
        get bytes() {
          return member.bytes;
        },
        get lag() {
          return member.queued;
        },
        leave: () => member.stop(new Stop('left', 'removed from the fan-out')),
      };
    }
  }

  /** Removes a destination (as member.leave()). */
  remove(member: FanoutMember): void {
    member.leave();
  }

  /** Stops reading the source; destinations finish what is queued for them, and the fan-out resolves. */
  end(): void {
    if (this.#ending) return;
    this.#ending = true;
    this.#reader?.end(new EndOfInput());
    this.#progressed();
  }

  async #open(source: FanoutSource, destinations: readonly FanoutDestination[], options: FanoutOptions) {
    if (ArrayBuffer.isView(source))
      throw invalidArgType('source', 'a path, descriptor, FileHandle or net.Socket', source);
    const src = await resolveSource(source);
    if (src.kind === 'pipe' && !this.#chunked) growPipe(src.fd);
    this.#source = src;
    const follow = options.follow === true ? { intervalMs: options.followIntervalMs ?? 100 } : undefined;
    let offset = 0;
    let remaining = Number.POSITIVE_INFINITY;
    if (src.kind === 'file') {
      offset = options.offset === undefined ? 0 : validateLength(options.offset, 'options.offset');
      if (offset > src.size && follow === undefined)
        throw outOfRange('options.offset', `<= the source size (${src.size})`, offset);
      const length = options.length === undefined ? undefined : validateLength(options.length, 'options.length');
      remaining = length ?? (follow === undefined && src.size > 0 ? src.size - offset : Number.POSITIVE_INFINITY);
    } else if (options.offset !== undefined || follow !== undefined) {
      throw outOfRange('options.offset', 'unset: offset and follow apply to file sources only', options.offset);
    } else if (options.length !== undefined) remaining = validateLength(options.length, 'options.length');
    if (src.socket !== undefined && src.fd >= 0) this.#lease = leaseSource(src.socket);
    this.#reader = new SourceReader(src, offset, remaining, follow, this.#lease, this.#chunked);
    if (this.#ending) this.#reader.end(new EndOfInput());
    // Every destination given at the start gets the stream from its first byte.
    const joined = await Promise.allSettled(
      destinations.map((destination) => this.#join(destination, this.#policy, this.#lagLimit)),
    );
    const failed = joined.find((result) => result.status === 'rejected');
    if (failed !== undefined) throw (failed as PromiseRejectedResult).reason;
  }

  #progressed(): void {
    const wake = this.#progress;
    this.#progress = undefined;
    wake?.();
  }

  #waitForProgress(timeoutMs = Number.POSITIVE_INFINITY): Promise<void> {
    this.#queues?.wantProgress();
    return new Promise((resolve) => {
      const timer = Number.isFinite(timeoutMs) ? setTimeout(resolve, Math.ceil(timeoutMs)) : undefined;
      this.#progress = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }

  async #run(): Promise<FanoutReport> {
    let failure: unknown;
    const onAbort = () => {
      const reason = abortError(this.#signal as AbortSignal);
      for (const member of this.#members) member.stop(new Stop('aborted', 'aborted'));
      this.#reader?.end(reason);
      this.#progressed();
    };
    this.#signal?.addEventListener('abort', onAbort, { once: true });
    try {
      if (this.#signal?.aborted) throw abortError(this.#signal);
      await this.#setup;
      await this.#pump();
      if (this.#signal?.aborted) throw abortError(this.#signal);
    } catch (error) {
      failure = error;
      // A fan-out that could not start takes down the destinations it had opened.
      if (this.#reader === undefined || this.#signal?.aborted)
        for (const member of this.#members) member.stop(new Stop('aborted', 'the fan-out failed'));
    } finally {
      this.#signal?.removeEventListener('abort', onAbort);
    }
    this.#ended = true;
    for (const member of this.#members) member.sourceEnded();
    // Joins under way when the source ended see #ended and give up; wait for them too.
    while (this.#pendingJoins > 0) await new Promise((resolve) => setImmediate(resolve));
    const destinations = await Promise.all(this.#all.map((member) => member.finished));
    this.#queues?.close();
    const sourceEndedCleanly = failure === undefined;
    this.#lease?.release({ ended: sourceEndedCleanly && !this.#ending, failed: !sourceEndedCleanly });
    // A copy-mode read on the thread pool cannot be cancelled: the descriptor is closed once
    // it returns, never under it (its number could be reused while the read still runs).
    const source = this.#source;
    if (this.#reader?.reading) void this.#reader.idle.then(() => source?.close().catch(() => {}));
    else await source?.close().catch(() => {});
    const report: FanoutReport = {
      bytes: this.#position,
      delivered: destinations.reduce((sum, each) => sum + each.bytes, 0),
      sourceMethod: this.#reader?.method ?? 'splice',
      syscalls: (this.#reader?.syscalls ?? 0) + this.#all.reduce((sum, m) => sum + m.syscalls + m.queue.syscalls, 0),
      destinations,
    };
    if (this.#reader?.fallback !== undefined) report.sourceFallback = { reason: this.#reader.fallback };
    if (failure !== undefined) {
      const error = transferFailed(failure) as FanoutError;
      error.bytesTransferred = this.#position;
      error.destinations = destinations;
      throw error;
    }
    return report;
  }

  async #pump(): Promise<void> {
    if (this.#chunked) return this.#pumpChunks();
    const reader = this.#reader as SourceReader;
    const pipe = acquirePipe();
    let held = 0;
    try {
      for (;;) {
        if (this.#signal?.aborted) return;
        if (this.#pacer.due()) await this.#pacer.yieldNow();
        held = await reader.fill(pipe);
        if (held === 0) return;
        await this.#admit(held);
        if (this.#signal?.aborted) return;
        this.#distribute(pipe, held);
        this.#position += held;
        held = 0;
      }
    } finally {
      releasePipe(pipe, held === 0);
    }
  }

  /** The copy-mode pump: the same admission, with Buffers in place of the source pipe. */
  async #pumpChunks(): Promise<void> {
    const reader = this.#reader as SourceReader;
    for (;;) {
      if (this.#signal?.aborted) return;
      if (this.#pacer.due()) await this.#pacer.yieldNow();
      const chunk = await reader.read(COPY_CHUNK);
      if (chunk.byteLength === 0) return;
      await this.#admit(chunk.byteLength);
      if (this.#signal?.aborted) return;
      // Nobody listening: a live source goes on, and what it said meanwhile is gone.
      for (const member of this.#members) {
        if (!member.active) continue;
        (member.queue as ChunkQueue).append(chunk);
        member.kick();
      }
      this.#position += chunk.byteLength;
    }
  }

  /**
   * Applies each destination's policy before `count` more bytes are queued for it. Lag is
   * counted from the destination furthest ahead, and the source never reads more than
   * READ_AHEAD past that one (a file source is faster than every destination; that alone
   * makes nobody slow). A 'drop' destination more than its limit behind holds the source
   * for at most DROP_GRACE_MS, then is dropped: readers that only fell behind for a moment
   * (their turn on the CPU came late) catch up, one that cannot keep up goes.
   */
  async #admit(count: number): Promise<void> {
    for (;;) {
      let least = Number.POSITIVE_INFINITY;
      const queued = new Map<Destination, number>();
      for (const member of this.#members) {
        if (!member.active) continue;
        const bytes = member.queued;
        queued.set(member, bytes);
        least = Math.min(least, bytes);
      }
      let blocked = least !== Number.POSITIVE_INFINITY && least > 0 && least + count > READ_AHEAD;
      let graceLeft = Number.POSITIVE_INFINITY;
      const now = performance.now();
      for (const [member, queuedBytes] of queued) {
        if (!member.active) continue;
        const queued = queuedBytes;
        if (member.policy === 'wait') {
          if (queued > 0 && queued + count > member.lagLimit) blocked = true;
          continue;
        }
        if (queued === 0 || queued - least + count <= member.lagLimit) {
          member.behindSince = undefined;
          continue;
        }
        member.behindSince ??= now;
        const left = member.behindSince + DROP_GRACE_MS - now;
        if (left <= 0) {
          member.stop(new Stop('dropped', `fell behind by more than its lag limit of ${member.lagLimit} bytes`));
        } else {
          blocked = true;
          graceLeft = Math.min(graceLeft, left);
        }
      }
      if (!blocked || this.#signal?.aborted) return;
      await this.#waitForProgress(graceLeft);
    }
  }

  #distribute(pipe: PooledPipe, count: number): void {
    // The destinations this loop writes take duplicates first; the native queues take the
    // pages last, and leave the source pipe empty.
    const takers = [...this.#members].filter((member) => member.active && member.nativeId === undefined);
    const native = this.#queues !== undefined && this.#queues.size > 0;
    if (takers.length === 0 && !native) {
      // Nobody listens: a live source goes on, and what it said meanwhile is gone.
      discard(pipe, count);
      return;
    }
    const last = native ? -1 : takers.length - 1;
    for (let i = 0; i < takers.length; i++) {
      const member = takers[i] as Destination;
      try {
        (member.queue as PipeQueue).append(pipe, count, i === last);
        member.kick();
      } catch (error) {
        member.stop(new Stop('failed', (error as Error).message));
        // The last taker failed to move the bytes: drop them so the pipe is empty again.
        if (i === last) discard(pipe, count, true);
      }
    }
    if (native) (this.#queues as NativeQueues).distribute(pipe.readFd, count);
  }
}

/**
 * Sends one source to many destinations, duplicating pages in the kernel (tee(2)) instead of
 * copying bytes through JavaScript. Returns a running Fanout: await it for the report, add()
 * and remove() destinations while it runs. It rejects only when the source fails or on
 * abort, with `bytesTransferred` and every destination's report; a destination that fails
 * ends alone, and its report says why.
 */
export function fanout(
  source: FanoutSource,
  destinations: readonly FanoutDestination[] = [],
  options: FanoutOptions = {},
): Fanout {
  if (!Array.isArray(destinations)) throw invalidArgType('destinations', 'an array', destinations);
  const opts = validateObject(options, 'options') as FanoutOptions;
  if (opts.policy !== undefined) validateOneOf(opts.policy, 'options.policy', POLICIES);
  if (opts.lagLimit !== undefined) lagLimitOf(opts.lagLimit, 'options.lagLimit');
  if (opts.follow !== undefined) validateBoolean(opts.follow, 'options.follow');
  if (opts.followIntervalMs !== undefined) validateInt(opts.followIntervalMs, 'options.followIntervalMs', 1, 3_600_000);
  if (opts.offset !== undefined) validateLength(opts.offset, 'options.offset');
  if (opts.onDestinationEnd !== undefined && typeof opts.onDestinationEnd !== 'function')
    throw invalidArgType('options.onDestinationEnd', 'a function', opts.onDestinationEnd);
  if (opts.length !== undefined) validateLength(opts.length, 'options.length');
  return new Fanout(source, destinations, opts);
}
