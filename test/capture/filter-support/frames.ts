// Crafted Ethernet frames for the filter tests: each protocol the compiler knows, the cases that
// trip filters up (fragments, IP options, VLAN and QinQ tags, IPv6 fragment headers, 802.3 LLC,
// truncated captures, odd lengths), and seeded random mutations of them.

import { isIPv6 } from 'node:net';
import type { Frame } from './pcap.js';

const HOST_A = '02:00:00:00:00:0a';
const HOST_B = '02:00:00:00:00:0b';
const BROADCAST = 'ff:ff:ff:ff:ff:ff';

export function macBytes(mac: string): number[] {
  return mac.split(':').map((part) => Number.parseInt(part, 16));
}

function ipv4Bytes(address: string): number[] {
  return address.split('.').map(Number);
}

export function ipv6Bytes(address: string): number[] {
  if (!isIPv6(address)) throw new Error(address);
  const [head = '', tail = ''] = address.split('::');
  const groups = (part: string) => (part === '' ? [] : part.split(':').map((group) => Number.parseInt(group, 16)));
  const front = groups(head);
  const back = groups(tail);
  const all = address.includes('::')
    ? [...front, ...new Array(8 - front.length - back.length).fill(0), ...back]
    : front;
  return all.flatMap((group) => [group >> 8, group & 0xff]);
}

const u16 = (value: number) => [(value >> 8) & 0xff, value & 0xff];

export function ethernet(dst: string, src: string, type: number, payload: number[], tags: number[][] = []): number[] {
  // tags: [tpid, tci] pairs, outermost first.
  const tagBytes = tags.flatMap(([tpid = 0x8100, tci = 0]) => [...u16(tpid), ...u16(tci)]);
  return [...macBytes(dst), ...macBytes(src), ...tagBytes, ...u16(type), ...payload];
}

export function ipv4(options: {
  src: string;
  dst: string;
  protocol: number;
  payload: number[];
  options?: number[];
  fragmentOffset?: number;
  moreFragments?: boolean;
  totalLength?: number;
}): number[] {
  const extra = options.options ?? [];
  const headerLength = 20 + extra.length;
  const flags = (options.moreFragments ? 0x2000 : 0) | (options.fragmentOffset ?? 0);
  return [
    0x40 | (headerLength / 4),
    0,
    ...u16(options.totalLength ?? headerLength + options.payload.length),
    0x12,
    0x34,
    ...u16(flags),
    64,
    options.protocol,
    0,
    0,
    ...ipv4Bytes(options.src),
    ...ipv4Bytes(options.dst),
    ...extra,
    ...options.payload,
  ];
}

export function ipv6(src: string, dst: string, next: number, payload: number[]): number[] {
  return [0x60, 0, 0, 0, ...u16(payload.length), next, 64, ...ipv6Bytes(src), ...ipv6Bytes(dst), ...payload];
}

export function tcp(sport: number, dport: number, flags: number, data: number[] = []): number[] {
  return [...u16(sport), ...u16(dport), 0, 0, 0, 1, 0, 0, 0, 0, 0x50, flags, ...u16(65535), 0, 0, 0, 0, ...data];
}

export function udp(sport: number, dport: number, data: number[] = []): number[] {
  return [...u16(sport), ...u16(dport), ...u16(8 + data.length), 0, 0, ...data];
}

export function icmp(type: number, code = 0): number[] {
  return [type, code, 0, 0, 0, 1, 0, 1, 0x61, 0x62, 0x63, 0x64];
}

export function arp(operation: number, senderMac: string, senderIp: string, targetMac: string, targetIp: string) {
  return [
    0,
    1,
    0x08,
    0x00,
    6,
    4,
    ...u16(operation),
    ...macBytes(senderMac),
    ...ipv4Bytes(senderIp),
    ...macBytes(targetMac),
    ...ipv4Bytes(targetIp),
  ];
}

const bytes = (count: number, seed = 7) => Array.from({ length: count }, (_, i) => (i * 31 + seed) & 0xff);

function frame(name: string, data: number[], captured = data.length): Frame {
  return { name, bytes: Buffer.from(data.slice(0, captured)), wireLength: data.length };
}

/** The hand-made corpus: every frame is there to make some filter decide something. */
export function craftedFrames(): Frame[] {
  const v4 = (
    src: string,
    dst: string,
    protocol: number,
    payload: number[],
    extra: Partial<Parameters<typeof ipv4>[0]> = {},
  ) => ethernet(HOST_B, HOST_A, 0x0800, ipv4({ src, dst, protocol, payload, ...extra }));
  const v6 = (src: string, dst: string, next: number, payload: number[]) =>
    ethernet(HOST_B, HOST_A, 0x86dd, ipv6(src, dst, next, payload));
  const syn = tcp(12345, 80, 0x02);
  return [
    frame('ipv4 tcp syn 10.0.0.1:12345 > 10.0.0.2:80', v4('10.0.0.1', '10.0.0.2', 6, syn)),
    frame('ipv4 tcp syn-ack 10.0.0.2:80 > 10.0.0.1:12345', v4('10.0.0.2', '10.0.0.1', 6, tcp(80, 12345, 0x12))),
    frame(
      'ipv4 tcp ack with data 10.0.0.1 > 10.0.0.2:80',
      v4('10.0.0.1', '10.0.0.2', 6, tcp(12345, 80, 0x18, bytes(100))),
    ),
    frame('ipv4 tcp rst 10.1.2.3:443 > 192.168.1.9:5555', v4('10.1.2.3', '192.168.1.9', 6, tcp(443, 5555, 0x04))),
    frame('ipv4 tcp fin-ack 192.168.1.9:22 > 10.1.2.3:40000', v4('192.168.1.9', '10.1.2.3', 6, tcp(22, 40000, 0x11))),
    frame(
      'ipv4 tcp with 4 bytes of IP options, port 443',
      v4('10.0.0.1', '10.0.0.3', 6, tcp(50000, 443, 0x02), { options: [1, 1, 1, 0] }),
    ),
    frame(
      'ipv4 tcp with 40 bytes of IP options (IHL 15), port 8080',
      v4('10.0.0.1', '10.0.0.3', 6, tcp(8080, 1234, 0x10), { options: new Array(40).fill(1) }),
    ),
    frame('ipv4 tcp ecn-cwr flags 172.16.0.1 > 172.16.0.2', v4('172.16.0.1', '172.16.0.2', 6, tcp(1000, 2000, 0xc2))),
    frame('ipv4 big tcp (ip len 1500)', v4('10.0.0.2', '10.0.0.1', 6, tcp(80, 12345, 0x10, bytes(1460)))),
    frame('ipv4 udp 10.0.0.1:40000 > 8.8.8.8:53', v4('10.0.0.1', '8.8.8.8', 17, udp(40000, 53, bytes(30)))),
    frame('ipv4 udp 8.8.8.8:53 > 10.0.0.1:40000', v4('8.8.8.8', '10.0.0.1', 17, udp(53, 40000, bytes(60)))),
    frame('ipv4 udp 5000 > 5001, 700 bytes', v4('10.0.0.5', '10.0.0.6', 17, udp(5000, 5001, bytes(672)))),
    frame('ipv4 udp odd length 61', v4('10.0.0.5', '10.0.0.6', 17, udp(7, 9, bytes(19)))),
    frame(
      'ipv4 udp multicast 224.0.0.251:5353',
      ethernet(
        '01:00:5e:00:00:fb',
        HOST_A,
        0x0800,
        ipv4({ src: '10.0.0.1', dst: '224.0.0.251', protocol: 17, payload: udp(5353, 5353, bytes(20)) }),
      ),
    ),
    frame(
      'ipv4 udp broadcast 255.255.255.255:67',
      ethernet(
        BROADCAST,
        HOST_A,
        0x0800,
        ipv4({ src: '0.0.0.0', dst: '255.255.255.255', protocol: 17, payload: udp(68, 67, bytes(40)) }),
      ),
    ),
    frame('ipv4 icmp echo request', v4('10.0.0.1', '10.0.0.2', 1, icmp(8))),
    frame('ipv4 icmp echo reply', v4('10.0.0.2', '10.0.0.1', 1, icmp(0))),
    frame('ipv4 icmp unreachable', v4('10.0.0.254', '10.0.0.1', 1, icmp(3, 3))),
    frame('ipv4 igmp', v4('10.0.0.1', '224.0.0.22', 2, [0x22, 0, 0, 0, 0, 0, 0, 0])),
    frame(
      'ipv4 sctp 10.0.0.1:80 > 10.0.0.2:9999',
      v4('10.0.0.1', '10.0.0.2', 132, [...u16(80), ...u16(9999), 0, 0, 0, 0, 0, 0, 0, 0]),
    ),
    frame('ipv4 gre (proto 47)', v4('10.0.0.1', '10.0.0.2', 47, bytes(24))),
    frame(
      'ipv4 first fragment udp 10.0.0.1 > 10.0.0.2:53',
      v4('10.0.0.1', '10.0.0.2', 17, udp(40001, 53, bytes(64)), { moreFragments: true }),
    ),
    frame(
      'ipv4 later fragment whose bytes read as port 53',
      v4('10.0.0.1', '10.0.0.2', 17, [0, 53, 0, 53, ...bytes(60)], { fragmentOffset: 9 }),
    ),
    frame(
      'ipv4 later fragment of tcp, bytes read as port 80 and syn',
      v4('10.0.0.1', '10.0.0.2', 6, [0, 80, 0, 80, 0, 0, 0, 0, 0, 0, 0, 0, 0x50, 0x02, 0, 0, 0, 0, 0, 0], {
        fragmentOffset: 100,
      }),
    ),
    frame('ipv6 tcp 2001:db8::1:443 > 2001:db8::2:50000', v6('2001:db8::1', '2001:db8::2', 6, tcp(443, 50000, 0x12))),
    frame('ipv6 tcp syn 2001:db8:1::5 > 2001:db8::1:80', v6('2001:db8:1::5', '2001:db8::1', 6, tcp(33333, 80, 0x02))),
    frame(
      'ipv6 udp fe80::1:5353 > ff02::fb:5353',
      ethernet('33:33:00:00:00:fb', HOST_A, 0x86dd, ipv6('fe80::1', 'ff02::fb', 17, udp(5353, 5353, bytes(20)))),
    ),
    frame('ipv6 udp ::1:53 query', v6('::1', '::1', 17, udp(45000, 53, bytes(20)))),
    frame('ipv6 icmp6 echo request', v6('2001:db8::2', '2001:db8::1', 58, [128, 0, 0, 0, 0, 1, 0, 1])),
    frame(
      'ipv6 icmp6 neighbor solicitation',
      v6('fe80::1', 'ff02::1:ff00:2', 58, [135, 0, 0, 0, 0, 0, 0, 0, ...ipv6Bytes('2001:db8::2')]),
    ),
    frame(
      'ipv6 fragment header then tcp port 80',
      v6('2001:db8::1', '2001:db8::2', 44, [6, 0, 0, 1, 0, 0, 0, 9, ...tcp(1111, 80, 0x02)]),
    ),
    frame(
      'ipv6 hop-by-hop then udp 53',
      v6('2001:db8::1', '2001:db8::2', 0, [17, 0, 1, 4, 0, 0, 0, 0, ...udp(53, 53, bytes(8))]),
    ),
    frame(
      'vlan 10 ipv4 tcp 10.0.0.1 > 10.0.0.2:80',
      ethernet(HOST_B, HOST_A, 0x0800, ipv4({ src: '10.0.0.1', dst: '10.0.0.2', protocol: 6, payload: syn }), [
        [0x8100, 10],
      ]),
    ),
    frame(
      'vlan 20 (pcp 5) ipv6 udp 53',
      ethernet(HOST_B, HOST_A, 0x86dd, ipv6('2001:db8::1', '2001:db8::2', 17, udp(1000, 53, bytes(12))), [
        [0x8100, 0xa000 | 20],
      ]),
    ),
    frame(
      'vlan 10 arp request',
      ethernet(BROADCAST, HOST_A, 0x0806, arp(1, HOST_A, '10.0.0.1', '00:00:00:00:00:00', '10.0.0.2'), [[0x8100, 10]]),
    ),
    frame(
      'qinq 802.1ad 100 / 802.1q 200 ipv4 udp 53',
      ethernet(
        HOST_B,
        HOST_A,
        0x0800,
        ipv4({ src: '10.0.0.1', dst: '10.0.0.2', protocol: 17, payload: udp(53, 53, bytes(10)) }),
        [
          [0x88a8, 100],
          [0x8100, 200],
        ],
      ),
    ),
    frame(
      '0x9100 tag 4095 ipv4 icmp',
      ethernet(HOST_B, HOST_A, 0x0800, ipv4({ src: '10.0.0.1', dst: '10.0.0.2', protocol: 1, payload: icmp(8) }), [
        [0x9100, 4095],
      ]),
    ),
    frame(
      'arp request 10.0.0.1 who-has 10.0.0.2',
      ethernet(BROADCAST, HOST_A, 0x0806, arp(1, HOST_A, '10.0.0.1', '00:00:00:00:00:00', '10.0.0.2')),
    ),
    frame('arp reply 10.0.0.2 is-at', ethernet(HOST_A, HOST_B, 0x0806, arp(2, HOST_B, '10.0.0.2', HOST_A, '10.0.0.1'))),
    frame('rarp request', ethernet(BROADCAST, HOST_A, 0x8035, arp(3, HOST_A, '0.0.0.0', HOST_A, '0.0.0.0'))),
    frame('802.3 llc stp bpdu (length field)', [
      ...macBytes('01:80:c2:00:00:00'),
      ...macBytes(HOST_A),
      0,
      38,
      0x42,
      0x42,
      0x03,
      ...bytes(35),
    ]),
    frame('802.3 llc dsap 0x06 (length field)', [
      ...macBytes(HOST_B),
      ...macBytes(HOST_A),
      0,
      30,
      0x06,
      0x06,
      0x03,
      ...bytes(27),
    ]),
    frame('lldp 0x88cc', ethernet('01:80:c2:00:00:0e', HOST_A, 0x88cc, bytes(40))),
    frame('truncated ipv4 tcp: capture ends inside the ports (36 of 54 bytes)', v4('10.0.0.1', '10.0.0.2', 6, syn), 36),
    frame('truncated ipv4 tcp: capture ends before the flags (44 bytes)', v4('10.0.0.1', '10.0.0.2', 6, syn), 44),
    frame('truncated ipv4: 20 bytes (no IP addresses)', v4('10.0.0.1', '10.0.0.2', 17, udp(53, 53)), 20),
    frame(
      'truncated ipv6: capture ends in the source address (30 bytes)',
      v6('2001:db8::1', '2001:db8::2', 6, tcp(443, 1, 2)),
      30,
    ),
    frame(
      'truncated ipv6: capture ends in the destination address (50 bytes)',
      v6('2001:db8::1', '2001:db8::2', 6, tcp(443, 1, 2)),
      50,
    ),
    frame('runt: 10 bytes', [...macBytes(HOST_B), 0x02, 0, 0, 0]),
    frame('runt: 13 bytes (half an ethertype)', [...macBytes(HOST_B), ...macBytes(HOST_A), 0x08]),
    frame('ethernet header only, type ipv4', ethernet(HOST_B, HOST_A, 0x0800, [])),
  ];
}

/** Seeded (mulberry32) so that a failure reproduces. */
export function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Variants of each frame: a header byte changed, the capture cut short, or both. */
export function mutatedFrames(frames: readonly Frame[], seed: number, perFrame: number): Frame[] {
  const next = random(seed);
  const out: Frame[] = [];
  for (const original of frames) {
    for (let i = 0; i < perFrame; i += 1) {
      const bytes = Buffer.from(original.bytes);
      const what: string[] = [];
      const kind = Math.floor(next() * 3);
      if (kind !== 1 && bytes.length > 0) {
        const at = Math.floor(next() * Math.min(bytes.length, 80));
        const value = Math.floor(next() * 256);
        bytes[at] = value;
        what.push(`byte ${at} = ${value}`);
      }
      let captured = bytes.length;
      if (kind !== 0) {
        captured = 1 + Math.floor(next() * (bytes.length - 1));
        what.push(`cut to ${captured}`);
      }
      out.push({
        name: `${original.name} [${what.join(', ')}]`,
        bytes: bytes.subarray(0, captured),
        wireLength: original.wireLength,
      });
    }
  }
  return out;
}
