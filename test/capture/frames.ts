// The frames bench/peers/packet-gen.c sends, built again here so a test can check every byte.
import { createHash } from 'node:crypto';

export const SOURCE_PORT_BASE = 10000;

function checksum(bytes: Buffer): number {
  let sum = 0;
  for (let i = 0; i + 1 < bytes.length; i += 2) sum += bytes.readUInt16BE(i);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

/** Frame `seq` of a run with `size` (0: varying) and `flows` source ports. */
export function frame(seq: number, size: number, flows: number): Buffer {
  const length = size === 0 ? 60 + ((seq * 97) % 1400) : size;
  const bytes = Buffer.alloc(length);
  Buffer.from([2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x00]).copy(bytes, 0);
  const ip = bytes.subarray(14, 34);
  Buffer.from([0x45, 0, 0, 0, 0, 0, 0x40, 0, 64, 17, 0, 0, 10, 77, 0, 1, 10, 77, 0, 2]).copy(ip);
  ip.writeUInt16BE(length - 14, 2);
  ip.writeUInt16BE(seq & 0xffff, 4);
  ip.writeUInt16BE(checksum(ip), 10);
  const udp = bytes.subarray(34, 42);
  udp.writeUInt16BE(SOURCE_PORT_BASE + (seq % flows), 0);
  udp.writeUInt16BE(9, 2);
  udp.writeUInt16BE(length - 34, 4);
  for (let j = 0; j < length - 42; j++) bytes[42 + j] = j < 4 ? (seq >>> (24 - 8 * j)) & 0xff : (seq + j) & 0xff;
  return bytes;
}

export function hash(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex').slice(0, 24);
}

/** The sequence number in a captured frame (the first payload bytes). */
export function sequenceOf(bytes: Buffer): number {
  return bytes.length >= 46 ? bytes.readUInt32BE(42) : -1;
}
