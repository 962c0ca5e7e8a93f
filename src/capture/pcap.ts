// Classic pcap files (nanosecond timestamps) written straight from the ring. To a file, a
// block's records go in one native call that writes each record header into the block right
// before its frame and issues the writev on the thread pool: no JavaScript object per packet,
// and the packet's bytes go from the mapping to the file without passing through JavaScript
// memory. To a stream, the same records go as views (pcap-stream.ts).
import { close as closeCallback, open as openCallback, write as writeCallback } from 'node:fs';
import { constants as osConstants } from 'node:os';
import type { Writable } from 'node:stream';
import { promisify } from 'node:util';
import { systemError } from '../errors.js';
import type { CaptureBatch } from './batch.js';
import { recordViews, writeToStream } from './pcap-stream.js';

const open = promisify(openCallback);
const close = promisify(closeCallback);
const write = promisify(writeCallback);

/** pcap's magic for nanosecond timestamps (0xa1b2c3d4 is microseconds). */
export const PCAP_NANOSECOND_MAGIC = 0xa1b23c4d;
const FILE_HEADER_BYTES = 24;

export interface PcapWriterOptions {
  /** The LINKTYPE_ of the capture (Capture.linkType.value). */
  linkType: number;
  /** The snap length recorded in the file header. */
  snapLength: number;
}

interface Sink {
  writeHeader(header: Buffer): Promise<void>;
  /** The first `count` packets of `batch`, after `header` if given. */
  writeBatch(batch: CaptureBatch, count: number, header: Buffer | undefined): Promise<void>;
  close(): Promise<void>;
}

/** `path`, when the writer opened the file: named in its errors. */
function fileSink(fd: number, owned: boolean, path?: string): Sink {
  return {
    async writeHeader(header) {
      for (let at = 0; at < header.length; ) {
        const { bytesWritten } = await write(fd, header, at, header.length - at);
        at += bytesWritten;
      }
    },
    async writeBatch(batch, count, header) {
      const result = await batch.writePcap(fd, count, header);
      if (result === -osConstants.errno.EOPNOTSUPP) {
        // A batch of the xdp backend: its frames go back to the kernel on release whatever a
        // write in flight reads, so its records are written from a copy.
        const records = recordViews(batch, count);
        const bytes = Buffer.concat(header === undefined ? records : [header, ...records]);
        for (let at = 0; at < bytes.length; ) {
          const { bytesWritten } = await write(fd, bytes, at, bytes.length - at);
          at += bytesWritten;
        }
        return;
      }
      if (result < 0) throw systemError(result, 'writev', path === undefined ? {} : { path });
    },
    async close() {
      if (owned) await close(fd);
    },
  };
}

function streamSink(stream: Writable): Sink {
  return {
    writeHeader: (header) => writeToStream(stream, [header]),
    writeBatch: (batch, count, header) =>
      writeToStream(stream, header === undefined ? recordViews(batch, count) : [header, ...recordViews(batch, count)]),
    async close() {},
  };
}

/**
 * Writes a capture as a classic pcap file that tcpdump and Wireshark read. Write each batch
 * before releasing it: its packets are written from the ring itself.
 */
export class PcapWriter {
  readonly #sink: Sink;
  readonly #options: PcapWriterOptions;
  #headerWritten = false;
  /** Writes queued or running: one runs at a time, so records never interleave. */
  #pending = 0;
  /** Settles (never rejects) when the last write queued has. */
  #tail: Promise<void> = Promise.resolve();
  /** Packets written. */
  packets = 0;

  private constructor(sink: Sink, options: PcapWriterOptions) {
    this.#sink = sink;
    this.#options = options;
  }

  /** A new file at `path` (truncated if it exists). */
  static async toFile(path: string, options: PcapWriterOptions): Promise<PcapWriter> {
    return new PcapWriter(fileSink(await open(path, 'w'), true, path), options);
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

  /**
   * Runs `start` now when no write is running (so a batch can be released right after
   * writeBatch() returns its promise), or after the writes before it.
   */
  #serialize(start: () => Promise<void>): Promise<void> {
    const run = this.#pending === 0 ? start() : this.#tail.then(start);
    this.#pending++;
    const settle = () => {
      this.#pending--;
    };
    this.#tail = run.then(settle, settle);
    return run;
  }

  /** Writes the file header (once; writeBatch() does it if you have not). */
  async writeHeader(): Promise<void> {
    if (this.#headerWritten) return;
    this.#headerWritten = true;
    const header = this.#fileHeader();
    await this.#serialize(() => this.#sink.writeHeader(header));
  }

  /**
   * Writes the first `limit` packets of `batch` (all by default); resolves when they are
   * written. Each record header goes into the block itself, in the bytes right before its
   * frame (the kernel's sockaddr_ll, already read, and padding), so header and frame are
   * written together; VLAN tags the kernel took off are put back, as libpcap does. The ring
   * stays mapped, and the block out of the kernel's hands, until the write is done, even if
   * the batch is released or the capture closed meanwhile. A write called while another is
   * running waits for it, and needs its batch still held when it starts.
   */
  async writeBatch(batch: CaptureBatch, limit = batch.length): Promise<number> {
    const count = Math.min(limit, batch.length);
    let header: Buffer | undefined;
    if (!this.#headerWritten) {
      this.#headerWritten = true;
      header = this.#fileHeader();
    }
    if (count === 0 && header === undefined) return 0;
    await this.#serialize(() => this.#sink.writeBatch(batch, count, header));
    this.packets += count;
    return count;
  }

  /** Writes the header if nothing was written, waits for the writes in flight, and closes the file if it opened it. */
  async close(): Promise<void> {
    await this.writeHeader();
    await this.#tail;
    await this.#sink.close();
  }
}
