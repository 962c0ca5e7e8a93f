// Random filter expressions from the grammar (seeded), and random damage to them, for the
// property tests.

import { random } from './frames.js';

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
