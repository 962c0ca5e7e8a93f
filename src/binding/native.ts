/**
 * The addon's raw surface, typed. The addon (native/, its parts described in
 * native/README.md) holds one thin function per system call, and the native parts that
 * moving bytes needs without a JavaScript call per event: the readiness poller, the proxy's
 * relay and the HTTP front.
 *
 * Every number-returning function returns the call's result when it is >= 0 and the
 * negated errno when it failed; nothing here throws for a failing system call (errors.ts
 * builds the Node-style error). Offsets of -1 mean "no offset: use and advance the file
 * position". Arguments are checked by src/primitives/ before they get here; policy stays
 * in TypeScript.
 *
 * The names come from native/exports.def through surface.generated.ts; the signatures are
 * typed here, once, and tsc fails while the two name different functions. Numbers both
 * sides must agree on (constants, event kinds, record lengths) are read from the addon,
 * never written here.
 */
import type { ClassName, ConstantName, FunctionName } from './surface.generated.js';

export type { ConstantName } from './surface.generated.js';

export type Bytes = NodeJS.ArrayBufferView;
export type FdPair = [number, number];

export interface IoUringProbe {
  features: number;
  opcodes: number[];
  probeErrno: number;
}

/** The system-call wrappers, one signature per ZC_FUNCTION of native/exports.def. */
export interface NativeFunctions {
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
  /** sendmsg with a UDP_SEGMENT control message: datagrams of `segmentBytes` in one call; bytes sent or -errno. */
  sendSegments(fd: number, bytes: Bytes, flags: number, segmentBytes: number): number;
  /** [first, last, copied] per notification, or -errno. */
  readZerocopyCompletions(fd: number, max: number): Array<[number, number, number]> | number;
  /** connect(fd, AF_UNSPEC): a TCP socket resets and drops its send queue; 0 or -errno. */
  disconnect(fd: number): number;
  fcntl(fd: number, command: number, argument: number): number;
  close(fd: number): number;
  fadvise(fd: number, offset: number, length: number, advice: number): number;
  readahead(fd: number, offset: number, count: number): number;
  /** fstatfs(2) f_type of the file system the descriptor is on, or -errno. */
  fileSystemType(fd: number): number;
  probeIoUring(): IoUringProbe | number;
  /** 0 when the native front's io_uring engine can run here, or -errno saying why not. */
  probeFrontRing(): number;
  /**
   * 1: the range is in the page cache with no page still being read in; 0: not; -errno
   * (-ENOSYS before Linux 6.5): cachestat cannot tell.
   */
  residentNow(fd: number, offset: number, length: number): number;
  /** lseek(2): the new offset; SEEK_DATA / SEEK_HOLE answer -ENXIO past the last data. */
  lseek(fd: number, offset: number, whence: number): number;
}

/** The native parts, one per ZC_CLASS of native/exports.def. */
export interface NativeClasses {
  Poller: PollerClass;
  NativeFront: { new (options: FrontOptions, onEvents: FrontEvents): FrontBinding; readonly layout: FrontLayout };
  Relay: RelayClass;
  Channel: NativeChannelClass;
  PacketRing: PacketRingClass;
  XdpSocket: XdpSocketClass;
  FanoutCore: FanoutCoreClass;
}

/** The kernel's numbers, as this system's headers define them. */
export type NativeConstants = Readonly<Record<ConstantName, number>>;

export interface NativeBinding extends NativeFunctions, NativeClasses {
  constants: NativeConstants;
}

// tsc fails on these lines, naming the function, while native/exports.def and the
// signatures above disagree (run `npm run build` after editing the list).
type None<T extends never> = T;
/** Listed in native/exports.def, with no signature in NativeFunctions / NativeClasses. */
export type ListedWithoutSignature = None<
  Exclude<FunctionName, keyof NativeFunctions> | Exclude<ClassName, keyof NativeClasses>
>;
/** A signature in NativeFunctions / NativeClasses for a name native/exports.def does not list. */
export type SignatureNotListed = None<
  Exclude<keyof NativeFunctions, FunctionName> | Exclude<keyof NativeClasses, ClassName>
>;

export interface PollerClass {
  new (onReady: (events: number[]) => void): NativePoller;
  /** Numbers per readiness in `events`: [token, epollEvents]. */
  readonly eventFields: number;
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
  /** role 0 producer, 1 subscriber, 2 none (reads the geometry into state, a Float64Array of 6). 0 or the subscriber's index, or -errno (-EBUSY: role taken, -EPROTO: not a channel). Messages and loans of 1..copyMax bytes are handed out as copies instead of views of the slot: up to arenaMax in the arena (an offset), beyond in an ArrayBuffer each (detached like a view). */
  open(fd: number, role: 0 | 1 | 2, state: Float64Array, copyMax?: number, arenaMax?: number): number;
  /** A view of the slot (or a scratch ArrayBuffer up to copyMax), the arena offset of a small loan (>= 0), or -errno. */
  loan(length: number): ArrayBuffer | number;
  publish(view: ArrayBuffer | undefined, length: number): number;
  cancelLoan(view: ArrayBuffer | undefined): number;
  send(bytes: Bytes): number;
  /** Releases the previous message (detaching `previous`), returns a view of the next (or of its copy up to copyMax), the arena offset of its copy (>= 0, up to arenaMax, length in state[4]), or -errno. */
  receive(previous?: ArrayBuffer): ArrayBuffer | number;
  /** The ArrayBuffer arena offsets point into (a new one whenever state[5] changes). */
  arena(): ArrayBuffer | undefined;
  /** Releases the previous message or batch (detaching `previous`), returns one view over up to `max` ready messages in consecutive slots (message i at i * slotSize, `lengths[i]` long) or -errno; state gets [first sequence, missed, count]. */
  receiveBatch(max: number, lengths: Uint32Array, previous?: ArrayBuffer): ArrayBuffer | number;
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
  /** Disk reads on libuv's thread pool at once, from all connections (at least 1). */
  diskReadsInFlight: number;
  /** Record finished responses: 0 no, 1 yes, 2 with User-Agent and Referer. */
  log?: 0 | 1 | 2;
  /** node:http's maxRequestsPerSocket, counted the same way; 0 none. */
  maxRequestsPerSocket: number;
  /** Requests with more header fields than node:http keeps (maxHeadersCount) go to it; 0 none. */
  maxHeaderFields: number;
  /** Requests carrying an Origin field go to node:http (CORS with an origin list). */
  handOverWithOrigin?: boolean;
  /** How connections are waited on and written to; io_uring falls back to epoll if its ring cannot be set up. */
  engine?: FrontEngine;
}

export type FrontEngine = 'epoll' | 'io_uring';

/** The engine a native front runs on (FrontBinding.engine()). */
export interface FrontEngineInfo {
  engine: FrontEngine;
  /** -errno: why io_uring was asked for and not set up; 0 otherwise. */
  errno: number;
  /** The io_uring set-up flags the kernel took (0 with epoll). */
  ringFlags: number;
}

/**
 * How the native front's arrays and counters are laid out, as the addon defines them
 * (NativeFront.layout): the indexes within one record, and the names stats() returns.
 */
export interface FrontLayout {
  /** Values per response in the log array. */
  logFields: number;
  logField: Readonly<Record<FrontLogField, number>>;
  /** Bits of the log's flags value. */
  logFlag: Readonly<Record<'head' | 'http10', number>>;
  /** Values per fill in the fills array. */
  fillFields: number;
  fillField: Readonly<Record<'key' | 'target' | 'acceptEncoding', number>>;
  /** Native cache keys (target and Accept-Encoding as sent) per file of the JavaScript cache. */
  keysPerFile: number;
  /** The keys of stats(). */
  stats: ReadonlyArray<keyof FrontStats>;
  /** The statuses the front answers with, the keys of stats().byStatus. */
  statuses: readonly number[];
}

export type FrontLogField =
  | 'connection'
  | 'target'
  | 'status'
  | 'flags'
  | 'bodyBytes'
  | 'durationMs'
  | 'sendfile'
  | 'encoding'
  | 'error'
  | 'userAgent'
  | 'referer';

/**
 * Per finished response, layout.logFields values at the indexes of layout.logField:
 * connection id, target, status, flags (layout.logFlag), body bytes, milliseconds from queued
 * to out, sendfile?, encoding | null, error code | null, User-Agent | null, Referer | null.
 */
export type NativeLogValue = string | number | boolean | null;

/**
 * fills: layout.fillFields values per fill (key, target, acceptEncoding | null) to answer
 * with complete(); handOvers:
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
  /** Answers held, one per file (and representation of it) however many targets lead there. */
  entries: number;
  /** Request keys (target, Accept-Encoding) pointing at answers, or remembered as not answerable. */
  entryKeys: number;
  /** Bytes of bodies held in memory or in memfds. */
  entryBytes: number;
  /** Descriptors held for bodies (memfds and open large files). */
  entryDescriptors: number;
  /** Answers pushed out, least recently used first, to stay within the budgets. */
  entriesEvicted: number;
  /** Ranges of large files read into the page cache on the thread pool before being sent (reads started). */
  diskReads: number;
  /** Bytes those reads went through. */
  diskReadBytes: number;
  /** Reads not started, or stopped early, because their client had left. */
  diskReadsDropped: number;
  /** Reads on the thread pool now. */
  diskReadsRunning: number;
  /** Reads waiting for room on the thread pool. */
  diskReadsWaiting: number;
  handOversRequest: number;
  handOversUncached: number;
  handOversShutdown: number;
  closedByPeer: number;
  closedRequested: number;
  closedIdle: number;
  closedStalled: number;
  /** Connections that sent nothing within the header timeout (answered 408 and closed, as node:http does). */
  closedHeaderTimeout: number;
  closedError: number;
  /** Responses by status (the keys are layout.statuses). */
  byStatus: Record<string, number>;
}

export interface RelayOptions {
  turnSliceMs: number;
  /** A read at least this large counts toward a switch to splice (see add()). */
  largeReadBytes: number;
}

export type RelayEventKind = 'moved' | 'spliced' | 'ended' | 'switched' | 'failedRecv' | 'failedSend';

export interface RelayClass {
  new (options: RelayOptions, onEvents: (events: number[]) => void): NativeRelay;
  /**
   * Each kind's number in `events`, as native/relay/relay.cc defines it (it describes them
   * at ZC_RELAY_EVENT_KINDS): moved (a, b: bytes a -> b and b -> a so far), spliced (of
   * those, the spliced ones), ended (direction a read its FIN), switched (direction a is to be
   * spliced by JavaScript: the relay had no pipe), failedRecv / failedSend (direction a met
   * errno b; the pair is gone).
   */
  readonly eventKinds: Readonly<Record<RelayEventKind, number>>;
  /** Numbers per event in `events`: [pairId, kind, a, b]. */
  readonly eventFields: number;
}

export interface RelayCounts {
  /** Bytes delivered each way. */
  aToB: number;
  bToA: number;
  /** Milliseconds since bytes last moved either way. */
  quietMs: number;
  /** Of the bytes delivered, those moved by splice. */
  splicedAToB: number;
  splicedBToA: number;
}

export type FanoutCoreEventKind = 'ended' | 'failed' | 'progress';

export interface FanoutCoreClass {
  new (options: { pipeBytes: number }, onEvents: (events: number[]) => void): NativeFanoutCore;
  /**
   * Each kind's number in `events`, as native/fanout/fanout.cc defines it: ended (the
   * destination wrote its queue after finish()), failed (errno; its queue is dropped),
   * progress (some destination wrote, after wantProgress(); id 0).
   */
  readonly eventKinds: Readonly<Record<FanoutCoreEventKind, number>>;
  /** Numbers per event in `events`: [id, kind, bytes, syscalls, errno]. */
  readonly eventFields: number;
}

/** fanout()'s destination queues in native code (native/fanout/fanout.cc). */
export interface NativeFanoutCore {
  /** A destination id, or -errno. `pollable`: false for a regular file (always writable). */
  add(fd: number, pollable: boolean): number;
  /** Queues the `count` bytes the source pipe holds for every destination; `move`: the source pipe ends empty. 0 or -errno. */
  distribute(sourceReadFd: number, count: number, move: boolean): number;
  /** Bytes queued and not yet written; -1 once it is gone. */
  queued(id: number): number;
  /** [bytes written, syscalls], undefined once it is gone. */
  counts(id: number): [number, number] | undefined;
  /** No more chunks for it: an `ended` event once its queue is written. */
  finish(id: number): void;
  /** Stops it at once, dropping its queue: its final [bytes, syscalls], undefined if it had ended. */
  remove(id: number): [number, number] | undefined;
  /** The next write to any destination sends one `progress` event. */
  wantProgress(): void;
  close(): void;
}

/** pipeSockets() in native code (native/relay/relay.cc); its events are told by RelayClass. */
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
  /** Undefined once the pair is gone. */
  counts(id: number): RelayCounts | undefined;
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
  /** What the request resolved to: every target with the same fileKey shares this answer. */
  fileKey: string;
} & ({ body: Buffer } | { fileFd: number; fileSize: number });

/** The native front of `zerocopy serve` (native/front/front.cc). */
export interface FrontBinding {
  /** Watches a dup of a paused socket's descriptor; its connection id, or -errno. */
  adopt(fd: number): number;
  /** The answer to a fill, or null for "hand over", for validForMs. */
  complete(key: string, entry: FrontEntry | null, validForMs: number): void;
  /** Closes connections idle between requests, stalled, or with no request within headersMs. */
  sweep(idleMs: number, stalledMs: number, headersMs: number): void;
  /** Graceful shutdown: idle connections closed, those with a request waiting handed over. */
  drain(): void;
  stats(): FrontStats;
  engine(): FrontEngineInfo;
  close(): void;
}

/** Where TypeScript finds each number nextBlock() writes, and the ring's fixed sizes (native/capture/). */
export interface PacketRingLayout {
  /** Numbers at the start of the records: [packets, block status, sequence low, sequence high]. */
  blockFields: number;
  /** Numbers per packet: [offset, captured, length, seconds, nanoseconds, vlanTci, vlanTpid, status, packetType, room]. */
  packetFields: number;
  /** The least room one packet takes in a block. */
  minPacketBytes: number;
  pageSize: number;
  frameAlignment: number;
  minFrameBytes: number;
  maxFilterInstructions: number;
}

/** The kernel's numbers a capture needs (linux/if_packet.h, linux/filter.h). */
export interface PacketRingKernel {
  fanoutHash: number;
  fanoutLoadBalance: number;
  fanoutCpu: number;
  fanoutRandom: number;
  fanoutRollover: number;
  fanoutFlagDefrag: number;
  fanoutFlagRollover: number;
  statusVlanValid: number;
  statusVlanTpidValid: number;
  blockTimedOut: number;
  packetHost: number;
  packetBroadcast: number;
  packetMulticast: number;
  packetOtherHost: number;
  packetOutgoing: number;
  /** The classic BPF load offset of the packet type (SKF_AD_OFF + SKF_AD_PKTTYPE). */
  ancillaryPacketType: number;
}

export interface PacketRingClass {
  new (): NativePacketRing;
  /** if_nametoindex: the index or -errno (-ENODEV). */
  interfaceIndex(name: string): number;
  readonly layout: PacketRingLayout;
  readonly kernel: PacketRingKernel;
}

/** The kernel's numbers an AF_XDP capture needs (linux/if_xdp.h, linux/if_link.h). */
export interface XdpSocketKernel {
  /** sxdp_flags: XDP_COPY, XDP_ZEROCOPY. */
  bindCopy: number;
  bindZeroCopy: number;
  /** BPF_LINK_CREATE flags: XDP_FLAGS_DRV_MODE (the driver runs the program), XDP_FLAGS_SKB_MODE (generic). */
  attachDriver: number;
  attachGeneric: number;
  pageSize: number;
  /** Numbers statistics() writes. */
  statisticsFields: number;
}

export interface XdpSocketClass {
  new (): NativeXdpSocket;
  readonly kernel: XdpSocketKernel;
  /** The capture's classic BPF interpreter alone: bytes to keep (0: drop) or -errno. */
  filterVerdict(program: Uint32Array, frame: Uint8Array): number;
}

/**
 * An AF_XDP socket with its UMEM and rings, and the XDP program that feeds it; every call
 * returns its result or -errno. nextBlock/releaseBlock/socketError/writePcap/close read as
 * NativePacketRing's (a batch is the frames the receive ring held, not a ring block).
 */
export interface NativeXdpSocket extends CaptureSource {
  /** socket(AF_XDP): its descriptor. */
  open(): number;
  /** The UMEM (frames x frameSize), its fill and completion rings and the receive ring (rxEntries), all mapped. */
  setupUmem(frameSize: number, frames: number, rxEntries: number): number;
  /** Binds to the interface's queue with XDP_COPY or XDP_ZEROCOPY. */
  bind(interfaceIndex: number, queue: number, flags: number): number;
  /** 1: zero-copy, 0: copy mode (XDP_OPTIONS). */
  zeroCopy(): number;
  /** BPF_MAP_CREATE (XSKMAP) and BPF_MAP_UPDATE_ELEM with this socket at `queue`. */
  createMap(queue: number): number;
  /** BPF_PROG_LOAD of the redirect program. */
  loadProgram(): number;
  /** BPF_LINK_CREATE (BPF_XDP) on the interface, in driver or generic mode. */
  attachProgram(interfaceIndex: number, flags: number): number;
  /** The classic BPF program run on each frame before it is handed out ([code, jt, jf, k] words). */
  setFilter(program: Uint32Array): number;
  setPromiscuous(interfaceIndex: number): number;
  /** [rx_dropped, rx_ring_full, rx_fill_ring_empty_descs, invalid descriptors, filter accepted, filter refused], totals. */
  statistics(out: Float64Array): number;
}

/** What a capture reads batches from: a packet ring or an AF_XDP socket. */
export interface CaptureSource {
  socketError(): number;
  nextBlock(records: Uint32Array): ArrayBuffer | number;
  releaseBlock(view: ArrayBuffer | undefined): number;
  writePcap(fd: number, limit: number, prefix: Uint8Array | undefined): Promise<number> | number;
  close(heldView?: ArrayBuffer): number;
}

/** An AF_PACKET socket with a TPACKET_V3 receive ring; every call returns its result or -errno. */
export interface NativePacketRing {
  /** A non-blocking AF_PACKET socket that receives nothing until bind(): its descriptor. */
  open(): number;
  /** SO_ATTACH_FILTER with [code, jt, jf, k] per instruction. */
  attachFilter(program: Uint32Array): number;
  /** PACKET_VERSION (V3), PACKET_RX_RING and the mapping. */
  setupRing(blockSize: number, blocks: number, frameSize: number, retireTimeoutMs: number): number;
  /** Binds to the interface for every protocol: its ARPHRD_ type. */
  bind(interfaceIndex: number): number;
  setPromiscuous(interfaceIndex: number): number;
  /** PACKET_FANOUT with group | (mode | flags) << 16. */
  joinFanout(argument: number): number;
  /** [packets (drops included), drops, freezes] since the last call. */
  statistics(out: Uint32Array): number;
  /** SO_ERROR, negated. */
  socketError(): number;
  /** The next full block, its numbers in `records`; -EAGAIN when none is ready. */
  nextBlock(records: Uint32Array): ArrayBuffer | number;
  /** Detaches `view` and gives its block back to the kernel. */
  releaseBlock(view: ArrayBuffer | undefined): number;
  /**
   * Writes the held block's first `limit` packets to `fd` as pcap records (after `prefix`) on
   * the thread pool: bytes written or -errno; -errno at once when no block is held.
   */
  writePcap(fd: number, limit: number, prefix: Uint8Array | undefined): Promise<number> | number;
  /** Closes the socket; the ring is unmapped once no pcap write reads it. */
  close(heldView?: ArrayBuffer): number;
}
