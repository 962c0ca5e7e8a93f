/**
 * The raw surface of the addon (native/addon.cc): one function per system call. Every
 * number-returning function returns the call's result when it is >= 0 and the negated
 * errno when it failed; nothing here throws for a failing system call. Offsets of -1 mean
 * "no offset: use and advance the file position". Arguments are checked by
 * src/primitives/ before they get here.
 */
export type Bytes = NodeJS.ArrayBufferView;
export type FdPair = [number, number];

export interface IoUringProbe {
  features: number;
  opcodes: number[];
  probeErrno: number;
}

export interface NativeBinding {
  sendfile(outFd: number, inFd: number, offset: number, count: number): number;
  sendfileInPool(outFd: number, inFd: number, offset: number, count: number): Promise<number>;
  splice(fdIn: number, offIn: number, fdOut: number, offOut: number, length: number, flags: number): number;
  spliceInPool(
    fdIn: number,
    offIn: number,
    fdOut: number,
    offOut: number,
    length: number,
    flags: number,
  ): Promise<number>;
  tee(fdIn: number, fdOut: number, length: number, flags: number): number;
  vmsplice(pipeFd: number, buffers: Bytes[], flags: number): number;
  pipe(flags: number): FdPair | number;
  copyFileRange(fdIn: number, offIn: number, fdOut: number, offOut: number, length: number, flags: number): number;
  copyFileRangeInPool(
    fdIn: number,
    offIn: number,
    fdOut: number,
    offOut: number,
    length: number,
    flags: number,
  ): Promise<number>;
  ficlone(destFd: number, srcFd: number): number;
  ficloneRange(destFd: number, srcFd: number, srcOffset: number, length: number, destOffset: number): number;
  mmap(fd: number, length: number, offset: number, prot: number, flags: number): ArrayBuffer | number;
  /** 0 unmapped now, 1 was already unmapped, -EINVAL not a mapping made by mmap(). */
  unmap(mapping: ArrayBuffer): number;
  /** 1 live, 0 unmapped, -EINVAL not a mapping made by mmap(). */
  mappingState(value: unknown): number;
  madvise(mapping: ArrayBuffer, offset: number, length: number, advice: number): number;
  msync(mapping: ArrayBuffer, offset: number, length: number, flags: number): number;
  addressOf(bytes: Bytes): bigint;
  memfdCreate(name: string, flags: number): number;
  processVmReadv(pid: number, local: Bytes[], remote: Array<[bigint, number]>): number;
  processVmWritev(pid: number, local: Bytes[], remote: Array<[bigint, number]>): number;
  socket(domain: number, type: number, protocol: number): number;
  socketpair(domain: number, type: number, protocol: number): FdPair | number;
  setsockoptInt(fd: number, level: number, name: number, value: number): number;
  getsockoptInt(fd: number, level: number, name: number): number;
  setsockoptBytes(fd: number, level: number, name: number, value: Bytes): number;
  send(fd: number, bytes: Bytes, flags: number): number;
  /** [first, last, copied] per notification, or -errno. */
  readZerocopyCompletions(fd: number, max: number): Array<[number, number, number]> | number;
  fcntl(fd: number, command: number, argument: number): number;
  close(fd: number): number;
  fadvise(fd: number, offset: number, length: number, advice: number): number;
  readahead(fd: number, offset: number, count: number): number;
  /** fstatfs(2) f_type of the file system the descriptor is on, or -errno. */
  fileSystemType(fd: number): number;
  probeIoUring(): IoUringProbe | number;
  /**
   * 1: the range is in the page cache with no page still being read in; 0: not; -errno
   * (-ENOSYS before Linux 6.5): cachestat cannot tell.
   */
  residentNow(fd: number, offset: number, length: number): number;
  /** lseek(2): the new offset; SEEK_DATA / SEEK_HOLE answer -ENXIO past the last data. */
  lseek(fd: number, offset: number, whence: number): number;
  Poller: new (onReady: (events: number[]) => void) => NativePoller;
  NativeFront: new (options: FrontOptions, onEvents: FrontEvents) => FrontBinding;
  Relay: new (options: RelayOptions, onEvents: (events: number[]) => void) => NativeRelay;
  Channel: NativeChannelClass;
  constants: NativeConstants;
}

/** The limits of a channel's shared memory, defined once in native/ipc/ring_layout.h. */
export interface ChannelLimits {
  minSlotSize: number;
  maxSlotSize: number;
  minSlots: number;
  maxSlots: number;
  maxSubscribers: number;
  maxDataBytes: number;
}

export interface NativeChannelClass {
  new (onReady: () => void): NativeChannel;
  /** A sealed memfd laid out for this geometry: fd or -errno. mode 0 single consumer, 1 broadcast; overflow 0 block, 1 overwrite. */
  create(slotSize: number, slots: number, mode: number, overflow: number, maxSubscribers: number): number;
  /** sendmsg(SCM_RIGHTS) of `fd` with one byte: 0 or -errno. */
  sendDescriptor(socketFd: number, fd: number): number;
  /** recvmsg(SCM_RIGHTS): the received descriptor (O_CLOEXEC) or -errno (-EPIPE: peer closed). */
  receiveDescriptor(socketFd: number): number;
  /** Whether the calls channels rely on work here: 0 or -errno each. */
  probe(): { futex: number; pidfd: number };
  readonly limits: ChannelLimits;
}

/** One participant (the producer or one subscriber) of a mapped channel. */
export interface NativeChannel {
  /** role 0 producer, 1 subscriber, 2 none (reads the geometry into state). 0 or the subscriber's index, or -errno (-EBUSY: role taken, -EPROTO: not a channel). */
  open(fd: number, role: 0 | 1 | 2, state: Float64Array): number;
  loan(length: number): ArrayBuffer | number;
  publish(view: ArrayBuffer, length: number): number;
  cancelLoan(view: ArrayBuffer | undefined): number;
  send(bytes: Bytes): number;
  /** Releases the previous message (detaching `previous`), returns a view of the next or -errno. */
  receive(previous?: ArrayBuffer): ArrayBuffer | number;
  release(view: ArrayBuffer | undefined): number;
  /** want 0: a message (or the producer gone); 1: a free slot (or the consumer gone). */
  wait(want: 0 | 1): number;
  spin(want: 0 | 1, microseconds: number): number;
  /** Detaches the views still live (the held message's, the open loan's), leaves the channel, unmaps. */
  close(heldView?: ArrayBuffer, loanView?: ArrayBuffer): void;
}

/**
 * A private epoll set watched by one libuv poll handle. Registrations are one-shot: after
 * a descriptor's readiness is delivered it stays in the set, disarmed, until re-armed.
 */
export interface NativePoller {
  /** `add` 1 for a descriptor not yet in the set, 0 to re-arm. 0 or -errno. */
  arm(fd: number, events: number, token: number, add: 0 | 1): number;
  /** Removes the descriptor; `wasArmed` 1 if a registration is still pending. 0 or -errno. */
  disarm(fd: number, wasArmed: 0 | 1): number;
  close(): void;
}

export interface FrontOptions {
  keepAliveTimeoutMs: number;
  /** Longest request head answered natively; longer ones go to node:http. */
  maxHeaderSize: number;
  /** Key entries on Accept-Encoding too (precompressed siblings are served). */
  varyOnAcceptEncoding: boolean;
  /** Bodies at least this large are kept in a sealed memfd and sent with sendfile. */
  sendfileMinBytes: number;
  maxEntries: number;
  maxBytes: number;
  /** Native work per event-loop turn at most; the rest waits one turn. */
  turnSliceMs: number;
  /** Record finished responses: 0 no, 1 yes, 2 with User-Agent and Referer. */
  log?: 0 | 1 | 2;
}

/**
 * Per finished response, eleven values: connection id, target, status, flags (1: HEAD, 2:
 * HTTP/1.0), body bytes, milliseconds from queued to out, sendfile?, encoding | null, error
 * code | null, User-Agent | null, Referer | null.
 */
export type NativeLogValue = string | number | boolean | null;

/**
 * fills: [key, target, acceptEncoding | null, ...] to answer with complete(); handOvers:
 * connection ids whose sockets are node:http's now; closes: ids whose sockets to destroy.
 */
export type FrontEvents = (
  fills: Array<string | null>,
  handOvers: number[],
  closes: number[],
  log: NativeLogValue[] | undefined,
) => void;

export interface FrontStats {
  connectionsAdopted: number;
  connectionsOpen: number;
  requests: number;
  heads: number;
  responsesMemory: number;
  responsesSendfile: number;
  bodyBytesMemory: number;
  bodyBytesSendfile: number;
  /** 304s for If-None-Match or If-Modified-Since. */
  responsesNotModified: number;
  /** 206s of one range. */
  responsesPartial: number;
  fills: number;
  entries: number;
  /** Ranges of large files read into the page cache on the thread pool before being sent. */
  diskReads: number;
  diskReadBytes: number;
  handOversRequest: number;
  handOversUncached: number;
  handOversShutdown: number;
  closedByPeer: number;
  closedRequested: number;
  closedIdle: number;
  closedStalled: number;
  closedError: number;
}

export interface RelayOptions {
  turnSliceMs: number;
  /** A read at least this large counts toward a switch to splice (see add()). */
  largeReadBytes: number;
}

/**
 * pipeSockets() in native code (native/relay/relay.cc). Its events come as [pairId, kind, a, b,
 * ...]: kind 0, bytes a -> b and b -> a so far (see add()); 4, of those, the spliced ones; 1,
 * direction a read its FIN; 2, direction a is to be spliced by JavaScript (the relay had no
 * pipe); 3, direction a & 1 failed with errno b (in send() when a & 2).
 */
export interface NativeRelay {
  /**
   * A pair id, or -errno. A direction switches to splice after `spliceAfterLargeReads` large
   * reads in a row (0: never). `first*`: bytes Node had read already, sent first.
   * `reportMoves`: an event with the counts after every turn that moved bytes; otherwise
   * only before the pair's last event (counts() answers in between).
   */
  add(
    fdA: number,
    fdB: number,
    spliceAfterLargeReads: number,
    firstAToB: Buffer | null,
    firstBToA: Buffer | null,
    reportMoves: boolean,
  ): number;
  /**
   * [bytes a -> b, bytes b -> a, ms since bytes last moved, of those spliced a -> b, b -> a],
   * or undefined once the pair is gone.
   */
  counts(id: number): [number, number, number, number, number] | undefined;
  remove(id: number): void;
  close(): void;
}

/**
 * A cached 200 of a file, as the native front answers from it. Each head runs up to the Date
 * node:http adds. The body is in memory, or the first fileSize bytes of the open file fileFd
 * (the native side keeps a dup).
 */
export type FrontEntry = {
  head: Buffer;
  /** The 200's fields without those that describe a body. */
  headNotModified: Buffer;
  /** The 200's fields without Content-Length; Content-Range and Content-Length follow. */
  headPartial: Buffer;
  etag: string | undefined;
  /** Last-Modified, as Date.parse() reads it. */
  lastModifiedMs: number | undefined;
  acceptRanges: boolean;
  /** The precompressed sibling the body is, for the access log. */
  encoding: string | undefined;
} & ({ body: Buffer } | { fileFd: number; fileSize: number });

/** The native front of `zerocopy serve` (native/front/responder.cc). */
export interface FrontBinding {
  /** Watches a dup of a paused socket's descriptor; its connection id, or -errno. */
  adopt(fd: number): number;
  /** The answer to a fill, or null for "hand over", for validForMs. */
  complete(key: string, entry: FrontEntry | null, validForMs: number): void;
  sweep(idleMs: number, stalledMs: number): void;
  /** Graceful shutdown: idle connections closed, those with a request waiting handed over. */
  drain(): void;
  stats(): FrontStats;
  close(): void;
}

export type ConstantName =
  | 'EPOLLIN'
  | 'EPOLLOUT'
  | 'EPOLLERR'
  | 'EPOLLHUP'
  | 'EPOLLRDHUP'
  | 'SEEK_SET'
  | 'SEEK_CUR'
  | 'SEEK_END'
  | 'SEEK_DATA'
  | 'SEEK_HOLE'
  | 'SPLICE_F_MOVE'
  | 'SPLICE_F_NONBLOCK'
  | 'SPLICE_F_MORE'
  | 'SPLICE_F_GIFT'
  | 'O_NONBLOCK'
  | 'O_CLOEXEC'
  | 'O_APPEND'
  | 'O_ACCMODE'
  | 'O_RDONLY'
  | 'O_WRONLY'
  | 'O_RDWR'
  | 'O_DIRECT'
  | 'F_GETFL'
  | 'F_SETFL'
  | 'F_GETFD'
  | 'F_SETFD'
  | 'FD_CLOEXEC'
  | 'F_DUPFD_CLOEXEC'
  | 'F_GETPIPE_SZ'
  | 'F_SETPIPE_SZ'
  | 'F_ADD_SEALS'
  | 'F_GET_SEALS'
  | 'F_SEAL_SEAL'
  | 'F_SEAL_SHRINK'
  | 'F_SEAL_GROW'
  | 'F_SEAL_WRITE'
  | 'F_SEAL_FUTURE_WRITE'
  | 'MFD_CLOEXEC'
  | 'MFD_ALLOW_SEALING'
  | 'MFD_HUGETLB'
  | 'PROT_NONE'
  | 'PROT_READ'
  | 'PROT_WRITE'
  | 'MAP_SHARED'
  | 'MAP_PRIVATE'
  | 'MAP_POPULATE'
  | 'MADV_NORMAL'
  | 'MADV_RANDOM'
  | 'MADV_SEQUENTIAL'
  | 'MADV_WILLNEED'
  | 'MADV_DONTNEED'
  | 'MADV_HUGEPAGE'
  | 'MADV_NOHUGEPAGE'
  | 'MS_ASYNC'
  | 'MS_SYNC'
  | 'MS_INVALIDATE'
  | 'POSIX_FADV_NORMAL'
  | 'POSIX_FADV_RANDOM'
  | 'POSIX_FADV_SEQUENTIAL'
  | 'POSIX_FADV_WILLNEED'
  | 'POSIX_FADV_DONTNEED'
  | 'POSIX_FADV_NOREUSE'
  | 'AF_UNIX'
  | 'AF_INET'
  | 'AF_INET6'
  | 'SOCK_STREAM'
  | 'SOCK_DGRAM'
  | 'SOCK_NONBLOCK'
  | 'SOCK_CLOEXEC'
  | 'SOL_SOCKET'
  | 'SO_TYPE'
  | 'SO_DOMAIN'
  | 'SO_ZEROCOPY'
  | 'SO_SNDBUF'
  | 'SO_RCVBUF'
  | 'IPPROTO_TCP'
  | 'TCP_CORK'
  | 'TCP_NODELAY'
  | 'TCP_ULP'
  | 'MSG_ZEROCOPY'
  | 'MSG_DONTWAIT'
  | 'MSG_NOSIGNAL'
  | 'MSG_MORE'
  | 'IORING_OP_SPLICE'
  | 'IORING_OP_TEE'
  | 'IORING_OP_SEND_ZC'
  | 'IORING_OP_SENDMSG_ZC'
  | 'IORING_OP_SEND'
  | 'IORING_OP_READ'
  | 'IORING_OP_WRITE'
  | 'IORING_FEAT_FAST_POLL'
  | 'IORING_FEAT_NODROP';

export type NativeConstants = Readonly<Record<ConstantName, number>> & {
  readonly PAGE_SIZE: number;
  /** The most bytes one read/write/sendfile/splice/copy_file_range moves (0x7ffff000). */
  readonly MAX_RW_COUNT: number;
};
