// pcap records of a held batch as views for a stream (standard output, a pipe): each record
// header goes into the block itself, right before its frame, so header and frame are one
// view and the packet's bytes reach the stream without passing through JavaScript memory.
import type { Writable } from 'node:stream';
import { CAPTURED, type CaptureBatch, LENGTH, NANOSECONDS, OFFSET, ROOM, SECONDS, STATUS } from './batch.js';

export const RECORD_HEADER_BYTES = 16;
/** The Ethernet addresses a VLAN tag goes after. */
const ETHERNET_ADDRESSES = 12;

/** The views that make the records of the first `count` packets of `batch`, in order. */
export function recordViews(batch: CaptureBatch, count: number): Uint8Array[] {
  const buffers: Uint8Array[] = [];
  const { block, records, blockFields, packetFields, vlanValid } = batch.raw();
  const view = new DataView(block);
  for (let i = 0, at = blockFields; i < count; i++, at += packetFields) {
    const offset = records[at + OFFSET] as number;
    const captured = records[at + CAPTURED] as number;
    if (((records[at + STATUS] as number) & vlanValid) !== 0 || (records[at + ROOM] as number) < RECORD_HEADER_BYTES) {
      pushSeparate(batch, i, buffers);
      continue;
    }
    const header = offset - RECORD_HEADER_BYTES;
    view.setUint32(header, records[at + SECONDS] as number, true);
    view.setUint32(header + 4, records[at + NANOSECONDS] as number, true);
    view.setUint32(header + 8, captured, true);
    view.setUint32(header + 12, records[at + LENGTH] as number, true);
    buffers.push(new Uint8Array(block, header, RECORD_HEADER_BYTES + captured));
  }
  return buffers;
}

/** A record whose header cannot go into the block (no room, or a VLAN tag to put back). */
function pushSeparate(batch: CaptureBatch, index: number, buffers: Uint8Array[]): void {
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

/** Writes `buffers` to `stream`; resolves once the last is written (until then the views must stay valid). */
export function writeToStream(stream: Writable, buffers: Uint8Array[]): Promise<void> {
  return new Promise((resolve, reject) => {
    if (buffers.length === 0) return resolve();
    // Corked, the writes leave as one writev (for a pipe or socket).
    stream.cork();
    buffers.forEach((buffer, i) => {
      stream.write(buffer, i === buffers.length - 1 ? (error) => (error ? reject(error) : resolve()) : undefined);
    });
    stream.uncork();
  });
}
