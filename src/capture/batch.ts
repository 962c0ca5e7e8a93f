// One ring block handed over by the kernel: its packets are Buffers over the mapping.
import type { PacketRingKernel, PacketRingLayout } from '../binding/native.js';
import { captureReleased } from '../errors.js';

/** How the packet met the interface (the kernel's PACKET_* types); 'in': received, type unknown (backend 'xdp'). */
export type PacketDirection = 'host' | 'broadcast' | 'multicast' | 'otherhost' | 'outgoing' | 'in' | 'unknown';

export interface VlanTag {
  /** The whole tag control information (priority, drop eligible, id). */
  tci: number;
  /** VLAN id (12 bits). */
  id: number;
  /** Priority code point (3 bits). */
  priority: number;
  /** The tag's protocol id (0x8100, 0x88a8). */
  tpid: number;
}

export interface CapturedPacket {
  /** The captured bytes, a view into the ring: length 0 once the batch is released. */
  readonly data: Buffer;
  /** Bytes captured (data.length while the batch is held). */
  readonly capturedLength: number;
  /** The packet's length on the wire. */
  readonly length: number;
  /** Receive time, nanoseconds since the Unix epoch. */
  readonly timestamp: bigint;
  readonly seconds: number;
  readonly nanoseconds: number;
  /** The VLAN tag the kernel took off the frame, if there was one (it is not in `data`). */
  readonly vlan: VlanTag | undefined;
  readonly direction: PacketDirection;
}

/** The numbers of one packet, where nextBlock() wrote them (native/capture/block_reader.h). */
export const OFFSET = 0;
export const CAPTURED = 1;
export const LENGTH = 2;
export const SECONDS = 3;
export const NANOSECONDS = 4;
const VLAN_TCI = 5;
const VLAN_TPID = 6;
export const STATUS = 7;
const PACKET_TYPE = 8;
/** Bytes before the frame that are ours to overwrite (where a pcap header can go in place). */
export const ROOM = 9;

/** Writes the first `limit` packets of the held block to `fd` as pcap records (native/capture/pcap_write.h). */
export type PcapBlockWrite = (fd: number, limit: number, prefix: Uint8Array | undefined) => Promise<number> | number;

/** A held batch's block and numbers, for writers that work on the block itself. */
export interface RawBatch {
  block: ArrayBuffer;
  records: Uint32Array;
  blockFields: number;
  packetFields: number;
  /** tp_status bit: the kernel took a VLAN tag off this frame. */
  vlanValid: number;
}

function directionOf(type: number, kernel: PacketRingKernel): PacketDirection {
  switch (type) {
    case kernel.packetHost:
      return 'host';
    case kernel.packetBroadcast:
      return 'broadcast';
    case kernel.packetMulticast:
      return 'multicast';
    case kernel.packetOtherHost:
      return 'otherhost';
    case kernel.packetOutgoing:
      return 'outgoing';
    default:
      return 'unknown';
  }
}

/**
 * A batch: the packets of one ring block. While the batch is held the kernel does not
 * write that block; release() (or the iteration moving on) gives it back and detaches
 * every `data` Buffer taken from it, so none can show bytes of later packets.
 */
export class CaptureBatch implements Iterable<CapturedPacket> {
  /** Packets in the batch. */
  readonly length: number;
  /** The block's sequence number (the kernel counts every block it hands over). */
  readonly sequence: bigint;
  /** The block was handed over by its timeout, not because it was full. */
  readonly timedOut: boolean;
  #block: ArrayBuffer | undefined;
  readonly #records: Uint32Array;
  readonly #layout: PacketRingLayout;
  readonly #kernel: PacketRingKernel;
  readonly #onRelease: (batch: CaptureBatch, block: ArrayBuffer) => void;
  readonly #writePcap: PcapBlockWrite;
  /** Every packet's direction when the source has no packet types (AF_XDP: 'in'). */
  readonly #direction: PacketDirection | undefined;

  /** @internal made by Capture. */
  constructor(
    block: ArrayBuffer,
    records: Uint32Array,
    layout: PacketRingLayout,
    kernel: PacketRingKernel,
    onRelease: (batch: CaptureBatch, block: ArrayBuffer) => void,
    writePcap: PcapBlockWrite,
    direction?: PacketDirection,
  ) {
    this.#direction = direction;
    this.#block = block;
    this.#records = records;
    this.#layout = layout;
    this.#kernel = kernel;
    this.#onRelease = onRelease;
    this.#writePcap = writePcap;
    this.length = records[0] as number;
    this.sequence = (BigInt(records[3] as number) << 32n) | BigInt(records[2] as number);
    this.timedOut = ((records[1] as number) & kernel.blockTimedOut) !== 0;
  }

  get released(): boolean {
    return this.#block === undefined;
  }

  #field(index: number, field: number): number {
    return this.#records[this.#layout.blockFields + index * this.#layout.packetFields + field] as number;
  }

  #check(index: number): ArrayBuffer {
    const block = this.#block;
    if (block === undefined) throw captureReleased();
    if (!Number.isInteger(index) || index < 0 || index >= this.length) {
      throw new RangeError(`The packet index ${index} is out of range: the batch has ${this.length} packets`);
    }
    return block;
  }

  /** The bytes of packet `index` (a view into the ring), without making a packet object. */
  data(index: number): Buffer {
    const block = this.#check(index);
    return Buffer.from(block, this.#field(index, OFFSET), this.#field(index, CAPTURED));
  }

  /** The length on the wire of packet `index`. */
  originalLength(index: number): number {
    this.#check(index);
    return this.#field(index, LENGTH);
  }

  packet(index: number): CapturedPacket {
    const data = this.data(index);
    const seconds = this.#field(index, SECONDS);
    const nanoseconds = this.#field(index, NANOSECONDS);
    const status = this.#field(index, STATUS);
    let vlan: VlanTag | undefined;
    if ((status & this.#kernel.statusVlanValid) !== 0) {
      const tci = this.#field(index, VLAN_TCI);
      const tpid = (status & this.#kernel.statusVlanTpidValid) !== 0 ? this.#field(index, VLAN_TPID) : 0x8100;
      vlan = { tci, id: tci & 0xfff, priority: tci >>> 13, tpid };
    }
    return {
      data,
      capturedLength: this.#field(index, CAPTURED),
      length: this.#field(index, LENGTH),
      timestamp: BigInt(seconds) * 1_000_000_000n + BigInt(nanoseconds),
      seconds,
      nanoseconds,
      vlan,
      direction: this.#direction ?? directionOf(this.#field(index, PACKET_TYPE), this.#kernel),
    };
  }

  *[Symbol.iterator](): Iterator<CapturedPacket> {
    for (let i = 0; i < this.length; i++) yield this.packet(i);
  }

  /** Gives the block back to the kernel; every Buffer taken from this batch reads as empty. Idempotent. */
  release(): void {
    const block = this.#block;
    if (block === undefined) return;
    this.#block = undefined;
    this.#onRelease(this, block);
  }

  /** @internal the block and its numbers while held (PcapWriter writes record headers into the block). */
  raw(): RawBatch {
    const block = this.#block;
    if (block === undefined) throw captureReleased();
    return {
      block,
      records: this.#records,
      blockFields: this.#layout.blockFields,
      packetFields: this.#layout.packetFields,
      vlanValid: this.#kernel.statusVlanValid,
    };
  }

  /**
   * @internal writes the first `limit` packets to `fd` as pcap records, from the ring, on the
   * thread pool -> bytes written | -errno. The ring stays mapped, and the block out of the
   * kernel's hands, until the write is done, even if the batch is released or the capture
   * closed meanwhile.
   */
  writePcap(fd: number, limit: number, prefix: Uint8Array | undefined): Promise<number> | number {
    if (this.#block === undefined) throw captureReleased();
    return this.#writePcap(fd, limit, prefix);
  }

  /** @internal the block, for a capture closing while the batch is held. */
  takeBlock(): ArrayBuffer | undefined {
    const block = this.#block;
    this.#block = undefined;
    return block;
  }
}
