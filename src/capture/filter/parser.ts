// A recursive-descent reading of libpcap's grammar (grammar.y): `and` and `or` have one
// precedence and group left to right, `not` binds tightest, a bare address or number after
// `and`/`or` inherits the qualifiers written before it (`port 80 or 443`), and `vlan` moves the
// offsets of everything written after it.

import { isIPv6 } from 'node:net';
import { type Arithmetic, and, type BinaryOperator, not, or, type Predicate } from './ast.js';
import { FilterSyntaxError, SERVICE_PORTS, type Token, tokenize } from './lexer.js';
import { ETHER_TYPES, IP_PROTOCOLS, UNSUPPORTED } from './names.js';
import type { LoadSize } from './opcodes.js';
import {
  anyProtocol,
  type Direction,
  ETHERTYPE_ARP,
  ETHERTYPE_IP,
  ETHERTYPE_REVARP,
  etherBroadcast,
  etherHost,
  etherMulticast,
  firstFragment,
  IPPROTO_ICMP,
  IPPROTO_ICMPV6,
  IPPROTO_IGMP,
  IPPROTO_SCTP,
  IPPROTO_TCP,
  IPPROTO_UDP,
  ipv4,
  ipv4Host,
  ipv4HostOf,
  ipv4Multicast,
  ipv4Protocol,
  ipv6,
  ipv6Host,
  ipv6Multicast,
  ipv6Protocol,
  lengthAtLeast,
  lengthAtMost,
  linkType,
  type Offsets,
  port,
  vlan,
} from './primitives.js';

const PROTOCOL_QUALIFIERS = [
  'ether',
  'link',
  'ip',
  'ip6',
  'arp',
  'rarp',
  'tcp',
  'udp',
  'sctp',
  'icmp',
  'icmp6',
  'igmp',
];
type ProtocolQualifier = 'ether' | 'ip' | 'ip6' | 'arp' | 'rarp' | 'tcp' | 'udp' | 'sctp' | 'icmp' | 'icmp6' | 'igmp';
type AddressQualifier = 'host' | 'net' | 'port' | 'portrange' | 'proto';

interface Qualifiers {
  protocol: ProtocolQualifier | undefined;
  direction: Direction | undefined;
  address: AddressQualifier | undefined;
}

const RELATIONS: Readonly<Record<string, { jump: 'eq' | 'gt' | 'ge'; negate: boolean }>> = {
  '=': { jump: 'eq', negate: false },
  '==': { jump: 'eq', negate: false },
  '!=': { jump: 'eq', negate: true },
  '>': { jump: 'gt', negate: false },
  '>=': { jump: 'ge', negate: false },
  '<=': { jump: 'gt', negate: true },
  '<': { jump: 'ge', negate: true },
};
/** Binding strength of the arithmetic operators; `%` and `^` have none in libpcap's grammar (see below). */
const PRECEDENCE: Readonly<Record<string, number>> = {
  '|': 1,
  '&': 2,
  '<<': 3,
  '>>': 3,
  '+': 4,
  '-': 4,
  '*': 5,
  '/': 5,
};
const UNRANKED = ['%', '^'];

export function parse(expression: string): Predicate {
  return new Parser(expression).parse();
}

class Parser {
  private readonly tokens: Token[];
  private at = 0;
  private readonly offsets: Offsets = { linkType: 12, network: 14 };
  /** What a bare address after `and`/`or` inherits; undefined after a primitive that has none. */
  private inherited: Qualifiers | undefined;

  constructor(expression: string) {
    this.tokens = tokenize(expression);
  }

  parse(): Predicate {
    if (this.peek().type === 'end') return { kind: 'true' };
    const predicate = this.expression();
    const rest = this.peek();
    if (rest.type !== 'end') {
      throw this.error(
        rest,
        rest.text === ')' ? "'and', 'or' or the end (this ')' closes nothing)" : "'and', 'or' or the end",
      );
    }
    return predicate;
  }

  private peek(ahead = 0): Token {
    return this.tokens[Math.min(this.at + ahead, this.tokens.length - 1)] as Token;
  }

  private next(): Token {
    const token = this.peek();
    if (token.type !== 'end') this.at += 1;
    return token;
  }

  private error(token: Token, expected: string): FilterSyntaxError {
    const found = token.type === 'end' ? 'the end of the expression' : `'${token.text}'`;
    return new FilterSyntaxError(token.start, `expected ${expected}, found ${found}`);
  }

  private isWord(token: Token, ...words: string[]): boolean {
    return token.type === 'word' && words.includes(token.text);
  }

  private isOperator(token: Token, ...operators: string[]): boolean {
    return token.type === 'operator' && operators.includes(token.text);
  }

  private expect(operator: string, what = `'${operator}'`) {
    const token = this.next();
    if (!this.isOperator(token, operator)) throw this.error(token, what);
  }

  private booleanOperator(): 'and' | 'or' | undefined {
    const token = this.peek();
    if (this.isWord(token, 'and') || this.isOperator(token, '&&')) return 'and';
    if (this.isWord(token, 'or') || this.isOperator(token, '||')) return 'or';
    return undefined;
  }

  private isNot(token: Token) {
    return this.isWord(token, 'not') || this.isOperator(token, '!');
  }

  private expression(): Predicate {
    let left = this.term(false);
    for (let operator = this.booleanOperator(); operator !== undefined; operator = this.booleanOperator()) {
      this.next();
      const right = this.term(true);
      left = operator === 'and' ? and(left, right) : or(left, right);
    }
    return left;
  }

  private term(afterBoolean: boolean): Predicate {
    if (this.isNot(this.peek())) {
      this.next();
      return not(this.term(afterBoolean));
    }
    if (afterBoolean && this.startsBareId()) {
      const token = this.peek();
      if (this.inherited === undefined) {
        throw new FilterSyntaxError(
          token.start,
          `expected a qualifier such as 'host' or 'port' before '${token.text}' (the primitive before it has none to lend)`,
        );
      }
      return this.id(this.inherited);
    }
    return this.primitive();
  }

  /** A bare address, number or name: the `80` of `port 8080 or 80`, not the `1` of `1 = 1`. */
  private startsBareId(ahead = 0): boolean {
    const token = this.peek(ahead);
    if (token.type === 'ipv4' || token.type === 'ipv6' || token.type === 'mac' || token.type === 'escaped') return true;
    if (token.type === 'number') {
      const after = this.peek(ahead + 1);
      return !(
        after.type === 'operator' &&
        (after.text in RELATIONS || after.text in PRECEDENCE || UNRANKED.includes(after.text))
      );
    }
    if (token.type === 'word') return !this.isKeyword(token.text);
    if (this.isOperator(token, '(')) return this.startsBareId(ahead + 1);
    return false;
  }

  private isKeyword(word: string): boolean {
    return (
      PROTOCOL_QUALIFIERS.includes(word) ||
      word in UNSUPPORTED ||
      [
        'and',
        'or',
        'not',
        'src',
        'dst',
        'host',
        'net',
        'mask',
        'port',
        'portrange',
        'proto',
        'less',
        'greater',
        'len',
        'vlan',
        'broadcast',
        'multicast',
      ].includes(word)
    );
  }

  private primitive(): Predicate {
    const token = this.peek();
    if (this.isOperator(token, '(')) return this.parenthesized();
    if (token.type === 'number' || this.isOperator(token, '-') || this.isWord(token, 'len')) return this.relation();
    if (token.type === 'word') {
      const word = token.text;
      if (word in UNSUPPORTED) throw new FilterSyntaxError(token.start, UNSUPPORTED[word] as string);
      if (PROTOCOL_QUALIFIERS.includes(word)) {
        if (this.isOperator(this.peek(1), '[')) return this.relation();
        return this.qualified();
      }
      if (['src', 'dst', 'host', 'net', 'port', 'portrange', 'proto'].includes(word)) return this.qualified();
      if (word === 'less' || word === 'greater') {
        this.next();
        const value = this.next();
        if (value.type !== 'number') throw this.error(value, `a length in bytes after '${word}'`);
        this.inherited = undefined;
        return word === 'less' ? lengthAtMost(value.value) : lengthAtLeast(value.value);
      }
      if (word === 'vlan') {
        this.next();
        const id = this.peek();
        let value: number | undefined;
        if (id.type === 'number') {
          this.next();
          if (id.value > 0x0fff)
            throw new FilterSyntaxError(id.start, `expected a VLAN ID of 0 to 4095, found ${id.value}`);
          value = id.value;
        }
        this.inherited = undefined;
        return vlan(this.offsets, value);
      }
      if (word === 'broadcast' || word === 'multicast') {
        this.next();
        this.inherited = undefined;
        return word === 'broadcast' ? etherBroadcast() : etherMulticast();
      }
      if (!this.isKeyword(word)) {
        if (word.includes('-')) throw hyphenated(token);
        throw new FilterSyntaxError(
          token.start,
          `expected a primitive such as 'host', 'port' or 'tcp', found '${word}' (host names are not supported: no DNS lookups)`,
        );
      }
    }
    if (token.type === 'ipv4' || token.type === 'ipv6' || token.type === 'mac') {
      throw this.error(
        token,
        "a primitive; an address needs a qualifier such as 'host', 'net' or 'ether host' before it",
      );
    }
    throw this.error(token, "a primitive such as 'host', 'port', 'tcp' or 'not'");
  }

  /** `( ... )`: a boolean group, or the start of arithmetic (`(ip[0] & 0xf) > 5`). */
  private parenthesized(): Predicate {
    const start = this.at;
    const inherited = this.inherited;
    let arithmeticError: FilterSyntaxError | undefined;
    try {
      return this.relation();
    } catch (error) {
      if (!(error instanceof FilterSyntaxError)) throw error;
      arithmeticError = error;
      this.at = start;
    }
    try {
      this.next();
      const predicate = this.expression();
      this.expect(')', "')', 'and' or 'or'");
      this.inherited = inherited;
      return predicate;
    } catch (error) {
      if (error instanceof FilterSyntaxError && arithmeticError.position > error.position) throw arithmeticError;
      throw error;
    }
  }

  private qualified(): Predicate {
    let protocol: ProtocolQualifier | undefined;
    const first = this.peek();
    if (first.type === 'word' && PROTOCOL_QUALIFIERS.includes(first.text)) {
      this.next();
      protocol = (first.text === 'link' ? 'ether' : first.text) as ProtocolQualifier;
    }
    const direction = this.direction();
    let address: AddressQualifier | undefined;
    const qualifier = this.peek();
    if (this.isWord(qualifier, 'host', 'net', 'port', 'portrange', 'proto')) {
      this.next();
      address = qualifier.text as AddressQualifier;
    } else if (this.isWord(qualifier, 'gateway')) {
      throw new FilterSyntaxError(qualifier.start, UNSUPPORTED.gateway as string);
    } else if (direction === undefined && this.isWord(qualifier, 'broadcast', 'multicast')) {
      this.next();
      this.inherited = undefined;
      return this.broadcastOrMulticast(protocol, qualifier);
    }
    if (protocol !== undefined && direction === undefined && address === undefined) {
      this.inherited = undefined;
      return this.protocolAbbreviation(protocol, first);
    }
    const qualifiers = { protocol, direction, address };
    this.inherited = qualifiers;
    return this.id(qualifiers);
  }

  private direction(): Direction | undefined {
    const token = this.peek();
    if (!this.isWord(token, 'src', 'dst')) return undefined;
    this.next();
    const joiner = this.peek();
    const other = this.peek(1);
    if (this.isWord(joiner, 'or', 'and') && this.isWord(other, 'src', 'dst') && other.text !== token.text) {
      this.next();
      this.next();
      return joiner.text === 'or' ? 'src or dst' : 'src and dst';
    }
    return token.text as 'src' | 'dst';
  }

  private broadcastOrMulticast(protocol: ProtocolQualifier | undefined, token: Token): Predicate {
    const broadcast = token.text === 'broadcast';
    if (protocol === undefined || protocol === 'ether') return broadcast ? etherBroadcast() : etherMulticast();
    if (!broadcast && protocol === 'ip') return ipv4Multicast(this.offsets);
    if (!broadcast && protocol === 'ip6') return ipv6Multicast(this.offsets);
    if (broadcast && protocol === 'ip') {
      throw new FilterSyntaxError(
        token.start,
        "'ip broadcast' needs the interface's netmask, which a compiled filter does not have",
      );
    }
    throw new FilterSyntaxError(token.start, `'${protocol} ${token.text}' is not a valid combination`);
  }

  private protocolAbbreviation(protocol: ProtocolQualifier, token: Token): Predicate {
    const o = this.offsets;
    switch (protocol) {
      case 'ip':
        return ipv4(o);
      case 'ip6':
        return ipv6(o);
      case 'arp':
        return linkType(o, ETHERTYPE_ARP);
      case 'rarp':
        return linkType(o, ETHERTYPE_REVARP);
      case 'tcp':
        return anyProtocol(o, IPPROTO_TCP);
      case 'udp':
        return anyProtocol(o, IPPROTO_UDP);
      case 'sctp':
        return anyProtocol(o, IPPROTO_SCTP);
      case 'icmp':
        return ipv4Protocol(o, IPPROTO_ICMP);
      case 'igmp':
        return ipv4Protocol(o, IPPROTO_IGMP);
      case 'icmp6':
        return ipv6Protocol(o, IPPROTO_ICMPV6);
      case 'ether':
        throw this.error(
          this.peek(),
          `'host', 'src', 'dst', 'proto', 'broadcast', 'multicast' or '[' after '${token.text}'`,
        );
    }
  }

  /** The operand of a qualified primitive: `1.2.3.4`, `not 1.2.3.4`, `(a or b)`. */
  private id(qualifiers: Qualifiers): Predicate {
    const token = this.peek();
    if (this.isNot(token)) {
      this.next();
      return not(this.id(qualifiers));
    }
    if (this.isOperator(token, '(')) {
      this.next();
      let left = this.id(qualifiers);
      for (let operator = this.booleanOperator(); operator !== undefined; operator = this.booleanOperator()) {
        this.next();
        const right = this.id(qualifiers);
        left = operator === 'and' ? and(left, right) : or(left, right);
      }
      this.expect(')', "')', 'and' or 'or'");
      return left;
    }
    switch (qualifiers.address) {
      case 'proto':
        return this.protocolNumber(qualifiers);
      case 'port':
      case 'portrange':
        return this.portPrimitive(qualifiers);
      default:
        return this.hostPrimitive(qualifiers);
    }
  }

  private protocolNumber({ protocol, direction }: Qualifiers): Predicate {
    const token = this.next();
    if (direction !== undefined) throw new FilterSyntaxError(token.start, "'proto' takes no 'src' or 'dst'");
    let value: number | undefined;
    if (token.type === 'number') value = token.value;
    else if (token.type === 'escaped' || token.type === 'word') {
      value = protocol === 'ether' ? ETHER_TYPES[token.text] : IP_PROTOCOLS[token.text];
      if (value === undefined) {
        throw new FilterSyntaxError(
          token.start,
          `expected a protocol number or a known name, found unknown protocol '${token.text}'`,
        );
      }
    } else throw this.error(token, "a protocol number or name (like 6 or '\\tcp')");
    const o = this.offsets;
    switch (protocol) {
      case undefined:
        return anyProtocol(o, value);
      case 'ip':
        return ipv4Protocol(o, value);
      case 'ip6':
        return ipv6Protocol(o, value);
      case 'ether':
        if (value > 0xffff)
          throw new FilterSyntaxError(token.start, `expected an EtherType of at most 0xffff, found ${value}`);
        if (value === 0xe0 || value === 0x809b || value === 0x80f3) {
          throw new FilterSyntaxError(
            token.start,
            `EtherType 0x${value.toString(16)} (IPX/AppleTalk) is not supported`,
          );
        }
        return linkType(o, value);
      default:
        throw new FilterSyntaxError(
          token.start,
          `'${protocol} proto' is not valid: 'proto' follows 'ether', 'ip' or 'ip6'`,
        );
    }
  }

  private portValue(text: string, position: number): number {
    const value = /^[0-9]/.test(text) ? Number(text) : SERVICE_PORTS[text];
    if (value === undefined || !Number.isInteger(value)) {
      throw new FilterSyntaxError(position, `expected a port number, found unknown service name '${text}'`);
    }
    if (value > 65535) throw new FilterSyntaxError(position, `expected a port number of at most 65535, found ${value}`);
    return value;
  }

  private portNumber(): number {
    const token = this.next();
    let value: number | undefined;
    if (token.type === 'number') value = token.value;
    else if (token.type === 'word' || token.type === 'escaped') value = SERVICE_PORTS[token.text];
    if (value === undefined) {
      if (token.type === 'word')
        throw new FilterSyntaxError(token.start, `expected a port number, found unknown service name '${token.text}'`);
      throw this.error(token, 'a port number');
    }
    if (value > 65535)
      throw new FilterSyntaxError(token.start, `expected a port number of at most 65535, found ${value}`);
    return value;
  }

  private portPrimitive({ protocol, direction, address }: Qualifiers): Predicate {
    const start = this.peek();
    let transport: number | undefined;
    if (protocol === 'tcp') transport = IPPROTO_TCP;
    else if (protocol === 'udp') transport = IPPROTO_UDP;
    else if (protocol === 'sctp') transport = IPPROTO_SCTP;
    else if (protocol !== undefined) {
      throw new FilterSyntaxError(
        start.start,
        `'${protocol} ${address}' is not valid: ports belong to 'tcp', 'udp' or 'sctp'`,
      );
    }
    let low: number;
    let high: number;
    const range = /^([A-Za-z0-9_]+)-([A-Za-z0-9_]+)$/.exec(start.type === 'word' ? start.text : '');
    if (address === 'portrange' && range !== null) {
      // `1000-2000` is one word, as libpcap's scanner reads it.
      this.next();
      low = this.portValue(range[1] as string, start.start);
      high = this.portValue(range[2] as string, start.start + (range[1] as string).length + 1);
      if (low > high) [low, high] = [high, low];
    } else {
      low = this.portNumber();
      high = low;
    }
    return port(this.offsets, transport, { low, high }, direction ?? 'src or dst');
  }

  private hostPrimitive({ protocol, direction, address }: Qualifiers): Predicate {
    const token = this.next();
    const dir = direction ?? 'src or dst';
    const net = address === 'net';
    if (token.type === 'mac') {
      if (protocol !== 'ether' || net) {
        throw new FilterSyntaxError(
          token.start,
          "a MAC address needs 'ether' before it ('ether host', 'ether src', 'ether dst')",
        );
      }
      return etherHost(token.bytes, dir);
    }
    if (protocol === 'ether') {
      if (net)
        throw new FilterSyntaxError(token.start, "'ether net' is not valid: use 'ether host' with a MAC address");
      throw this.error(token, "a MAC address (like 00:11:22:33:44:55) after 'ether'");
    }
    if (token.type === 'ipv4' || token.type === 'number') {
      let value: number;
      let mask: number;
      if (token.type === 'number') {
        value = token.value;
        mask = 0xffffffff;
        if (net) {
          // A short net number is promoted: `net 10` is 10.0.0.0/8.
          while (value !== 0 && (value & 0xff000000) === 0) {
            value = (value << 8) >>> 0;
            mask = (mask << 8) >>> 0;
          }
        }
      } else {
        const bits = token.parts.length * 8;
        value = token.parts.reduce((sum, part) => sum * 256 + part, 0) * 2 ** (32 - bits);
        mask = bits === 32 ? 0xffffffff : (0xffffffff << (32 - bits)) >>> 0;
        const slash = this.peek();
        const masked = this.isOperator(slash, '/') || this.isWord(slash, 'mask');
        if (masked && !net) throw new FilterSyntaxError(slash.start, "a network mask is only valid after 'net'");
        if (this.isOperator(slash, '/')) {
          this.next();
          const length = this.next();
          if (length.type !== 'number' || length.value > 32) throw this.error(length, 'a prefix length of 0 to 32');
          mask = length.value === 0 ? 0 : (0xffffffff << (32 - length.value)) >>> 0;
          value = token.parts.reduce((sum, part) => sum * 256 + part, 0) * 2 ** (32 - bits);
          if ((value & ~mask) >>> 0 !== 0) {
            throw new FilterSyntaxError(token.start, `non-network bits set in '${token.text}/${length.value}'`);
          }
        } else if (this.isWord(slash, 'mask')) {
          this.next();
          const maskToken = this.next();
          if (maskToken.type !== 'ipv4' || maskToken.parts.length !== 4)
            throw this.error(maskToken, 'a netmask like 255.255.0.0');
          mask = maskToken.parts.reduce((sum, part) => sum * 256 + part, 0);
          if ((value & ~mask) >>> 0 !== 0) {
            throw new FilterSyntaxError(token.start, `non-network bits set in '${token.text} mask ${maskToken.text}'`);
          }
        }
      }
      value >>>= 0;
      switch (protocol) {
        case undefined:
          return ipv4Host(this.offsets, value, mask, dir);
        case 'ip':
          return ipv4HostOf(this.offsets, ETHERTYPE_IP, value, mask, dir);
        case 'arp':
          return ipv4HostOf(this.offsets, ETHERTYPE_ARP, value, mask, dir);
        case 'rarp':
          return ipv4HostOf(this.offsets, ETHERTYPE_REVARP, value, mask, dir);
        default:
          throw new FilterSyntaxError(token.start, `'${protocol}' cannot qualify an IPv4 ${net ? 'network' : 'host'}`);
      }
    }
    if (token.type === 'ipv6') {
      let length = 128;
      const slash = this.peek();
      if (this.isOperator(slash, '/')) {
        if (!net) throw new FilterSyntaxError(slash.start, "a network mask is only valid after 'net'");
        this.next();
        const lengthToken = this.next();
        if (lengthToken.type !== 'number' || lengthToken.value > 128)
          throw this.error(lengthToken, 'a prefix length of 0 to 128');
        length = lengthToken.value;
      }
      const words = ipv6Words(token.text);
      const mask = [0, 1, 2, 3].map((word) => {
        const bits = Math.max(0, Math.min(32, length - word * 32));
        return bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0;
      });
      if (words.some((word, i) => (word & ~(mask[i] as number)) >>> 0 !== 0)) {
        throw new FilterSyntaxError(token.start, `non-network bits set in '${token.text}/${length}'`);
      }
      if (protocol !== undefined && protocol !== 'ip6') {
        throw new FilterSyntaxError(token.start, `'${protocol}' cannot qualify an IPv6 ${net ? 'network' : 'host'}`);
      }
      return ipv6Host(this.offsets, words, mask, dir);
    }
    if (token.type === 'word' || token.type === 'escaped') {
      throw new FilterSyntaxError(
        token.start,
        `host names are not supported (no DNS lookups): write an address instead of '${token.text}'`,
      );
    }
    throw this.error(token, net ? 'a network address (like 10.0.0.0/8)' : 'an address');
  }

  // Arithmetic: `arith relop arith`.

  private relation(): Predicate {
    const left = this.arithmetic();
    const token = this.next();
    const relation = token.type === 'operator' ? RELATIONS[token.text] : undefined;
    if (relation === undefined)
      throw this.error(token, "a comparison ('=', '!=', '<', '<=', '>', '>=') or an arithmetic operator");
    const right = this.arithmetic();
    this.inherited = undefined;
    return { kind: 'relation', guard: and(left.guard, right.guard), left, right, ...relation };
  }

  private arithmetic(minimum = 1): Arithmetic {
    let left = this.unary();
    for (;;) {
      const token = this.peek();
      if (token.type !== 'operator') return left;
      if (UNRANKED.includes(token.text)) {
        // libpcap's grammar gives '%' and '^' no precedence, so yacc always shifts them: whatever
        // follows, up to the comparison, is their right operand (`a + 1 ^ 2` is `a + (1 ^ 2)`).
        this.next();
        left = this.binary(token, left, this.arithmetic(1));
        continue;
      }
      const precedence = PRECEDENCE[token.text];
      if (precedence === undefined || precedence < minimum) return left;
      this.next();
      left = this.binary(token, left, this.arithmetic(precedence + 1));
    }
  }

  private binary(token: Token, left: Arithmetic, right: Arithmetic): Arithmetic {
    const operator = token.text as BinaryOperator;
    if (right.kind === 'number') {
      // libpcap refuses a zero divisor it can see, also one its optimizer folds (`len % (1 ^ 1)`),
      // and a shift past 31 bits unless it folds the whole shift to a constant (`1 << (16 + 16)` is 0).
      if (operator === '/' && right.value === 0) throw new FilterSyntaxError(token.start, 'division by zero');
      if (operator === '%' && right.value === 0) throw new FilterSyntaxError(token.start, 'modulus by zero');
      const shift = operator === '<<' || operator === '>>';
      if (shift && right.value > 31 && (right.folded !== true || left.kind !== 'number')) {
        throw new FilterSyntaxError(token.start, 'shift by more than 31 bits');
      }
      if (left.kind === 'number') {
        return { kind: 'number', value: fold(operator, left.value, right.value), folded: true, guard: undefined };
      }
    }
    // libpcap's gen_arth() keeps only the left operand's protocol check (`1 + tcp[13]` reads
    // tcp[13] from any packet); tcpdump's verdicts are the reference, so this does the same.
    return { kind: 'binary', operator, left, right, guard: left.guard };
  }

  private unary(): Arithmetic {
    const token = this.peek();
    if (this.isOperator(token, '-')) {
      this.next();
      let operand = this.primary();
      const after = this.peek();
      if (after.type === 'operator' && UNRANKED.includes(after.text)) {
        this.next();
        operand = this.binary(after, operand, this.arithmetic(1));
      }
      if (operand.kind === 'number')
        return { kind: 'number', value: -operand.value >>> 0, folded: true, guard: undefined };
      return { kind: 'negate', operand, guard: operand.guard };
    }
    return this.primary();
  }

  private primary(): Arithmetic {
    const token = this.next();
    if (token.type === 'number') return { kind: 'number', value: token.value, guard: undefined };
    if (this.isWord(token, 'len')) return { kind: 'length', guard: undefined };
    if (this.isOperator(token, '(')) {
      const inner = this.arithmetic();
      this.expect(')', "')' or an arithmetic operator");
      return inner;
    }
    if (this.isOperator(token, '-')) {
      this.at -= 1;
      return this.unary();
    }
    if (token.type === 'word' && PROTOCOL_QUALIFIERS.includes(token.text) && this.isOperator(this.peek(), '[')) {
      return this.packetField(token);
    }
    if (token.type === 'word' && token.text.includes('-')) throw hyphenated(token);
    throw this.error(token, "a number, 'len' or a packet field like 'ip[0]' or 'tcp[13]'");
  }

  private packetField(protocol: Token): Arithmetic {
    this.expect('[');
    const index = this.arithmetic();
    let size: LoadSize = 1;
    const colon = this.peek();
    if (this.isOperator(colon, ':')) {
      this.next();
      const sizeToken = this.next();
      if (sizeToken.type !== 'number' || ![1, 2, 4].includes(sizeToken.value))
        throw this.error(sizeToken, 'a field size of 1, 2 or 4');
      size = sizeToken.value as LoadSize;
    }
    this.expect(']', "']', ':' and a size, or an arithmetic operator");
    const o = this.offsets;
    const network = { base: o.network, transport: false, ipOffset: o.network };
    switch (protocol.text) {
      case 'ether':
      case 'link':
        return { kind: 'load', base: 0, index, size, transport: false, ipOffset: o.network, guard: index.guard };
      case 'ip':
        return { kind: 'load', ...network, index, size, guard: and(index.guard, ipv4(o)) };
      case 'ip6':
        return { kind: 'load', ...network, index, size, guard: and(index.guard, ipv6(o)) };
      case 'arp':
        return { kind: 'load', ...network, index, size, guard: and(index.guard, linkType(o, ETHERTYPE_ARP)) };
      case 'rarp':
        return { kind: 'load', ...network, index, size, guard: and(index.guard, linkType(o, ETHERTYPE_REVARP)) };
      case 'icmp6':
        return {
          kind: 'load',
          base: o.network + 40,
          transport: false,
          ipOffset: o.network,
          index,
          size,
          guard: and(
            index.guard,
            and(ipv6(o), {
              kind: 'test',
              load: { mode: 'absolute', size: 1, offset: o.network + 6 },
              jump: 'eq',
              value: IPPROTO_ICMPV6,
            }),
          ),
        };
      default: {
        const numbers: Record<string, Predicate> = {
          tcp: anyProtocol(o, IPPROTO_TCP),
          udp: anyProtocol(o, IPPROTO_UDP),
          sctp: anyProtocol(o, IPPROTO_SCTP),
          icmp: ipv4Protocol(o, IPPROTO_ICMP),
          igmp: ipv4Protocol(o, IPPROTO_IGMP),
        };
        const transportProtocol = numbers[protocol.text] as Predicate;
        // As libpcap: IPv4 only, and only the first fragment has the transport header.
        const guard = and(ipv4(o), and(index.guard, and(transportProtocol, firstFragment(o))));
        return { kind: 'load', base: o.network, transport: true, ipOffset: o.network, index, size, guard };
      }
    }
  }
}

/** `len-5`: libpcap's scanner reads one name there, and so does this one. */
function hyphenated(token: Token): FilterSyntaxError {
  return new FilterSyntaxError(
    token.start,
    `expected a keyword, number or address, found the name '${token.text}' (write spaces around '-' to subtract)`,
  );
}

/** Unsigned 32-bit arithmetic, as the BPF ALU (and libpcap's constant folding) does it. */
function fold(operator: BinaryOperator, a: number, b: number): number {
  switch (operator) {
    case '+':
      return (a + b) >>> 0;
    case '-':
      return (a - b) >>> 0;
    case '*':
      return Math.imul(a, b) >>> 0;
    case '/':
      return Math.floor(a / b) >>> 0;
    case '%':
      return (a % b) >>> 0;
    case '&':
      return (a & b) >>> 0;
    case '|':
      return (a | b) >>> 0;
    case '^':
      return (a ^ b) >>> 0;
    case '<<':
      return b < 32 ? (a << b) >>> 0 : 0;
    case '>>':
      return b < 32 ? a >>> b : 0;
  }
}

function ipv6Words(text: string): number[] {
  if (!isIPv6(text)) throw new Error(`not an IPv6 address: ${text}`);
  const [head = '', tail] = text.split('::') as [string, string | undefined];
  const groups = (part: string): number[] => {
    if (part === '') return [];
    const pieces = part.split(':');
    const last = pieces[pieces.length - 1] as string;
    if (last.includes('.')) {
      pieces.pop();
      const [a = 0, b = 0, c = 0, d = 0] = last.split('.').map(Number);
      pieces.push(((a << 8) | b).toString(16), ((c << 8) | d).toString(16));
    }
    return pieces.map((piece) => Number.parseInt(piece, 16));
  };
  const front = groups(head);
  const back = tail === undefined ? [] : groups(tail);
  const all = tail === undefined ? front : [...front, ...new Array(8 - front.length - back.length).fill(0), ...back];
  return [0, 1, 2, 3].map((word) => (((all[word * 2] ?? 0) << 16) | (all[word * 2 + 1] ?? 0)) >>> 0);
}
