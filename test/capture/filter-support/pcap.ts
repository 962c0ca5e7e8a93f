// Writes a classic pcap file (microsecond timestamps, LINKTYPE_ETHERNET), the format tcpdump -r reads.

import { writeFileSync } from 'node:fs';

export interface Frame {
  /** The bytes captured (maybe fewer than were on the wire). */
  bytes: Buffer;
  /** The length on the wire; more than bytes.length for a truncated capture. */
  wireLength: number;
  /** What the frame is, for failure messages. */
  name: string;
}

/** Packet i gets the timestamp FIRST_SECOND + i seconds, which is how tcpdump's output names it. */
export const FIRST_SECOND = 1_000_000_000;

export function writePcap(path: string, frames: readonly Frame[], snapLength = 262144) {
  const header = Buffer.alloc(24);
  header.writeUInt32LE(0xa1b2c3d4, 0);
  header.writeUInt16LE(2, 4);
  header.writeUInt16LE(4, 6);
  header.writeUInt32LE(snapLength, 16);
  header.writeUInt32LE(1, 20);
  const parts: Buffer[] = [header];
  frames.forEach((frame, index) => {
    const record = Buffer.alloc(16);
    record.writeUInt32LE(FIRST_SECOND + index, 0);
    record.writeUInt32LE(0, 4);
    record.writeUInt32LE(frame.bytes.length, 8);
    record.writeUInt32LE(frame.wireLength, 12);
    parts.push(record, frame.bytes);
  });
  writeFileSync(path, Buffer.concat(parts));
}
