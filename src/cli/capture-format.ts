// One line per packet, in the shape of tcpdump's default output (time, protocol, addresses,
// length); every field read is inside the captured bytes.
import type { CapturedPacket } from '../capture/batch.js';

function time(seconds: number, nanoseconds: number): string {
  const date = new Date(seconds * 1000);
  const two = (n: number) => String(n).padStart(2, '0');
  const micros = String(Math.floor(nanoseconds / 1000)).padStart(6, '0');
  return `${two(date.getHours())}:${two(date.getMinutes())}:${two(date.getSeconds())}.${micros}`;
}

function ipv4(data: Buffer, at: number): string {
  return `${data[at]}.${data[at + 1]}.${data[at + 2]}.${data[at + 3]}`;
}

function ipv6(data: Buffer, at: number): string {
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(data.readUInt16BE(at + i).toString(16));
  // The longest run of zero groups becomes "::".
  const text = groups.join(':');
  const runs = text.match(/(?:^|:)0(?::0)+(?::|$)/g);
  if (runs === null) return text;
  const longest = runs.reduce((a, b) => (b.length > a.length ? b : a));
  return text.replace(longest, '::');
}

const TCP_FLAGS: [number, string][] = [
  [0x02, 'S'],
  [0x01, 'F'],
  [0x04, 'R'],
  [0x08, 'P'],
  [0x20, 'U'],
  [0x40, 'E'],
  [0x80, 'W'],
];

/** The transport part: "src.port > dst.port: UDP, length N" and the like. */
function transport(data: Buffer, at: number, protocol: number, source: string, destination: string, payload: number) {
  if (protocol === 6 && data.length >= at + 20) {
    const flags = data[at + 13] as number;
    let shown = TCP_FLAGS.filter(([bit]) => (flags & bit) !== 0)
      .map(([, name]) => name)
      .join('');
    if ((flags & 0x10) !== 0) shown += '.';
    const headerBytes = ((data[at + 12] as number) >> 4) * 4;
    return `${source}.${data.readUInt16BE(at)} > ${destination}.${data.readUInt16BE(at + 2)}: Flags [${shown || 'none'}], seq ${data.readUInt32BE(at + 4)}, length ${Math.max(0, payload - headerBytes)}`;
  }
  if (protocol === 17 && data.length >= at + 8) {
    return `${source}.${data.readUInt16BE(at)} > ${destination}.${data.readUInt16BE(at + 2)}: UDP, length ${Math.max(0, data.readUInt16BE(at + 4) - 8)}`;
  }
  if (protocol === 1 || protocol === 58)
    return `${source} > ${destination}: ICMP${protocol === 58 ? '6' : ''}, length ${payload}`;
  return `${source} > ${destination}: ip-proto-${protocol} ${payload}`;
}

function network(data: Buffer, at: number, etherType: number, length: number): string {
  if (etherType === 0x0800 && data.length >= at + 20) {
    const headerBytes = ((data[at] as number) & 0x0f) * 4;
    const total = data.readUInt16BE(at + 2);
    return `IP ${transport(data, at + headerBytes, data[at + 9] as number, ipv4(data, at + 12), ipv4(data, at + 16), total - headerBytes)}`;
  }
  if (etherType === 0x86dd && data.length >= at + 40) {
    return `IP6 ${transport(data, at + 40, data[at + 6] as number, ipv6(data, at + 8), ipv6(data, at + 24), data.readUInt16BE(at + 4))}`;
  }
  if (etherType === 0x0806 && data.length >= at + 28) {
    const operation = data.readUInt16BE(at + 6);
    if (operation === 1)
      return `ARP, Request who-has ${ipv4(data, at + 24)} tell ${ipv4(data, at + 14)}, length ${length - at}`;
    if (operation === 2)
      return `ARP, Reply ${ipv4(data, at + 14)} is-at ${data
        .subarray(at + 8, at + 14)
        .toString('hex')
        .replace(/(..)(?!$)/g, '$1:')}, length ${length - at}`;
    return `ARP, length ${length - at}`;
  }
  return `ethertype 0x${etherType.toString(16).padStart(4, '0')}, length ${length}`;
}

/** tcpdump's line for one packet; `raw` for a link type whose frames start at the IP header. */
export function formatPacket(packet: CapturedPacket, raw: boolean): string {
  const data = packet.data;
  const prefix = time(packet.seconds, packet.nanoseconds);
  if (raw) {
    const version = data.length > 0 ? (data[0] as number) >> 4 : 0;
    return `${prefix} ${network(data, 0, version === 6 ? 0x86dd : 0x0800, packet.length)}`;
  }
  if (data.length < 14) return `${prefix} [|ether]`;
  let at = 12;
  let etherType = data.readUInt16BE(at);
  let vlan = packet.vlan === undefined ? '' : `vlan ${packet.vlan.id}, `;
  while ((etherType === 0x8100 || etherType === 0x88a8) && data.length >= at + 6) {
    vlan += `vlan ${data.readUInt16BE(at + 2) & 0xfff}, `;
    at += 4;
    etherType = data.readUInt16BE(at);
  }
  return `${prefix} ${vlan}${network(data, at + 2, etherType, packet.length)}`;
}
