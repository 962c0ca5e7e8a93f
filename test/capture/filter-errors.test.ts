// compileFilter()'s errors: the code, the position and what was expected; unsupported
// primitives named; the kernel's instruction limit; the argument checks.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BPF_MAXINSNS, compileFilter } from '../../src/capture/filter/index.js';
import { checkProgram } from './filter-support/bpf-interpreter.js';
import { findTcpdump, tcpdumpCompiles } from './filter-support/tcpdump.js';

function syntaxError(expression: string): Error & { code: string; position: number; expression: string } {
  try {
    compileFilter(expression);
  } catch (error) {
    return error as Error & { code: string; position: number; expression: string };
  }
  assert.fail(`'${expression}' compiled`);
}

/** [expression, position of the fault, words the message must contain] */
const INVALID: [string, number, string][] = [
  ['tcp port', 8, 'expected a port number, found the end'],
  ['host', 4, 'expected an address'],
  ['port 99999', 5, 'at most 65535'],
  ['portrange 10 - 20', 13, "expected 'and', 'or' or the end"],
  ['portrange 10-99999', 13, 'at most 65535'],
  ['len-5 > 0', 0, "found the name 'len-5' (write spaces around '-' to subtract)"],
  ['len >> (1 - 2) = 0', 4, 'shift by more than 31 bits'],
  ['port 80 or', 10, 'found the end'],
  ['tcp and and udp', 8, "found 'and'"],
  ['(tcp', 4, "expected ')'"],
  ['tcp)', 3, "this ')' closes nothing"],
  ['tcp[13] & 2 !=', 14, 'expected a number'],
  ['ip[1:3] = 1', 5, 'a field size of 1, 2 or 4'],
  ['ip[0] / 0 = 1', 6, 'division by zero'],
  ['ip[0] % 0 = 1', 6, 'modulus by zero'],
  ['ip[0] << 32 = 1', 6, 'shift by more than 31 bits'],
  ['vlan 5000', 5, 'VLAN ID of 0 to 4095'],
  ['ether host 1.2.3.4', 11, 'MAC address'],
  ['host 02:00:00:00:00:01', 5, "needs 'ether'"],
  ['net 10.0.0.1/8', 4, 'non-network bits set'],
  ['net 10.0.0.1 mask 255.0.0.0', 4, 'non-network bits set'],
  ['net 2001:db8::1/32', 4, 'non-network bits set'],
  ['host 10.0.0.0/8', 13, "only valid after 'net'"],
  ['ip host ::1', 8, "'ip' cannot qualify an IPv6 host"],
  ['ip6 host 10.0.0.1', 9, "'ip6' cannot qualify an IPv4 host"],
  ['tcp host 10.0.0.1', 9, "'tcp' cannot qualify"],
  ['ip port 80', 8, "ports belong to 'tcp', 'udp' or 'sctp'"],
  ['tcp proto 6', 10, "'tcp proto' is not valid"],
  ['ip proto \\nosuch', 9, "unknown protocol 'nosuch'"],
  ['port nosuchservice', 5, "unknown service name 'nosuchservice'"],
  ['10.0.0.1', 0, "needs a qualifier such as 'host'"],
  ['tcp or 80', 7, "a qualifier such as 'host' or 'port' before '80'"],
  ['ether', 5, "'host', 'src', 'dst', 'proto'"],
  ['a@b', 1, "found '@'"],
  ['tcp @', 4, "found '@'"],
  ['port 08', 5, 'an octal number'],
  ['ip[0] = 0x100000000', 8, 'at most 32 bits'],
];

/** What libpcap compiles but this compiler refuses by design (docs/capture-filters.md says why). */
const UNSUPPORTED: [string, number, string][] = [
  ['ip broadcast', 3, "needs the interface's netmask"],
  ['inbound', 0, "'inbound'"],
  ['outbound', 0, "'outbound'"],
  ['ip6 protochain 6', 4, "'protochain'"],
  ['mpls', 0, "'mpls' is not supported"],
  ['pppoes', 0, "'pppoes' is not supported"],
  ['decnet host 1.2', 0, "'decnet' is not supported"],
];

/** Host names: libpcap would look them up, this compiler does no DNS (nor do these tests). */
const NAMES: [string, number, string][] = [
  ['host example.com', 5, 'host names are not supported'],
  ['example.com', 0, 'host names are not supported'],
  ['src host 10.0.0.1 and www', 22, 'host names are not supported'],
  ['gateway 10.0.0.1', 0, "'gateway' needs host name lookups"],
];

test('invalid expressions throw ERR_ZEROCOPY_FILTER_SYNTAX naming the position', async (t) => {
  for (const [expression, position, words] of [...INVALID, ...UNSUPPORTED, ...NAMES]) {
    await t.test(expression, () => {
      const error = syntaxError(expression);
      assert.equal(error.code, 'ERR_ZEROCOPY_FILTER_SYNTAX', error.stack);
      assert.ok(error instanceof SyntaxError);
      assert.equal(error.expression, expression);
      assert.equal(error.position, position, error.message);
      assert.ok(
        error.message.startsWith(`Invalid filter expression "${expression}" at position ${position}: `),
        error.message,
      );
      assert.ok(error.message.includes(words), `${error.message} should say ${words}`);
    });
  }
});

test('tcpdump refuses the invalid expressions too, and compiles the unsupported ones', (t) => {
  const tcpdump = findTcpdump();
  if (tcpdump === undefined) {
    t.skip('tcpdump is not installed (apt-get install tcpdump)');
    return;
  }
  for (const [expression] of INVALID) {
    const { ok } = tcpdumpCompiles(tcpdump, expression);
    assert.equal(ok, false, `tcpdump compiles '${expression}'`);
  }
  for (const [expression] of UNSUPPORTED) {
    const { ok, error } = tcpdumpCompiles(tcpdump, expression);
    assert.equal(ok, true, `tcpdump refuses '${expression}' (${error})`);
  }
});

test('an empty expression accepts every packet with the snap length', () => {
  assert.deepEqual(compileFilter(''), [{ code: 0x06, jt: 0, jf: 0, k: 262144 }]);
  assert.deepEqual(compileFilter('  \t'), [{ code: 0x06, jt: 0, jf: 0, k: 262144 }]);
  assert.deepEqual(compileFilter('', { snapLength: 96 }), [{ code: 0x06, jt: 0, jf: 0, k: 96 }]);
});

test('accept returns the snap length, reject 0', () => {
  const program = compileFilter('tcp', { snapLength: 1500 });
  const returns = program.filter((insn) => insn.code === 0x06).map((insn) => insn.k);
  assert.deepEqual(new Set(returns), new Set([1500, 0]));
  assert.ok(Object.isFrozen(program));
});

test('argument errors are Node-style', () => {
  assert.throws(() => compileFilter(42 as unknown as string), { code: 'ERR_INVALID_ARG_TYPE' });
  assert.throws(() => compileFilter('tcp', { snapLength: 0 }), { code: 'ERR_OUT_OF_RANGE' });
  assert.throws(() => compileFilter('tcp', { snapLength: 1.5 }), { code: 'ERR_OUT_OF_RANGE' });
  assert.throws(() => compileFilter('tcp', { snapLength: 2 ** 32 }), { code: 'ERR_OUT_OF_RANGE' });
});

test('a program over 4096 instructions is refused, one just under it compiles and checks', () => {
  const hosts = (count: number) =>
    Array.from({ length: count }, (_, i) => `host 10.${(i >> 8) & 0xff}.${i & 0xff}.1`).join(' or ');
  const fits = (count: number) => {
    try {
      compileFilter(hosts(count));
      return true;
    } catch (error) {
      assert.equal((error as { code?: string }).code, 'ERR_ZEROCOPY_FILTER_SYNTAX');
      return false;
    }
  };
  let low = 1;
  let high = 2048;
  assert.ok(fits(low) && !fits(high));
  while (high - low > 1) {
    const middle = (low + high) >> 1;
    if (fits(middle)) low = middle;
    else high = middle;
  }
  const program = compileFilter(hosts(low));
  assert.ok(program.length <= BPF_MAXINSNS && program.length > BPF_MAXINSNS - 64, `${program.length} instructions`);
  checkProgram(program);
  const error = syntaxError(hosts(high));
  assert.match(error.message, /expected a filter of at most 4096 instructions, but it compiles to \d+/);
  assert.equal(error.position, 0);
});

test('long arithmetic chains compile within the 16 scratch words', () => {
  const chain = Array.from({ length: 40 }, (_, i) => `ip[${i}]`).join(' + ');
  checkProgram(compileFilter(`${chain} = 0`));
  const nested = `${'(ip[0] + '.repeat(30)}1${')'.repeat(30)} = 0`;
  checkProgram(compileFilter(nested));
  checkProgram(compileFilter(`ip[ip[ip[ip[ip[0] & 3] & 3] & 3] & 3] + tcp[tcp[tcp[0] & 7] & 7] * udp[udp[1] & 7] = 1`));
});
