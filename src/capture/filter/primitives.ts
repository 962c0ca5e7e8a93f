// The primitives of pcap-filter(7) for Ethernet frames, each built the way libpcap's gencode.c
// builds it (same fields, same order of tests), so that verdicts match tcpdump's, also on
// truncated frames where an out-of-bounds load rejects the packet.

import { and, not, or, type Predicate, test } from './ast.js';

export const ETHERTYPE_IP = 0x0800;
export const ETHERTYPE_ARP = 0x0806;
export const ETHERTYPE_REVARP = 0x8035;
export const ETHERTYPE_IPV6 = 0x86dd;
const ETHERTYPE_8021Q = 0x8100;
const ETHERTYPE_8021AD = 0x88a8;
const ETHERTYPE_8021QINQ = 0x9100;
const ETHERMTU = 1500;

export const IPPROTO_ICMP = 1;
export const IPPROTO_IGMP = 2;
export const IPPROTO_TCP = 6;
export const IPPROTO_UDP = 17;
const IPPROTO_FRAGMENT = 44;
export const IPPROTO_ICMPV6 = 58;
export const IPPROTO_SCTP = 132;

/**
 * Where the link-layer type field and the network header sit. Each `vlan` moves both 4 bytes on
 * for every primitive written after it, as libpcap does.
 */
export interface Offsets {
  linkType: number;
  network: number;
}

export type Direction = 'src' | 'dst' | 'src or dst' | 'src and dst';

export function linkType(offsets: Offsets, type: number): Predicate {
  if (type > ETHERMTU) return test(2, offsets.linkType, type);
  // A value up to 1500 is an 802.2 LLC SAP: the type field is then a length.
  const isLlc = not(test(2, offsets.linkType, ETHERMTU, 'gt'));
  if (type === 0x06 || type === 0xfe || type === 0xf0) {
    return and(isLlc, test(2, offsets.network, (type << 8) | type));
  }
  return and(isLlc, test(1, offsets.linkType + 2, type));
}

export function ipv4(offsets: Offsets) {
  return linkType(offsets, ETHERTYPE_IP);
}

export function ipv6(offsets: Offsets) {
  return linkType(offsets, ETHERTYPE_IPV6);
}

/** `ip proto N`. */
export function ipv4Protocol(offsets: Offsets, protocol: number): Predicate {
  return and(ipv4(offsets), test(1, offsets.network + 9, protocol));
}

/** `ip6 proto N`: the next header, or the one after a fragment header. */
export function ipv6Protocol(offsets: Offsets, protocol: number): Predicate {
  const direct = test(1, offsets.network + 6, protocol);
  const afterFragment = and(test(1, offsets.network + 6, IPPROTO_FRAGMENT), test(1, offsets.network + 40, protocol));
  return and(ipv6(offsets), or(direct, afterFragment));
}

/** `proto N`: over IPv4 or IPv6. */
export function anyProtocol(offsets: Offsets, protocol: number): Predicate {
  return or(ipv4Protocol(offsets, protocol), ipv6Protocol(offsets, protocol));
}

/** Only the first fragment (offset 0) of an IPv4 datagram carries the transport header. */
export function firstFragment(offsets: Offsets): Predicate {
  return not(test(2, offsets.network + 6, 0x1fff, 'set'));
}

function byDirection(direction: Direction, source: () => Predicate, destination: () => Predicate): Predicate {
  switch (direction) {
    case 'src':
      return source();
    case 'dst':
      return destination();
    case 'src and dst':
      return and(source(), destination());
    case 'src or dst':
      return or(source(), destination());
  }
}

/** An IPv4 address (or network) in an IP, ARP or RARP header. */
export function ipv4HostOf(
  offsets: Offsets,
  etherType: number,
  address: number,
  mask: number,
  direction: Direction,
): Predicate {
  const [sourceOffset, destinationOffset] = etherType === ETHERTYPE_IP ? [12, 16] : [14, 24];
  const one = (offset: number) =>
    and(linkType(offsets, etherType), test(4, offsets.network + offset, address & mask, 'eq', mask));
  return byDirection(
    direction,
    () => one(sourceOffset),
    () => one(destinationOffset),
  );
}

/** `host A` / `net N` with an IPv4 address and no protocol: IPv4, ARP or RARP. */
export function ipv4Host(offsets: Offsets, address: number, mask: number, direction: Direction): Predicate {
  return or(
    or(
      ipv4HostOf(offsets, ETHERTYPE_IP, address, mask, direction),
      ipv4HostOf(offsets, ETHERTYPE_ARP, address, mask, direction),
    ),
    ipv4HostOf(offsets, ETHERTYPE_REVARP, address, mask, direction),
  );
}

/** An IPv6 address (or network), as four 32-bit words of the IPv6 header. */
export function ipv6Host(offsets: Offsets, address: number[], mask: number[], direction: Direction): Predicate {
  const one = (offset: number) => {
    let words: Predicate | undefined;
    for (let word = 0; word < 4; word += 1) {
      const m = mask[word] ?? 0;
      words = and(words, test(4, offsets.network + offset + word * 4, (address[word] ?? 0) & m, 'eq', m));
    }
    return and(ipv6(offsets), words as Predicate);
  };
  return byDirection(
    direction,
    () => one(8),
    () => one(24),
  );
}

function macTest(offset: number, mac: number[]): Predicate {
  const [a = 0, b = 0, c = 0, d = 0, e = 0, f = 0] = mac;
  return and(test(4, offset + 2, ((c << 24) | (d << 16) | (e << 8) | f) >>> 0), test(2, offset, (a << 8) | b));
}

/** `ether host/src/dst MAC`: the Ethernet header itself, never moved by `vlan`. */
export function etherHost(mac: number[], direction: Direction): Predicate {
  return byDirection(
    direction,
    () => macTest(6, mac),
    () => macTest(0, mac),
  );
}

export function etherBroadcast(): Predicate {
  return macTest(0, [0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);
}

export function etherMulticast(): Predicate {
  return test(1, 0, 1, 'eq', 1);
}

export function ipv4Multicast(offsets: Offsets): Predicate {
  return and(ipv4(offsets), test(1, offsets.network + 16, 224, 'ge'));
}

export function ipv6Multicast(offsets: Offsets): Predicate {
  return and(ipv6(offsets), test(1, offsets.network + 24, 255));
}

export type PortMatch = { low: number; high: number };

function portAtom(offsets: Offsets, ipv6Header: boolean, offset: number, { low, high }: PortMatch): Predicate {
  const field = (jump: 'eq' | 'gt' | 'ge', value: number): Predicate =>
    ipv6Header
      ? test(2, offsets.network + 40 + offset, value, jump)
      : {
          kind: 'test',
          load: { mode: 'ipv4-transport', size: 2, offset: offsets.network + offset, ipOffset: offsets.network },
          jump,
          value,
        };
  if (low === high) return field('eq', low);
  return and(field('ge', low), not(field('gt', high)));
}

function anyOf(tests: Predicate[]): Predicate {
  return tests.reduce((left, right) => or(left, right));
}

/**
 * `[tcp|udp|sctp] [src|dst] port N` and `portrange A-B`: over IPv6 (next header right after the
 * fixed header) or IPv4 (first fragments only), for each protocol that has ports. libpcap
 * builds one block per protocol and its optimizer merges them into this shape: the protocol
 * tests first, then the shared port tests (the same loads in the same order, so the same
 * verdicts, also on truncated packets).
 */
export function port(offsets: Offsets, protocol: number | undefined, ports: PortMatch, direction: Direction) {
  const protocols = protocol === undefined ? [IPPROTO_TCP, IPPROTO_UDP, IPPROTO_SCTP] : [protocol];
  const portTests = (ipv6Header: boolean) =>
    byDirection(
      direction,
      () => portAtom(offsets, ipv6Header, 0, ports),
      () => portAtom(offsets, ipv6Header, 2, ports),
    );
  const overIpv6 = and(
    ipv6(offsets),
    and(anyOf(protocols.map((p) => test(1, offsets.network + 6, p))), portTests(true)),
  );
  const overIpv4 = and(
    ipv4(offsets),
    and(and(anyOf(protocols.map((p) => test(1, offsets.network + 9, p))), firstFragment(offsets)), portTests(false)),
  );
  return or(overIpv6, overIpv4);
}

/** `vlan [ID]`: an 802.1Q, 802.1ad or QinQ tag at the current offset, then shift everything after. */
export function vlan(offsets: Offsets, id: number | undefined): Predicate {
  const tagged = or(
    or(test(2, offsets.linkType, ETHERTYPE_8021Q), test(2, offsets.linkType, ETHERTYPE_8021AD)),
    test(2, offsets.linkType, ETHERTYPE_8021QINQ),
  );
  const predicate = id === undefined ? tagged : and(tagged, test(2, offsets.network, id, 'eq', 0x0fff));
  offsets.linkType += 4;
  offsets.network += 4;
  return predicate;
}

/** `less N` (length <= N) and `greater N` (length >= N), over the length on the wire. */
export function lengthAtMost(value: number): Predicate {
  return not({ kind: 'test', load: { mode: 'length' }, jump: 'gt', value });
}

export function lengthAtLeast(value: number): Predicate {
  return { kind: 'test', load: { mode: 'length' }, jump: 'ge', value };
}
