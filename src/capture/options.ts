// capture()'s options, checked and given their defaults before any system call.
import type { PacketRingLayout } from '../binding/native.js';
import { invalidArgType, invalidArgValue, outOfRange } from '../errors.js';
import type { BpfProgram, CaptureDirection } from './program.js';

/** How PACKET_FANOUT spreads packets across the sockets of one group. */
export type FanoutMode = 'hash' | 'cpu' | 'round-robin' | 'random' | 'rollover';

export interface FanoutOptions {
  /** The group's id (0-65535): every capture on the same interface with the same id shares the load. */
  group: number;
  /** Default 'hash': one flow always goes to the same member. */
  mode?: FanoutMode;
  /** Reassemble IP fragments before hashing, so a fragmented datagram stays with its flow. */
  defrag?: boolean;
  /** When a member's ring is full, give the packet to the next member instead of dropping it. */
  rollover?: boolean;
}

export interface RingOptions {
  /** Bytes per block, a multiple of the page size; default 1 MiB. A batch is one block. */
  blockSize?: number;
  /** Blocks in the ring; default 8 (8 MiB with the default block size). */
  blocks?: number;
  /** A block holding any packet is handed over after this long even if not full; default 10 ms. */
  blockTimeoutMs?: number;
}

/** Where packets come from: an AF_PACKET socket's TPACKET_V3 ring, or an AF_XDP socket. */
export type CaptureBackend = 'packet' | 'xdp';

/** 'auto': zero-copy where the driver supports it, else copy mode (and says why). */
export type XdpMode = 'auto' | 'copy' | 'zerocopy';

export interface XdpOptions {
  /** The interface's receive queue to take (default 0): only its frames are captured. */
  queue?: number;
  /** Default 'auto'. 'zerocopy' fails where the driver refuses it (veth does); 'copy' never tries. */
  mode?: XdpMode;
}

export interface ResolvedXdpOptions {
  queue: number;
  mode: XdpMode;
}

export interface CaptureOptions {
  /** The network interface's name (`eth0`, `lo`). */
  interface: string;
  /** A tcpdump filter expression, or a compiled classic BPF program (`tcpdump -dd`). */
  filter?: string | BpfProgram;
  /** Bytes kept of each packet; default 262144 (tcpdump's). */
  snapLength?: number;
  /** Receive packets for other hosts too; default true (as tcpdump without -p). */
  promiscuous?: boolean;
  /** 'in', 'out' or 'inout' (default), as tcpdump's -Q. */
  direction?: CaptureDirection;
  ring?: RingOptions;
  fanout?: FanoutOptions;
  /** Aborting closes the capture; a pending iteration rejects with an AbortError. */
  signal?: AbortSignal;
  /**
   * Default 'packet' (AF_PACKET, TPACKET_V3). 'xdp' captures with an AF_XDP socket and an XDP
   * program that REDIRECTS the queue's frames to it: those frames never reach the kernel's
   * network stack (no socket, no route, no firewall sees them). Use it on a mirror (SPAN)
   * port or an interface dedicated to capture, never to watch a host's own traffic. Received
   * frames only (direction 'in'), no fanout, timestamps taken at receipt, filters run in
   * this process (rejected frames still reach the UMEM). See docs/capture.md.
   */
  backend?: CaptureBackend;
  /** Options of the 'xdp' backend. */
  xdp?: XdpOptions;
}

export interface ResolvedCaptureOptions {
  interface: string;
  filter: string | BpfProgram | undefined;
  snapLength: number;
  promiscuous: boolean;
  direction: CaptureDirection;
  blockSize: number;
  blocks: number;
  blockTimeoutMs: number;
  fanout: Required<FanoutOptions> | undefined;
  signal: AbortSignal | undefined;
  backend: CaptureBackend;
  /** Set when backend is 'xdp'. */
  xdp: ResolvedXdpOptions | undefined;
}

export const DEFAULT_SNAP_LENGTH = 262144;
export const DEFAULT_BLOCK_SIZE = 1 << 20;
export const DEFAULT_BLOCKS = 8;
export const DEFAULT_BLOCK_TIMEOUT_MS = 10;
/** The kernel sizes the ring in an unsigned int (packet_set_ring()). */
export const MAX_RING_BYTES = 2 ** 32 - 1;
/** IFNAMSIZ less its terminating zero. */
const MAX_INTERFACE_NAME = 15;
const FANOUT_MODES: readonly FanoutMode[] = ['hash', 'cpu', 'round-robin', 'random', 'rollover'];
const DIRECTIONS: readonly CaptureDirection[] = ['in', 'out', 'inout'];
const BACKENDS: readonly CaptureBackend[] = ['packet', 'xdp'];
const XDP_MODES: readonly XdpMode[] = ['auto', 'copy', 'zerocopy'];
/** The kernel's queue ids are u32; no NIC has more than a few thousand. */
const MAX_QUEUE = 0xffff;

function resolveXdp(options: CaptureOptions): ResolvedXdpOptions | undefined {
  const backend = options.backend ?? 'packet';
  if (!BACKENDS.includes(backend)) {
    throw invalidArgValue('options.backend', backend, `must be one of ${BACKENDS.join(', ')}`);
  }
  if (backend !== 'xdp') {
    if (options.xdp !== undefined) throw invalidArgValue('options.xdp', options.xdp, "applies to backend 'xdp' only");
    return undefined;
  }
  const given = options.xdp ?? {};
  if (given === null || typeof given !== 'object') throw invalidArgType('options.xdp', 'of type object', given);
  const queue = integerOption('options.xdp.queue', given.queue, 0, 0, MAX_QUEUE);
  const mode = given.mode ?? 'auto';
  if (!XDP_MODES.includes(mode)) {
    throw invalidArgValue('options.xdp.mode', mode, `must be one of ${XDP_MODES.join(', ')}`);
  }
  if (options.fanout !== undefined) {
    throw invalidArgValue('options.fanout', options.fanout, "does not apply to backend 'xdp' (one socket per queue)");
  }
  if (options.direction === 'out') {
    throw invalidArgValue('options.direction', 'out', "backend 'xdp' sees received frames only ('in')");
  }
  if (options.ring !== undefined) {
    throw invalidArgValue('options.ring', options.ring, "applies to backend 'packet' only");
  }
  return { queue, mode };
}

function integerOption(name: string, value: unknown, fallback: number, min: number, max: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number') throw invalidArgType(name, 'of type number', value);
  if (!Number.isInteger(value) || value < min || value > max) {
    throw outOfRange(name, `an integer >= ${min} && <= ${max}`, value);
  }
  return value;
}

export function resolveCaptureOptions(options: CaptureOptions, layout: PacketRingLayout): ResolvedCaptureOptions {
  if (options === null || typeof options !== 'object') throw invalidArgType('options', 'of type object', options);
  const name = options.interface;
  if (typeof name !== 'string') throw invalidArgType('options.interface', 'of type string', name);
  if (name.length === 0 || name.length > MAX_INTERFACE_NAME || name.includes('/') || name.includes('\0')) {
    throw invalidArgValue(
      'options.interface',
      name,
      `must be an interface name of 1 to ${MAX_INTERFACE_NAME} characters`,
    );
  }
  const filter = options.filter;
  if (filter !== undefined && typeof filter !== 'string' && !Array.isArray(filter)) {
    throw invalidArgType('options.filter', 'a string or an array of BPF instructions', filter);
  }
  const snapLength = integerOption(
    'options.snapLength',
    options.snapLength,
    DEFAULT_SNAP_LENGTH,
    1,
    DEFAULT_SNAP_LENGTH,
  );
  const direction = options.direction ?? 'inout';
  if (!DIRECTIONS.includes(direction)) {
    throw invalidArgValue('options.direction', direction, "must be 'in', 'out' or 'inout'");
  }
  const ring = options.ring ?? {};
  const blockSize = integerOption(
    'options.ring.blockSize',
    ring.blockSize,
    DEFAULT_BLOCK_SIZE,
    layout.pageSize,
    MAX_RING_BYTES,
  );
  if (blockSize % layout.pageSize !== 0) {
    throw invalidArgValue(
      'options.ring.blockSize',
      blockSize,
      `must be a multiple of the page size (${layout.pageSize})`,
    );
  }
  const blocks = integerOption('options.ring.blocks', ring.blocks, DEFAULT_BLOCKS, 1, MAX_RING_BYTES);
  if (blockSize * blocks > MAX_RING_BYTES) {
    throw outOfRange('options.ring.blockSize * options.ring.blocks', `<= ${MAX_RING_BYTES} bytes`, blockSize * blocks);
  }
  const blockTimeoutMs = integerOption(
    'options.ring.blockTimeoutMs',
    ring.blockTimeoutMs,
    DEFAULT_BLOCK_TIMEOUT_MS,
    1,
    60_000,
  );
  let fanout: Required<FanoutOptions> | undefined;
  if (options.fanout !== undefined) {
    const given = options.fanout;
    const group = integerOption('options.fanout.group', given.group, -1, 0, 0xffff);
    if (group < 0) throw invalidArgType('options.fanout.group', 'of type number', given.group);
    const mode = given.mode ?? 'hash';
    if (!FANOUT_MODES.includes(mode)) {
      throw invalidArgValue('options.fanout.mode', mode, `must be one of ${FANOUT_MODES.join(', ')}`);
    }
    fanout = { group, mode, defrag: given.defrag === true, rollover: given.rollover === true };
  }
  const xdp = resolveXdp(options);
  const signal = options.signal;
  if (signal !== undefined && !(signal instanceof AbortSignal)) {
    throw invalidArgType('options.signal', 'an instance of AbortSignal', signal);
  }
  return {
    interface: name,
    filter,
    snapLength,
    promiscuous: options.promiscuous !== false,
    direction,
    blockSize,
    blocks,
    blockTimeoutMs,
    fanout,
    signal,
    backend: xdp === undefined ? 'packet' : 'xdp',
    xdp,
  };
}
