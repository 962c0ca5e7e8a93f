// tcpdump filter expressions compiled to classic BPF in TypeScript: no libpcap at run time.

import { filterSyntax, invalidArgType, outOfRange } from '../../errors.js';
import { generate, TooComplexError } from './codegen.js';
import { FilterSyntaxError } from './lexer.js';
import { BPF_MAXINSNS } from './opcodes.js';
import { parse } from './parser.js';

/** One classic BPF instruction, as `struct sock_filter` holds it. */
export interface BpfInstruction {
  code: number;
  jt: number;
  jf: number;
  k: number;
}

/** A program SO_ATTACH_FILTER takes: it returns the bytes to keep of a packet, 0 to drop it. */
export type BpfProgram = readonly BpfInstruction[];

/** libpcap's default snap length: a whole packet, even with segmentation offload. */
export const DEFAULT_SNAP_LENGTH = 262144;

export { BPF_MAXINSNS };

/**
 * Compiles a tcpdump (pcap-filter(7)) expression into a classic BPF program for Ethernet
 * frames (DLT_EN10MB). Accepted packets return `snapLength`, the rest 0; an empty expression
 * accepts every packet. Throws ERR_ZEROCOPY_FILTER_SYNTAX, with `position`, for an expression
 * that does not compile.
 */
export function compileFilter(expression: string, options: { snapLength?: number } = {}): BpfProgram {
  if (typeof expression !== 'string') throw invalidArgType('expression', 'of type string', expression);
  const snapLength = options.snapLength ?? DEFAULT_SNAP_LENGTH;
  if (!Number.isInteger(snapLength) || snapLength < 1 || snapLength > 0xffffffff) {
    throw outOfRange('options.snapLength', 'an integer >= 1 and <= 4294967295', snapLength);
  }
  let program: BpfInstruction[];
  try {
    program = generate(parse(expression), snapLength);
  } catch (error) {
    if (error instanceof FilterSyntaxError) throw filterSyntax(expression, error.position, error.detail);
    if (error instanceof TooComplexError) {
      throw filterSyntax(
        expression,
        0,
        'expected an arithmetic expression that needs at most 16 scratch registers; this one is nested too deeply',
      );
    }
    throw error;
  }
  if (program.length > BPF_MAXINSNS) {
    throw filterSyntax(
      expression,
      0,
      `expected a filter of at most ${BPF_MAXINSNS} instructions, but it compiles to ${program.length}`,
    );
  }
  return Object.freeze(program.map((instruction) => Object.freeze(instruction)));
}
