// The reference: the real tcpdump, run on a pcap file, and its own compiled programs.

import { spawnSync } from 'node:child_process';
import type { Instruction } from './bpf-interpreter.js';
import { FIRST_SECOND } from './pcap.js';

/** tcpdump's path, or undefined when it is not installed. */
export function findTcpdump(): string | undefined {
  for (const candidate of ['/usr/bin/tcpdump', '/usr/sbin/tcpdump']) {
    const probe = spawnSync(candidate, ['--version'], { encoding: 'utf8' });
    if (probe.status === 0) return candidate;
  }
  return undefined;
}

/** The indexes of the packets of `file` that `tcpdump -n -r file expression` prints. */
export function tcpdumpMatches(tcpdump: string, file: string, expression: string, optimize = true): Set<number> {
  const output = run(tcpdump, [...(optimize ? [] : ['-O']), '-n', '-tt', '-r', file, '--', expression]);
  const matches = new Set<number>();
  for (const line of output.split('\n')) {
    const stamp = /^(\d+)\.\d{6} /.exec(line);
    if (stamp) matches.add(Number(stamp[1]) - FIRST_SECOND);
  }
  return matches;
}

/** `tcpdump -dd expression`: libpcap's own (optimized) program for Ethernet. */
export function tcpdumpProgram(tcpdump: string, expression: string): Instruction[] {
  const output = run(tcpdump, ['-y', 'EN10MB', '-dd', '--', expression]);
  if (output === '') return [{ code: 0x06, jt: 0, jf: 0, k: 0 }];
  const program: Instruction[] = [];
  for (const match of output.matchAll(/\{\s*(0x[0-9a-f]+),\s*(\d+),\s*(\d+),\s*(0x[0-9a-f]+)\s*\}/g)) {
    program.push({ code: Number(match[1]), jt: Number(match[2]), jf: Number(match[3]), k: Number(match[4]) });
  }
  if (program.length === 0) throw new Error(`tcpdump -dd '${expression}' printed no program:\n${output}`);
  return program;
}

/** Whether tcpdump compiles `expression` at all (and its error when it does not). */
export function tcpdumpCompiles(tcpdump: string, expression: string): { ok: boolean; error: string } {
  const result = spawnSync(tcpdump, ['-y', 'EN10MB', '-d', '--', expression], { encoding: 'utf8' });
  return { ok: result.status === 0 || REJECTS_ALL.test(result.stderr), error: result.stderr.trim() };
}

/** libpcap's optimizer refuses a filter it proves false; that is a program rejecting everything. */
const REJECTS_ALL = /expression rejects all packets/;

/** tcpdump's stdout; '' when libpcap proved the filter rejects all packets; throws on other failures. */
function run(tcpdump: string, args: string[]): string {
  const result = spawnSync(tcpdump, args, { encoding: 'utf8', maxBuffer: 64 << 20 });
  if (result.status === 0) return result.stdout;
  if (REJECTS_ALL.test(result.stderr)) return '';
  throw new Error(`tcpdump ${args.join(' ')} failed (${result.status}): ${result.stderr}`);
}
