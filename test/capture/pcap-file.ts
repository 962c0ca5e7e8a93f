// Reading back the classic pcap files the capture writes, to check them byte for byte.
import assert from 'node:assert/strict';
import { PCAP_NANOSECOND_MAGIC } from '../../src/capture/pcap.js';

/**
 * The records of a classic pcap file, as written (little-endian, nanosecond magic); `end` is
 * where the last record ends (past the file's length when it was cut short).
 */
export function readPcap(bytes: Buffer) {
  assert.equal(bytes.readUInt32LE(0), PCAP_NANOSECOND_MAGIC);
  const linkType = bytes.readUInt32LE(20);
  const records: { captured: Buffer; length: number; nanoseconds: number }[] = [];
  let at = 24;
  while (at < bytes.length) {
    const captured = bytes.readUInt32LE(at + 8);
    records.push({
      nanoseconds: bytes.readUInt32LE(at + 4),
      length: bytes.readUInt32LE(at + 12),
      captured: bytes.subarray(at + 16, at + 16 + captured),
    });
    at += 16 + captured;
  }
  return { linkType, records, end: at };
}
