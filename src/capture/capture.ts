// capture(): packets of one interface, one ring block at a time, read in place.
import { EAGAIN } from '../binding/errno.js';
import { binding } from '../binding/load.js';
import type {
  CaptureSource,
  NativePacketRing,
  NativeXdpSocket,
  PacketRingKernel,
  PacketRingLayout,
} from '../binding/native.js';
import { abortError } from '../engine/abort.js';
import { readiness } from '../engine/readiness.js';
import { captureClosed, systemError } from '../errors.js';
import { CaptureBatch } from './batch.js';
import { interfaceError, ringError, socketError } from './errors.js';
import { checkExpressionLink, compileExpression } from './expression.js';
import { type LinkType, linkTypeOf } from './link-type.js';
import { type CaptureOptions, MAX_RING_BYTES, type ResolvedCaptureOptions, resolveCaptureOptions } from './options.js';
import { programWords } from './program.js';
import { hardwareTypeOf, openXdp, XDP_RX_ENTRIES, type XdpInfo } from './xdp.js';

/** Counters of a capture since it opened. */
export interface CaptureStats {
  /** Packets the filter accepted (tcpdump's "received by filter"), the dropped ones included. */
  received: number;
  /** Packets the filter accepted that found no room in the ring (tcpdump's "dropped by kernel"). */
  dropped: number;
  /** Times the ring was full when a packet arrived (the kernel's freeze count). */
  freezes: number;
  /** Packets handed to you in batches. */
  delivered: number;
  /** Backend 'xdp': frames the filter refused (they reached the UMEM; the packet backend's kernel filter never counts them). */
  refused?: number;
}

// The frame size only divides a TPACKET_V3 block into "frames" for the kernel's checks (a
// V3 packet takes the room it needs); it must be aligned and no larger than a block.
const FRAME_SIZE = 2048;

/** Ends a pending wait when the capture closes while the iteration waits. */
class ClosedWhileWaiting extends Error {}

/** Ends a pending wait of an AF_XDP capture so that it looks at the socket's error. */
class RecheckSocket extends Error {}

/**
 * AF_XDP's poll() reports received frames only, never the socket's error: when the interface
 * goes away the kernel sets ENETDOWN on the socket but no wait wakes. A waiting xdp capture
 * looks at SO_ERROR this often instead.
 */
const XDP_ERROR_CHECK_MS = 1000;

/**
 * A live capture: an async iterable of batches, each one ring block. The kernel keeps
 * filling the other blocks while you hold one; the held one is given back when you
 * release() it or when the iteration asks for the next batch, whichever comes first.
 */
export class Capture implements AsyncIterable<CaptureBatch> {
  /** The interface's name and index. */
  readonly interface: string;
  readonly interfaceIndex: number;
  /** The interface's ARPHRD_ hardware type. */
  readonly hardwareType: number;
  /** Its pcap link type, where pcap has one. */
  readonly linkType: LinkType | undefined;
  readonly snapLength: number;
  /** Where the packets come from. */
  readonly backend: 'packet' | 'xdp';
  /** Backend 'xdp': the queue, the mode the kernel gave (copy or zero-copy) and why not the other. */
  readonly xdp: XdpInfo | undefined;
  readonly #source: CaptureSource;
  readonly #ring: NativePacketRing | undefined;
  readonly #xsk: NativeXdpSocket | undefined;
  readonly #xdpCounters = new Float64Array(6);
  readonly #fd: number;
  readonly #layout: PacketRingLayout;
  readonly #kernel: PacketRingKernel;
  readonly #records: Uint32Array;
  readonly #counters = new Uint32Array(3);
  readonly #totals: CaptureStats = { received: 0, dropped: 0, freezes: 0, delivered: 0 };
  readonly #signal: AbortSignal | undefined;
  #current: CaptureBatch | undefined;
  #closed = false;
  #iterating = false;
  #onAbort: (() => void) | undefined;

  /** @internal use capture(). */
  constructor(options: ResolvedCaptureOptions) {
    const { PacketRing } = binding();
    const layout = PacketRing.layout;
    const kernel = PacketRing.kernel;
    const program =
      typeof options.filter === 'string' ? compileExpression(options.filter, options.snapLength) : options.filter;
    // AF_XDP frames are all received ones and carry no packet type: no direction prefix.
    const direction = options.backend === 'xdp' ? 'inout' : options.direction;
    const words = programWords(program, options.snapLength, direction, kernel, layout.maxFilterInstructions);
    if (options.signal?.aborted === true) throw abortError(options.signal);
    const index = PacketRing.interfaceIndex(options.interface);
    if (index < 0) throw interfaceError(index, options.interface);
    this.interface = options.interface;
    this.interfaceIndex = index;
    this.snapLength = options.snapLength;
    this.#layout = layout;
    this.#kernel = kernel;
    this.#signal = options.signal;
    if (options.xdp !== undefined) {
      const hardwareType = hardwareTypeOf(options.interface);
      if (typeof options.filter === 'string') {
        checkExpressionLink(options.filter, options.interface, linkTypeOf(hardwareType));
      }
      const opened = openXdp(index, options.interface, options.xdp, words, options.promiscuous);
      this.backend = 'xdp';
      this.xdp = opened.info;
      this.hardwareType = hardwareType;
      this.#xsk = opened.socket;
      this.#ring = undefined;
      this.#source = opened.socket;
      this.#fd = opened.fd;
      this.#records = new Uint32Array(layout.blockFields + XDP_RX_ENTRIES * layout.packetFields);
    } else {
      const opened = this.#openRing(options, index, words, kernel, layout);
      this.backend = 'packet';
      this.xdp = undefined;
      this.hardwareType = opened.hardwareType;
      this.#ring = opened.ring;
      this.#xsk = undefined;
      this.#source = opened.ring;
      this.#fd = opened.fd;
      // Room for the most packets a block can hold.
      const maxPackets = Math.ceil(options.blockSize / layout.minPacketBytes);
      this.#records = new Uint32Array(layout.blockFields + maxPackets * layout.packetFields);
    }
    this.linkType = linkTypeOf(this.hardwareType);
    if (options.signal !== undefined) {
      const signal = options.signal;
      this.#onAbort = () => this.#shutdown(abortError(signal));
      signal.addEventListener('abort', this.#onAbort, { once: true });
    }
  }

  #openRing(
    options: ResolvedCaptureOptions,
    index: number,
    words: Uint32Array,
    kernel: PacketRingKernel,
    layout: PacketRingLayout,
  ): { ring: NativePacketRing; fd: number; hardwareType: number } {
    const { PacketRing } = binding();
    const ring = new PacketRing();
    const fd = ring.open();
    if (fd < 0) throw socketError(fd, 'socket');
    try {
      let result = ring.attachFilter(words);
      if (result < 0) throw socketError(result, 'setsockopt');
      result = ring.setupRing(options.blockSize, options.blocks, FRAME_SIZE, options.blockTimeoutMs);
      if (result < 0) {
        throw ringError(result, 'setsockopt', { ...options, pageSize: layout.pageSize, maxRingBytes: MAX_RING_BYTES });
      }
      const hardwareType = ring.bind(index);
      if (hardwareType < 0) throw socketError(hardwareType, 'bind');
      if (typeof options.filter === 'string') {
        checkExpressionLink(options.filter, options.interface, linkTypeOf(hardwareType));
      }
      if (options.promiscuous) {
        result = ring.setPromiscuous(index);
        if (result < 0) throw socketError(result, 'setsockopt');
      }
      if (options.fanout !== undefined) {
        const { group, mode, defrag, rollover } = options.fanout;
        const modes = {
          hash: kernel.fanoutHash,
          cpu: kernel.fanoutCpu,
          'round-robin': kernel.fanoutLoadBalance,
          random: kernel.fanoutRandom,
          rollover: kernel.fanoutRollover,
        };
        const flags = (defrag ? kernel.fanoutFlagDefrag : 0) | (rollover ? kernel.fanoutFlagRollover : 0);
        result = ring.joinFanout(group + (modes[mode] | flags) * 0x10000);
        if (result < 0) throw socketError(result, 'setsockopt');
      }
      return { ring, fd, hardwareType };
    } catch (error) {
      ring.close();
      throw error;
    }
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** The next batch (giving the previous one back first); done once the capture is closed (by close(), or by an abort, which rejects instead). */
  async next(): Promise<IteratorResult<CaptureBatch, undefined>> {
    if (this.#closed) {
      if (this.#signal?.aborted === true) throw abortError(this.#signal);
      return { value: undefined, done: true };
    }
    this.#current?.release();
    for (let woken = false; ; woken = true) {
      const block = this.#source.nextBlock(this.#records);
      if (typeof block !== 'number') return { value: this.#batch(block), done: false };
      if (block !== EAGAIN) throw systemError(block, 'nextBlock');
      // Woken with no block: the socket reported an error (its interface went down or away),
      // which stays pending until read, and would wake every wait from now on.
      if (woken) {
        const failure = this.#source.socketError();
        if (failure < 0) throw Object.assign(systemError(failure, 'recvmsg'), { interface: this.interface });
      }
      const recheck =
        this.#xsk === undefined
          ? undefined
          : setTimeout(() => readiness.cancel(this.#fd, new RecheckSocket()), XDP_ERROR_CHECK_MS).unref();
      try {
        await readiness.wait(this.#fd, 'readable');
      } catch (error) {
        if (error instanceof ClosedWhileWaiting) return { value: undefined, done: true };
        if (!(error instanceof RecheckSocket)) throw error;
      } finally {
        clearTimeout(recheck);
      }
    }
  }

  #batch(block: ArrayBuffer): CaptureBatch {
    const used = this.#layout.blockFields + (this.#records[0] as number) * this.#layout.packetFields;
    const batch = new CaptureBatch(
      block,
      this.#records.slice(0, used),
      this.#layout,
      this.#kernel,
      (released, view) => {
        if (this.#current === released) this.#current = undefined;
        if (!this.#closed) this.#source.releaseBlock(view);
      },
      (fd, limit, prefix) => this.#source.writePcap(fd, limit, prefix),
      this.backend === 'xdp' ? 'in' : undefined,
    );
    this.#current = batch;
    this.#totals.delivered += batch.length;
    return batch;
  }

  /**
   * for await (const batch of capture): one iteration at a time, over a capture not yet
   * closed (else ERR_ZEROCOPY_CAPTURE_CLOSED). close() ends the iteration; leaving the loop
   * (break, return, throw) closes the capture, as a stream's iterator does.
   */
  [Symbol.asyncIterator](): AsyncIterator<CaptureBatch, undefined> {
    if (this.#closed) throw captureClosed();
    if (this.#iterating) throw new Error('The capture is already being iterated');
    this.#iterating = true;
    return {
      next: () => this.next(),
      return: async () => {
        this.close();
        return { value: undefined, done: true };
      },
    };
  }

  /** Counters since the capture opened; after close(), the last ones read. */
  stats(): CaptureStats {
    if (!this.#closed) this.#readCounters();
    return { ...this.#totals };
  }

  #readCounters(): void {
    if (this.#xsk !== undefined) {
      const result = this.#xsk.statistics(this.#xdpCounters);
      if (result < 0) throw systemError(result, 'getsockopt');
      // Totals since the socket opened: [rx_dropped, rx_ring_full, fill ring empty, invalid, accepted, refused].
      const [rxDropped, ringFull, , , accepted, refused] = this.#xdpCounters as unknown as number[];
      this.#totals.dropped = (rxDropped as number) + (ringFull as number);
      this.#totals.received = (accepted as number) + this.#totals.dropped;
      this.#totals.refused = refused as number;
      return;
    }
    const result = (this.#ring as NativePacketRing).statistics(this.#counters);
    if (result < 0) throw systemError(result, 'getsockopt');
    // The kernel resets its counters on every read.
    this.#totals.received += this.#counters[0] as number;
    this.#totals.dropped += this.#counters[1] as number;
    this.#totals.freezes += this.#counters[2] as number;
  }

  /** Closes the socket and unmaps the ring: a held batch's views are detached, a pending iteration ends. Idempotent. */
  close(): void {
    this.#shutdown(new ClosedWhileWaiting());
  }

  #shutdown(reason: Error): void {
    if (this.#closed) return;
    if (this.#onAbort !== undefined) this.#signal?.removeEventListener('abort', this.#onAbort);
    try {
      this.#readCounters();
    } catch {
      // The last counters are lost; closing matters more.
    }
    this.#closed = true;
    readiness.cancel(this.#fd, reason);
    this.#source.close(this.#current?.takeBlock());
    this.#current = undefined;
  }
}

/**
 * Opens a capture on `options.interface`: an AF_PACKET socket with its filter attached and a
 * TPACKET_V3 ring mapped. Throws (before capturing anything) on bad options, a filter that
 * does not compile, a missing interface (ENODEV), missing CAP_NET_RAW (EPERM) or ring sizes
 * the kernel refuses.
 */
export function capture(options: CaptureOptions): Capture {
  return new Capture(resolveCaptureOptions(options, binding().PacketRing.layout));
}
