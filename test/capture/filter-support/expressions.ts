// Random filter expressions from the grammar (seeded), and random damage to them, for the
// property tests.

import { random } from './frames.js';

/** The expressions compared with tcpdump one by one: each primitive, and the usual mixes. */
export const EXPRESSIONS = [
  'tcp',
  'udp',
  'icmp',
  'icmp6',
  'ip',
  'ip6',
  'arp',
  'rarp',
  'sctp',
  'igmp',
  'host 10.0.0.1',
  'src host 10.0.0.1',
  'dst host 10.0.0.2',
  'host 10.0.0.2 and not arp',
  'host 2001:db8::1',
  'src host 2001:db8::2 or dst host ::1',
  'net 10.0.0.0/8',
  'net 10.1',
  'src net 192.168.0.0 mask 255.255.0.0',
  'dst net 224.0.0.0/4',
  'net 2001:db8::/32',
  'net 2001:db8:1::/48',
  'port 80',
  'port 53',
  'tcp port 80',
  'udp port 53',
  'src port 53',
  'dst port 80 or 443',
  'tcp dst port 80 and tcp[tcpflags] & tcp-syn != 0',
  'portrange 5000-5353',
  'udp portrange 50-60',
  'port domain or port https',
  'tcp port 80 and host 10.0.0.1',
  'tcp port 443 and (host 10.0.0.1 or host 2001:db8::1)',
  'not port 53',
  '!tcp && !udp',
  'tcp or udp and not ip6',
  'vlan',
  'vlan 10',
  'vlan 20 and udp port 53',
  'vlan and ip',
  'vlan 100 and vlan 200 and udp',
  'vlan or ip',
  'ether host 02:00:00:00:00:0a',
  'ether src 02:00:00:00:00:0b',
  'ether dst ff:ff:ff:ff:ff:ff',
  'ether broadcast',
  'ether multicast',
  'ip multicast',
  'ip6 multicast',
  'ether proto 0x88cc',
  'ether proto \\arp',
  'ether proto 6',
  'ether proto 0x42',
  'ip proto 47',
  'ip proto \\tcp',
  'ip6 proto 17',
  'proto 6',
  'less 60',
  'greater 600',
  'len > 100 and len <= 1514',
  'tcp[13] & 2 != 0',
  'tcp[tcpflags] & (tcp-syn|tcp-ack) == tcp-syn|tcp-ack',
  'tcp[tcpflags] & (tcp-rst|tcp-fin) != 0',
  'tcp[13] & 0xc0 != 0',
  'ip[2:2] > 576',
  'ip[0] & 0xf != 5',
  'ip[6:2] & 0x1fff != 0',
  'udp[0:2] = 53 or udp[2:2] = 53',
  'udp[4:2] - 8 > 20',
  'icmp[icmptype] == icmp-echo',
  'icmp[0] = 0 or icmp[0] = 8',
  'icmp6[icmp6type] = icmp6-echo',
  'ether[0] & 1 = 1',
  'ether[12:2] = 0x800 and ip[9] = 17',
  'ip[ip[0] & 0xf] = 0',
  'tcp[(tcp[12] >> 4) * 4 - 20] = 0',
  'ip[16:4] & 0xffffff00 = 0x0a000000',
  'len - 14 >= ip[2:2]',
  '(ip[2:2] - ((ip[0] & 0xf) << 2)) % 2 = 1',
  'ip[8] ^ 0x40 = 0',
  '-ip[9] = 0xfffffffa',
  'arp[6:2] = 2',
  'ip6[6] = 58 and ip6[40] = 128',
  'host 10.0.0.1 and (port 80 or port 53)',
  'host 10.0.0.1 and not 10.0.0.2',
  'port 80 or (443 or 53)',
  'host (10.0.0.1 or 2001:db8::1)',
  'tcp port 80 or 443 and not 22',
  'src 10.0.0.1 or dst 8.8.8.8',
  'ether src 02:00:00:00:00:0a and not ether dst ff:ff:ff:ff:ff:ff',
  'vlan and vlan',
  'udp and (ip6 or vlan 20)',
  'ip6 and tcp[13] = 2',
  'tcp[13] + 1 = 3',
  '1 + tcp[13] = 3',
  // Always true: libpcap's optimizer drops every load, so tcpdump (not tcpdump -O) prints runts.
  'not ip6 proto \\udp or icmp[icmptype] != 3 or ether proto 0x86dd',
  'not (src net 10.0.0.0/8 or ip6)',
  '',
];

const pick = <T>(next: () => number, items: readonly T[]): T => items[Math.floor(next() * items.length)] as T;

const IPV4 = ['10.0.0.1', '10.0.0.2', '8.8.8.8', '192.168.1.9', '224.0.0.251', '10.1.2.3'];
const IPV6 = ['2001:db8::1', '2001:db8::2', '::1', 'fe80::1', 'ff02::fb'];
const NETS = [
  '10.0.0.0/8',
  '10.0.0.0/24',
  '192.168.0.0/16',
  '224.0.0.0/4',
  '10',
  '10.1',
  '2001:db8::/32',
  'fe80::/10',
  '0.0.0.0/0',
];
const PORTS = ['53', '80', '443', '5353', '22', '12345', '0', '67'];
const MACS = ['02:00:00:00:00:0a', '02:00:00:00:00:0b', 'ff:ff:ff:ff:ff:ff', '01:00:5e:00:00:fb'];
const FIELDS = ['ether', 'ip', 'ip6', 'arp', 'tcp', 'udp', 'icmp', 'icmp6'];

export function expressionGenerator(seed: number) {
  const next = random(seed);
  const maybe = (probability: number) => next() < probability;
  const direction = () => pick(next, ['', 'src ', 'dst ', 'src or dst ', 'src and dst ']);

  const arithmetic = (depth: number): string => {
    const choice = Math.floor(next() * (depth > 0 ? 6 : 3));
    switch (choice) {
      case 0:
        return pick(next, ['0', '1', '2', '5', '0x10', '17', '576', '0xff', '6']);
      case 1:
        return 'len';
      case 2: {
        const size = pick(next, ['', ':1', ':2', ':4']);
        return `${pick(next, FIELDS)}[${Math.floor(next() * 24)}${size}]`;
      }
      case 3:
        return `${arithmetic(depth - 1)} ${pick(next, ['+', '-', '*', '&', '|', '<<', '>>', '^', '%', '/'])} ${pick(next, ['1', '2', '3', '4', '0xf'])}`;
      case 4:
        return `(${arithmetic(depth - 1)} ${pick(next, ['+', '-', '&', '|'])} ${arithmetic(depth - 1)})`;
      default: {
        const field = pick(next, ['ip', 'tcp', 'udp', 'ether']);
        return `${field}[${arithmetic(depth - 1)} & 0x1f]`;
      }
    }
  };

  const primitive = (): string => {
    switch (Math.floor(next() * 16)) {
      case 0:
        return pick(next, ['tcp', 'udp', 'icmp', 'icmp6', 'ip', 'ip6', 'arp', 'rarp', 'sctp', 'igmp']);
      case 1:
        return `${pick(next, ['', 'ip ', 'arp '])}${direction()}host ${pick(next, IPV4)}`;
      case 2:
        return `${pick(next, ['', 'ip6 '])}${direction()}host ${pick(next, IPV6)}`;
      case 3:
        return `${direction()}net ${pick(next, NETS)}`;
      case 4: {
        const first = `${pick(next, ['', 'tcp ', 'udp ', 'sctp '])}${direction()}port ${pick(next, PORTS)}`;
        return maybe(0.3) ? `${first} or ${pick(next, PORTS)}` : first;
      }
      case 5: {
        const low = Math.floor(next() * 1000);
        return `${pick(next, ['', 'tcp ', 'udp '])}${direction()}portrange ${low}-${low + Math.floor(next() * 60000)}`;
      }
      case 6:
        return maybe(0.5) ? 'vlan' : `vlan ${pick(next, ['10', '20', '100', '200', '4095'])}`;
      case 7:
        return `ether ${pick(next, ['host', 'src', 'dst', 'src host', 'dst host'])} ${pick(next, MACS)}`;
      case 8:
        return `ether proto ${pick(next, ['0x800', '0x86dd', '0x806', '0x88cc', '\\arp', '\\ip6', '6', '0x42'])}`;
      case 9:
        return `${pick(next, ['ip', 'ip6', ''])} proto ${pick(next, ['1', '6', '17', '47', '58', '\\tcp', '\\udp'])}`.trim();
      case 10:
        return `${pick(next, ['less', 'greater'])} ${pick(next, ['20', '60', '64', '100', '600', '1514'])}`;
      case 11:
        return pick(next, [
          'ether broadcast',
          'ether multicast',
          'ip multicast',
          'ip6 multicast',
          'broadcast',
          'multicast',
        ]);
      case 12:
        return `tcp[tcpflags] & (${pick(next, ['tcp-syn', 'tcp-ack', 'tcp-syn|tcp-ack', 'tcp-rst|tcp-fin', 'tcp-push'])}) ${pick(next, ['!= 0', '= 0', '== tcp-syn'])}`;
      case 13:
        return `icmp[icmptype] ${pick(next, ['=', '!='])} ${pick(next, ['icmp-echo', 'icmp-echoreply', 'icmp-unreach'])}`;
      default:
        return `${arithmetic(2)} ${pick(next, ['=', '==', '!=', '<', '<=', '>', '>='])} ${arithmetic(1)}`;
    }
  };

  const expression = (depth: number): string => {
    const roll = next();
    if (depth <= 0 || roll < 0.35) return primitive();
    if (roll < 0.45) return `${pick(next, ['not ', '!'])}${expression(depth - 1)}`;
    if (roll < 0.6) return `(${expression(depth - 1)})`;
    return `${expression(depth - 1)} ${pick(next, ['and', 'or', '&&', '||'])} ${expression(depth - 1)}`;
  };

  return { expression: () => expression(3), next };
}

const DAMAGE = [
  'and',
  'or',
  'not',
  '(',
  ')',
  '[',
  ']',
  ':',
  '=',
  '!=',
  '-',
  '/',
  '&',
  'host',
  'port',
  'net',
  'src',
  'dst',
  'tcp',
  'ip6',
  'vlan',
  '10.0.0.1',
  '::1',
  '80',
  '0x',
  '1.2.3',
  'mask',
  '\\',
  '@',
  '#',
  '"',
  "'",
  '$',
  'len',
  'proto',
  'ether',
  'aa:bb',
  '-1',
  '999999999999',
  ' ',
];

/** `expression` with a token inserted, a span deleted or two spans swapped. */
export function damage(expression: string, next: () => number): string {
  const at = Math.floor(next() * (expression.length + 1));
  switch (Math.floor(next() * 3)) {
    case 0:
      return `${expression.slice(0, at)} ${pick(next, DAMAGE)} ${expression.slice(at)}`;
    case 1:
      return expression.slice(0, at) + expression.slice(at + 1 + Math.floor(next() * 8));
    default: {
      const other = Math.floor(next() * (expression.length + 1));
      const [a, b] = at < other ? [at, other] : [other, at];
      return expression.slice(b) + expression.slice(a, b) + expression.slice(0, a);
    }
  }
}
