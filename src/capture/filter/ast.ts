import type { LoadSize } from './opcodes.js';

/** Where a fixed-offset test reads its value from. */
export type Load =
  | { mode: 'absolute'; size: LoadSize; offset: number }
  /** A transport header field: `offset` counts from the frame start plus the IPv4 header's length (IHL * 4) read at `ipOffset`. */
  | { mode: 'ipv4-transport'; size: LoadSize; offset: number; ipOffset: number }
  | { mode: 'length' };

export type Jump = 'eq' | 'gt' | 'ge' | 'set';

/** A boolean over the packet, compiled to conditional jumps. Operands are evaluated left to right, short-circuit. */
export type Predicate =
  | { kind: 'and' | 'or'; left: Predicate; right: Predicate }
  | { kind: 'not'; operand: Predicate }
  | { kind: 'true' }
  /** Load a value, optionally AND it with `mask`, and jump on it against the constant `value`. */
  | { kind: 'test'; load: Load; mask?: number; jump: Jump; value: number }
  /** `left op right` over arithmetic; `guard` (the protocols the loads need) must hold first. */
  | {
      kind: 'relation';
      guard: Predicate | undefined;
      left: Arithmetic;
      right: Arithmetic;
      jump: Exclude<Jump, 'set'>;
      negate: boolean;
    };

export type BinaryOperator = '+' | '-' | '*' | '/' | '%' | '&' | '|' | '^' | '<<' | '>>';

/**
 * An unsigned 32-bit arithmetic expression, evaluated into the accumulator. A number is
 * `folded` when computed from other numbers rather than written.
 */
export type Arithmetic = {
  guard: Predicate | undefined;
} & (
  | { kind: 'number'; value: number; folded?: boolean }
  | { kind: 'length' }
  /** packet[base + index] (plus the IPv4 header length when `transport`). */
  | { kind: 'load'; base: number; index: Arithmetic; size: LoadSize; transport: boolean; ipOffset: number }
  | { kind: 'binary'; operator: BinaryOperator; left: Arithmetic; right: Arithmetic }
  | { kind: 'negate'; operand: Arithmetic }
);

export function and(left: Predicate | undefined, right: Predicate): Predicate;
export function and(left: Predicate | undefined, right: Predicate | undefined): Predicate | undefined;
export function and(left: Predicate | undefined, right: Predicate | undefined): Predicate | undefined {
  if (left === undefined || left.kind === 'true') return right;
  if (right === undefined || right.kind === 'true') return left;
  return { kind: 'and', left, right };
}

export function or(left: Predicate, right: Predicate): Predicate {
  return { kind: 'or', left, right };
}

export function not(operand: Predicate): Predicate {
  return { kind: 'not', operand };
}

export function test(size: LoadSize, offset: number, value: number, jump: Jump = 'eq', mask?: number): Predicate {
  // A field masked to nothing always equals 0; libpcap's optimizer drops such a test, load and all
  // (`net 2001:db8::/32` reads one word of each address), and so do we, for the same verdicts.
  if (mask !== undefined && mask >>> 0 === 0 && jump === 'eq' && value >>> 0 === 0) return { kind: 'true' };
  const predicate: Predicate = { kind: 'test', load: { mode: 'absolute', size, offset }, jump, value: value >>> 0 };
  if (mask !== undefined && mask >>> 0 !== 0xffffffff) predicate.mask = mask >>> 0;
  return predicate;
}
