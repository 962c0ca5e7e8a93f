import { isIPv6 } from 'node:net';

export type Token =
  | { type: 'number'; value: number; start: number; end: number; text: string }
  /** A dotted IPv4 address, whole or partial (`10.1` has 2 parts). */
  | { type: 'ipv4'; parts: number[]; start: number; end: number; text: string }
  | { type: 'ipv6'; text: string; start: number; end: number }
  | { type: 'mac'; bytes: number[]; start: number; end: number; text: string }
  | { type: 'word'; text: string; start: number; end: number }
  /** `\name`: a protocol name where a keyword would otherwise be read (`ip proto \tcp`). */
  | { type: 'escaped'; text: string; start: number; end: number }
  | { type: 'operator'; text: string; start: number; end: number }
  | { type: 'end'; start: number; end: number; text: '' };

/** Thrown by the lexer and parser; compileFilter() turns it into the library's error. */
export class FilterSyntaxError extends Error {
  constructor(
    readonly position: number,
    readonly detail: string,
  ) {
    super(detail);
  }
}

/** Names that stand for numbers wherever a number may be written, as in pcap-filter(7). */
export const NAMED_NUMBERS: Readonly<Record<string, number>> = {
  tcpflags: 13,
  'tcp-fin': 0x01,
  'tcp-syn': 0x02,
  'tcp-rst': 0x04,
  'tcp-push': 0x08,
  'tcp-ack': 0x10,
  'tcp-urg': 0x20,
  'tcp-ece': 0x40,
  'tcp-cwr': 0x80,
  icmptype: 0,
  icmpcode: 1,
  'icmp-echoreply': 0,
  'icmp-unreach': 3,
  'icmp-sourcequench': 4,
  'icmp-redirect': 5,
  'icmp-echo': 8,
  'icmp-routeradvert': 9,
  'icmp-routersolicit': 10,
  'icmp-timxceed': 11,
  'icmp-paramprob': 12,
  'icmp-tstamp': 13,
  'icmp-tstampreply': 14,
  'icmp-ireq': 15,
  'icmp-ireqreply': 16,
  'icmp-maskreq': 17,
  'icmp-maskreply': 18,
  icmp6type: 0,
  icmp6code: 1,
  'icmp6-destinationunreach': 1,
  'icmp6-packettoobig': 2,
  'icmp6-timeexceeded': 3,
  'icmp6-parameterproblem': 4,
  'icmp6-echo': 128,
  'icmp6-echoreply': 129,
  'icmp6-multicastlistenerquery': 130,
  'icmp6-multicastlistenerreportv1': 131,
  'icmp6-multicastlistenerdone': 132,
  'icmp6-routersolicit': 133,
  'icmp6-routeradvert': 134,
  'icmp6-neighborsolicit': 135,
  'icmp6-neighboradvert': 136,
  'icmp6-redirect': 137,
};

/** Well-known service names `port` accepts (no /etc/services lookup: the compiler reads no files). */
export const SERVICE_PORTS: Readonly<Record<string, number>> = {
  'ftp-data': 20,
  ftp: 21,
  ssh: 22,
  telnet: 23,
  smtp: 25,
  domain: 53,
  bootps: 67,
  bootpc: 68,
  tftp: 69,
  http: 80,
  pop3: 110,
  ntp: 123,
  imap: 143,
  snmp: 161,
  'snmp-trap': 162,
  bgp: 179,
  ldap: 389,
  https: 443,
  submission: 587,
  imaps: 993,
  pop3s: 995,
};

const OPERATORS = ['&&', '||', '!=', '==', '>=', '<=', '<<', '>>', '!', '>', '<', '=', '(', ')', '[', ']', ':'];
const SINGLE = '+-*/%&|^';

const MAC = /[0-9A-Fa-f]{1,2}([:.-])[0-9A-Fa-f]{1,2}(?:\1[0-9A-Fa-f]{1,2}){4}(?![0-9A-Za-z:.])/y;
const MAC_DOTTED = /[0-9A-Fa-f]{4}\.[0-9A-Fa-f]{4}\.[0-9A-Fa-f]{4}(?![0-9A-Za-z:.])/y;
const IPV6_CANDIDATE = /[0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*/y;
const DOTTED = /[0-9]+(?:\.[0-9]+){1,3}/y;
const NUMBER = /0[xX][0-9A-Fa-f]+|[0-9]+/y;
/** libpcap's ID: the longest match wins, so `len-5`, `1-1` and `20-30` are each one word. */
const WORD = /[A-Za-z0-9_](?:[-_.A-Za-z0-9]*[_.A-Za-z0-9])?/y;
const ESCAPED = /\\[^\s!()]+/y;

function match(pattern: RegExp, text: string, at: number): string | undefined {
  pattern.lastIndex = at;
  return pattern.exec(text)?.[0];
}

/** Splits a filter expression into tokens, each with its character offsets. */
export function tokenize(expression: string): Token[] {
  const tokens: Token[] = [];
  let at = 0;
  while (at < expression.length) {
    const char = expression[at] as string;
    if (/\s/.test(char)) {
      at += 1;
      continue;
    }
    const start = at;
    const mac = match(MAC, expression, at) ?? match(MAC_DOTTED, expression, at);
    if (mac !== undefined) {
      const hex = mac.replace(/[:.-]/g, (_) => ' ');
      const bytes =
        mac.length === 14 && mac[4] === '.'
          ? (mac.replace(/\./g, '').match(/../g) ?? []).map((pair) => Number.parseInt(pair, 16))
          : hex.split(' ').map((pair) => Number.parseInt(pair, 16));
      tokens.push({ type: 'mac', bytes, start, end: at + mac.length, text: mac });
      at += mac.length;
      continue;
    }
    const v6 = match(IPV6_CANDIDATE, expression, at);
    if (v6 !== undefined && isIPv6(v6)) {
      tokens.push({ type: 'ipv6', text: v6, start, end: at + v6.length });
      at += v6.length;
      continue;
    }
    const word = match(WORD, expression, at);
    const dotted = match(DOTTED, expression, at);
    const number = match(NUMBER, expression, at);
    const numeric = dotted ?? number;
    if (numeric !== undefined && (word === undefined || word.length <= numeric.length)) {
      if (dotted !== undefined) {
        const parts = dotted.split('.').map(Number);
        if (parts.some((part) => part > 255)) {
          throw new FilterSyntaxError(start, `expected an IPv4 address with parts of 0 to 255, found '${dotted}'`);
        }
        tokens.push({ type: 'ipv4', parts, start, end: at + dotted.length, text: dotted });
      } else if (number !== undefined) {
        tokens.push({
          type: 'number',
          value: parseNumber(number, start),
          start,
          end: at + number.length,
          text: number,
        });
      }
      at += numeric.length;
      continue;
    }
    if (word !== undefined) {
      const named = NAMED_NUMBERS[word];
      if (named !== undefined) tokens.push({ type: 'number', value: named, start, end: at + word.length, text: word });
      else tokens.push({ type: 'word', text: word, start, end: at + word.length });
      at += word.length;
      continue;
    }
    const escaped = match(ESCAPED, expression, at);
    if (escaped !== undefined) {
      tokens.push({ type: 'escaped', text: escaped.slice(1), start, end: at + escaped.length });
      at += escaped.length;
      continue;
    }
    const operator = OPERATORS.find((candidate) => expression.startsWith(candidate, at));
    if (operator !== undefined || SINGLE.includes(char)) {
      const text = operator ?? char;
      tokens.push({ type: 'operator', text, start, end: at + text.length });
      at += text.length;
      continue;
    }
    throw new FilterSyntaxError(start, `expected a keyword, number, address or operator, found '${char}'`);
  }
  tokens.push({ type: 'end', start: expression.length, end: expression.length, text: '' });
  return tokens;
}

/** A number as libpcap reads one: 0x hexadecimal, a leading 0 octal, else decimal; 32 bits at most. */
function parseNumber(text: string, position: number): number {
  let value: bigint;
  if (/^0[xX]/.test(text)) value = BigInt(text);
  else if (text.length > 1 && text.startsWith('0')) {
    if (!/^[0-7]+$/.test(text))
      throw new FilterSyntaxError(position, `expected an octal number (it starts with 0), found '${text}'`);
    value = BigInt(`0o${text.slice(1)}`);
  } else value = BigInt(text);
  if (value > 0xffffffffn)
    throw new FilterSyntaxError(position, `expected a number of at most 32 bits, found '${text}'`);
  return Number(value);
}
