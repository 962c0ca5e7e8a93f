// The kernel's own check: every compiled program is attached with SO_ATTACH_FILTER to a UDP
// socket (no privileges needed), where bpf_check_classic() accepts or refuses it with EINVAL.
// Python's socket module does the setsockopt() the library leaves to the capture code.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { type BpfProgram, compileFilter } from '../../src/capture/filter/index.js';
import { EXPRESSIONS, expressionGenerator } from './filter-support/expressions.js';

const ATTACH = `
import ctypes, json, socket, sys
class Insn(ctypes.Structure):
    _fields_ = [('code', ctypes.c_uint16), ('jt', ctypes.c_uint8), ('jf', ctypes.c_uint8), ('k', ctypes.c_uint32)]
class Prog(ctypes.Structure):
    _fields_ = [('len', ctypes.c_uint16), ('filter', ctypes.POINTER(Insn))]
SO_ATTACH_FILTER = 26
results = []
for program in json.load(sys.stdin):
    insns = (Insn * len(program))(*[Insn(i['code'], i['jt'], i['jf'], i['k']) for i in program])
    prog = Prog(len(program), insns)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.setsockopt(socket.SOL_SOCKET, SO_ATTACH_FILTER, ctypes.string_at(ctypes.addressof(prog), ctypes.sizeof(prog)))
        results.append('ok')
    except OSError as error:
        results.append(error.strerror)
    finally:
        s.close()
print(json.dumps(results))
`;

function attachAll(programs: readonly BpfProgram[]): string[] | undefined {
  const result = spawnSync('python3', ['-c', ATTACH], {
    input: JSON.stringify(programs),
    encoding: 'utf8',
    maxBuffer: 64 << 20,
  });
  if (result.error !== undefined) return undefined;
  assert.equal(result.status, 0, result.stderr);
  return JSON.parse(result.stdout) as string[];
}

test('the kernel accepts every compiled program (SO_ATTACH_FILTER)', (t) => {
  const hosts = (count: number) => Array.from({ length: count }, (_, i) => `host 10.0.${i}.1`).join(' or ');
  const random = expressionGenerator(7);
  const expressions = [
    ...EXPRESSIONS,
    hosts(120),
    hosts(230),
    ...Array.from({ length: 100 }, () => random.expression()),
  ];
  const programs: BpfProgram[] = [];
  for (const expression of expressions) {
    try {
      programs.push(compileFilter(expression));
    } catch (error) {
      assert.equal((error as { code?: string }).code, 'ERR_ZEROCOPY_FILTER_SYNTAX');
    }
  }
  // A control the kernel must refuse, so that acceptance means something: a jump past the end.
  const broken = [
    { code: 0x15, jt: 5, jf: 0, k: 1 },
    { code: 0x06, jt: 0, jf: 0, k: 0 },
  ];
  const results = attachAll([...programs, broken]);
  if (results === undefined) {
    t.skip('python3 is not installed: the kernel check needs its socket module');
    return;
  }
  assert.equal(results.pop(), 'Invalid argument', 'the kernel should refuse a jump out of the program');
  // The kernel also charges the program, once converted, to the socket's option memory
  // (net.core.optmem_max): a long one can get ENOMEM there, which is not a malformed program.
  const outOfMemory = results.filter(
    (result, i) => result === 'Cannot allocate memory' && (programs[i] as BpfProgram).length > 1000,
  );
  const refused = results.flatMap((result, i) =>
    result === 'ok' || (result === 'Cannot allocate memory' && (programs[i] as BpfProgram).length > 1000)
      ? []
      : [`${(expressions[i] as string).slice(0, 60)}: ${result}`],
  );
  assert.deepEqual(refused, []);
  const attachedLong = results.some((result, i) => result === 'ok' && (programs[i] as BpfProgram).length > 2000);
  assert.ok(attachedLong || outOfMemory.length > 0, 'a program of over 2000 instructions was tried');
  let optmem = '?';
  try {
    optmem = readFileSync('/proc/sys/net/core/optmem_max', 'utf8').trim();
  } catch {}
  t.diagnostic(`${outOfMemory.length} long programs refused for memory (net.core.optmem_max ${optmem})`);
  t.diagnostic(`${results.length} programs given to the kernel`);
});
