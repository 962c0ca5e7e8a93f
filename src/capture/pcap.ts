// Classic pcap files (nanosecond timestamps) written straight from the ring: each record is
// a 16-byte header of ours followed by the packet's own view, handed to writev together, so
// the packet's bytes go from the mapping to the file without passing through JavaScript memory.
import { close as closeCallback, open as openCallback, writev as writevCallback } from 'node:fs';
import type { Writable } from 'node:stream';
import { promisify } from 'node:util';
import { CAPTURED, type CaptureBatch, LENGTH, NANOSECONDS, OFFSET, ROOM, SECONDS, STATUS } from './batch.js';

const open = promisify(openCallback);
const close = promisify(closeCallback);
const writev = promisify(writevCallback);

/** pcap's magic for nanosecond timestamps (0xa1b2c3d4 is microseconds). */
export const PCAP_NANOSECOND_MAGIC = 0xa1b23c4d;
const FILE_HEADER_BYTES = 24;
const RECORD_HEADER_BYTES = 16;
/** Buffers per writev: Linux's IOV_MAX. */
const MAX_BUFFERS = 1024;
/** The Ethernet addresses a VLAN tag goes after. */
const ETHERNET_ADDRESSES = 12;

export interface PcapWriterOptions {
  /** The LINKTYPE_ of the capture (Capture.linkType.value). */
  linkType: number;
  /** The snap length recorded in the file header. */
  snapLength: number;
}

type Sink = { write(buffers: Uint8Array[]): Promise<void>; close(): Promise<void> };

function fileSink(fd: number, owned: boolean): Sink {
  return {
    async write(buffers) {
      let pending = buffers;
      while (pending.length > 0) {
        const chunk = pending.slice(0, MAX_BUFFERS);
        const expected = chunk.reduce((sum, buffer) => sum + buffer.byteLength, 0);
        const { bytesWritten } = await writev(fd, chunk);
        let written = bytesWritten;
        pending = pending.slice(chunk.length);
        if (written === expected) continue;
        // A short write: put back what is left of this chunk.
        const rest: Uint8Array[] = [];
        for (const buffer of chunk) {
          if (written >= buffer.byteLength) written -= buffer.byteLength;
          else {
            rest.push(written > 0 ? buffer.subarray(written) : buffer);
            written = 0;
          }
        }
        pending = [...rest, ...pending];
      }
    },
    async close() {
      if (owned) await close(fd);
    },
  };
}

function streamSink(stream: Writable): Sink {
  return {
    write(buffers) {
      // Resolves once the stream has written the last one: until then the views must stay valid.
      return new Promise((resolve, reject) => {
        if (buffers.length === 0) return resolve();
        // Corked, the writes leave as one writev (for a pipe or socket).
        stream.cork();
        buffers.forEach((buffer, i) => {
          stream.write(buffer, i === buffers.length - 1 ? (error) => (error ? reject(error) : resolve()) : undefined);
        });
        stream.uncork();
      });
    },
    async close() {},
  };
}

/**
 * Writes a capture as a classic pcap file that tcpdump and Wireshark read. Write each batch
 * before releasing it: the views are written from the ring itself.
 */
export class PcapWriter {
  readonly #sink: Sink;
  readonly #options: PcapWriterOptions;
  #headerWritten = false;
  /** Packets written. */
  packets = 0;

  private constructor(sink: Sink, options: PcapWriterOptions) {
    this.#sink = sink;
    this.#options = options;
  }

  /** A new file at `path` (truncated if it exists). */
  static async toFile(path: string, options: PcapWriterOptions): Promise<PcapWriter> {
    return new PcapWriter(fileSink(await open(path, 'w'), true), options);
  }

  /** A descriptor you own (a regular file, or a blocking pipe). */
  static toDescriptor(fd: number, options: PcapWriterOptions): PcapWriter {
    return new PcapWriter(fileSink(fd, false), options);
  }

  /** A writable stream (process.stdout). */
  static toStream(stream: Writable, options: PcapWriterOptions): PcapWriter {
    return new PcapWriter(streamSink(stream), options);
  }

  #fileHeader(): Buffer {
    const header = Buffer.alloc(FILE_HEADER_BYTES);
    header.writeUInt32LE(PCAP_NANOSECOND_MAGIC, 0);
    header.writeUInt16LE(2, 4);
    header.writeUInt16LE(4, 6);
    // thiszone and sigfigs stay 0.
    header.writeUInt32LE(this.#options.snapLength, 16);
    header.writeUInt32LE(this.#options.linkType, 20);
    return header;
  }

  /** Writes the file header (once; writeBatch() does it if you have not). */
  async writeHeader(): Promise<void> {
    if (this.#headerWritten) return;
    this.#headerWritten = true;
    await this.#sink.write([this.#fileHeader()]);
  }

  /**
   * Writes the first `limit` packets of `batch` (all by default); resolves when they are
   * written. Each record header goes into the block itself, in the bytes right before its
   * frame (the kernel's sockaddr_ll, already read, and padding), so header and frame are one
   * contiguous view: one iovec per packet and nothing allocated per packet.
   */
  async writeBatch(batch: CaptureBatch, limit = batch.length): Promise<number> {
    const count = Math.min(limit, batch.length);
    const buffers: Uint8Array[] = [];
    if (!this.#headerWritten) {
      this.#headerWritten = true;
      buffers.push(this.#fileHeader());
    }
    const { block, records, blockFields, packetFields, vlanValid } = batch.raw();
    const view = new DataView(block);
    for (let i = 0, at = blockFields; i < count; i++, at += packetFields) {
      const offset = records[at + OFFSET] as number;
      const captured = records[at + CAPTURED] as number;
      if (
        ((records[at + STATUS] as number) & vlanValid) !== 0 ||
        (records[at + ROOM] as number) < RECORD_HEADER_BYTES
      ) {
        this.#pushSeparate(batch, i, buffers);
        continue;
      }
      const header = offset - RECORD_HEADER_BYTES;
      view.setUint32(header, records[at + SECONDS] as number, true);
      view.setUint32(header + 4, records[at + NANOSECONDS] as number, true);
      view.setUint32(header + 8, captured, true);
      view.setUint32(header + 12, records[at + LENGTH] as number, true);
      buffers.push(new Uint8Array(block, header, RECORD_HEADER_BYTES + captured));
    }
    await this.#sink.write(buffers);
    this.packets += count;
    return count;
  }

  /** A record whose header cannot go into the block (no room, or a VLAN tag to put back). */
  #pushSeparate(batch: CaptureBatch, index: number, buffers: Uint8Array[]): void {
    const packet = batch.packet(index);
    const data = packet.data;
    const header = Buffer.allocUnsafe(RECORD_HEADER_BYTES);
    // The kernel took the VLAN tag off the frame; put it back where it was, as libpcap does.
    const tagged = packet.vlan !== undefined && data.length >= ETHERNET_ADDRESSES;
    const extra = tagged ? 4 : 0;
    header.writeUInt32LE(packet.seconds, 0);
    header.writeUInt32LE(packet.nanoseconds, 4);
    header.writeUInt32LE(data.length + extra, 8);
    header.writeUInt32LE(packet.length + extra, 12);
    if (tagged && packet.vlan !== undefined) {
      const tag = Buffer.allocUnsafe(4);
      tag.writeUInt16BE(packet.vlan.tpid, 0);
      tag.writeUInt16BE(packet.vlan.tci, 2);
      buffers.push(header, data.subarray(0, ETHERNET_ADDRESSES), tag, data.subarray(ETHERNET_ADDRESSES));
    } else buffers.push(header, data);
  }

  async close(): Promise<void> {
    await this.writeHeader();
    await this.#sink.close();
  }
}
