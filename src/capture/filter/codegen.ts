import type { Arithmetic, BinaryOperator, Jump, Load, Predicate } from './ast.js';
import {
  BPF_ABS,
  BPF_ADD,
  BPF_ALU,
  BPF_AND,
  BPF_B,
  BPF_DIV,
  BPF_IMM,
  BPF_IND,
  BPF_JA,
  BPF_JEQ,
  BPF_JGE,
  BPF_JGT,
  BPF_JMP,
  BPF_JSET,
  BPF_K,
  BPF_LD,
  BPF_LDX,
  BPF_LEN,
  BPF_LSH,
  BPF_MEM,
  BPF_MEMWORDS,
  BPF_MISC,
  BPF_MOD,
  BPF_MSH,
  BPF_MUL,
  BPF_NEG,
  BPF_OR,
  BPF_RET,
  BPF_RSH,
  BPF_ST,
  BPF_SUB,
  BPF_TAX,
  BPF_W,
  BPF_X,
  BPF_XOR,
  sizeCode,
} from './opcodes.js';
import { thread } from './thread.js';

export interface Instruction {
  code: number;
  jt: number;
  jf: number;
  k: number;
}

/**
 * Offsets at or past this reject the packet outright. No frame is that long, so for a capture
 * file this is what an out-of-bounds load does anyway; in the kernel it keeps a computed offset
 * from wrapping into the negative range, where loads read ancillary data instead of the packet.
 */
export const OFFSET_LIMIT = 0x7fff0000;

/** Thrown when an arithmetic expression needs more than the 16 scratch words. */
export class TooComplexError extends Error {}

export type Label = { id: number };
export type Item =
  | { kind: 'statement'; code: number; k: number }
  | { kind: 'branch'; code: number; k: number; whenTrue: Label; whenFalse: Label }
  | { kind: 'goto'; target: Label }
  | { kind: 'label'; label: Label };

const JUMP_CODES: Record<Jump, number> = { eq: BPF_JEQ, gt: BPF_JGT, ge: BPF_JGE, set: BPF_JSET };
const ALU_CODES: Record<BinaryOperator, number> = {
  '+': BPF_ADD,
  '-': BPF_SUB,
  '*': BPF_MUL,
  '/': BPF_DIV,
  '%': BPF_MOD,
  '&': BPF_AND,
  '|': BPF_OR,
  '^': BPF_XOR,
  '<<': BPF_LSH,
  '>>': BPF_RSH,
};

/** How many scratch words computing `expression` takes, in the order arithmetic() uses. */
function scratchNeeded(expression: Arithmetic): number {
  switch (expression.kind) {
    case 'number':
    case 'length':
      return 0;
    case 'negate':
      return scratchNeeded(expression.operand);
    case 'load':
      return expression.index.kind === 'number'
        ? 0
        : Math.max(scratchNeeded(expression.index), expression.transport ? 1 : 0);
    case 'binary': {
      if (expression.right.kind === 'number') return scratchNeeded(expression.left);
      const left = scratchNeeded(expression.left);
      const right = scratchNeeded(expression.right);
      return left >= right ? Math.max(left, right + 1) : Math.max(right, left + 1);
    }
  }
}

/** Compiles `predicate` to a program that returns `accept` for the packets it holds for and 0 for the rest. */
export function generate(predicate: Predicate, accept: number): Instruction[] {
  if (predicate.kind === 'true') return [{ code: BPF_RET | BPF_K, jt: 0, jf: 0, k: accept >>> 0 }];
  const emitter = new Emitter();
  const acceptLabel = emitter.label();
  const rejectLabel = emitter.label();
  emitter.abort = rejectLabel;
  emitter.predicate(predicate, acceptLabel, rejectLabel);
  emitter.place(acceptLabel);
  emitter.statement(BPF_RET | BPF_K, accept);
  emitter.place(rejectLabel);
  emitter.statement(BPF_RET | BPF_K, 0);
  return layout(thread(emitter.items, emitter.label.bind(emitter)));
}

class Emitter {
  readonly items: Item[] = [];
  abort: Label = { id: -1 };
  private labels = 0;

  label(): Label {
    this.labels += 1;
    return { id: this.labels };
  }

  place(label: Label) {
    this.items.push({ kind: 'label', label });
  }

  statement(code: number, k = 0) {
    this.items.push({ kind: 'statement', code, k: k >>> 0 });
  }

  branch(code: number, k: number, whenTrue: Label, whenFalse: Label) {
    this.items.push({ kind: 'branch', code, k: k >>> 0, whenTrue, whenFalse });
  }

  predicate(predicate: Predicate, whenTrue: Label, whenFalse: Label) {
    switch (predicate.kind) {
      case 'and': {
        const next = this.label();
        this.predicate(predicate.left, next, whenFalse);
        this.place(next);
        this.predicate(predicate.right, whenTrue, whenFalse);
        return;
      }
      case 'or': {
        const next = this.label();
        this.predicate(predicate.left, whenTrue, next);
        this.place(next);
        this.predicate(predicate.right, whenTrue, whenFalse);
        return;
      }
      case 'not':
        this.predicate(predicate.operand, whenFalse, whenTrue);
        return;
      case 'true':
        this.items.push({ kind: 'goto', target: whenTrue });
        return;
      case 'test':
        this.load(predicate.load);
        if (predicate.mask !== undefined) this.statement(BPF_ALU | BPF_AND | BPF_K, predicate.mask);
        this.branch(BPF_JMP | JUMP_CODES[predicate.jump] | BPF_K, predicate.value, whenTrue, whenFalse);
        return;
      case 'relation': {
        if (predicate.guard !== undefined) {
          const next = this.label();
          this.predicate(predicate.guard, next, whenFalse);
          this.place(next);
        }
        const [onTrue, onFalse] = predicate.negate ? [whenFalse, whenTrue] : [whenTrue, whenFalse];
        const code = BPF_JMP | JUMP_CODES[predicate.jump];
        if (predicate.right.kind === 'number') {
          this.arithmetic(predicate.left, 0);
          this.branch(code | BPF_K, predicate.right.value, onTrue, onFalse);
        } else {
          this.arithmetic(predicate.right, 0);
          this.statement(BPF_ST, 0);
          this.arithmetic(predicate.left, 1);
          this.statement(BPF_LDX | BPF_MEM, 0);
          this.branch(code | BPF_X, 0, onTrue, onFalse);
        }
        return;
      }
    }
  }

  private load(load: Load) {
    switch (load.mode) {
      case 'length':
        this.statement(BPF_LD | BPF_W | BPF_LEN);
        return;
      case 'absolute':
        this.statement(BPF_LD | sizeCode(load.size) | BPF_ABS, load.offset);
        return;
      case 'ipv4-transport':
        this.statement(BPF_LDX | BPF_B | BPF_MSH, load.ipOffset);
        this.statement(BPF_LD | sizeCode(load.size) | BPF_IND, load.offset);
        return;
    }
  }

  /** Leaves the value of `expression` in A; scratch words from `depth` up are free to use. */
  arithmetic(expression: Arithmetic, depth: number) {
    if (depth >= BPF_MEMWORDS) throw new TooComplexError();
    switch (expression.kind) {
      case 'number':
        this.statement(BPF_LD | BPF_IMM, expression.value);
        return;
      case 'length':
        this.statement(BPF_LD | BPF_W | BPF_LEN);
        return;
      case 'negate':
        this.arithmetic(expression.operand, depth);
        this.statement(BPF_ALU | BPF_NEG);
        return;
      case 'binary': {
        const code = BPF_ALU | ALU_CODES[expression.operator];
        const { left, right } = expression;
        if (right.kind === 'number') {
          this.arithmetic(left, depth);
          const shift = expression.operator === '<<' || expression.operator === '>>';
          // The kernel refuses a constant shift past 31; its result is 0 (as libpcap folds it).
          if (shift && right.value > 31) this.statement(BPF_ALU | BPF_AND | BPF_K, 0);
          else this.statement(code | BPF_K, right.value);
        } else if (scratchNeeded(left) >= scratchNeeded(right)) {
          // The side that needs more scratch words goes first, while all of them are free.
          this.arithmetic(left, depth);
          this.statement(BPF_ST, depth);
          this.arithmetic(right, depth + 1);
          this.statement(BPF_MISC | BPF_TAX);
          this.statement(BPF_LD | BPF_MEM, depth);
          this.statement(code | BPF_X);
        } else {
          this.arithmetic(right, depth);
          this.statement(BPF_ST, depth);
          this.arithmetic(left, depth + 1);
          this.statement(BPF_LDX | BPF_MEM, depth);
          this.statement(code | BPF_X);
        }
        return;
      }
      case 'load':
        this.packetLoad(expression, depth);
        return;
    }
  }

  private packetLoad(expression: Extract<Arithmetic, { kind: 'load' }>, depth: number) {
    const size = sizeCode(expression.size);
    const { index, base } = expression;
    if (index.kind === 'number') {
      const offset = base + index.value;
      if (offset >= OFFSET_LIMIT) {
        this.items.push({ kind: 'goto', target: this.abort });
        return;
      }
      if (expression.transport) {
        this.statement(BPF_LDX | BPF_B | BPF_MSH, expression.ipOffset);
        this.statement(BPF_LD | size | BPF_IND, offset);
      } else {
        this.statement(BPF_LD | size | BPF_ABS, offset);
      }
      return;
    }
    this.arithmetic(index, depth);
    const inBounds = this.label();
    this.branch(BPF_JMP | BPF_JGE | BPF_K, OFFSET_LIMIT, this.abort, inBounds);
    this.place(inBounds);
    if (expression.transport) {
      if (depth >= BPF_MEMWORDS) throw new TooComplexError();
      this.statement(BPF_ST, depth);
      this.statement(BPF_LDX | BPF_B | BPF_MSH, expression.ipOffset);
      this.statement(BPF_LD | BPF_MEM, depth);
      this.statement(BPF_ALU | BPF_ADD | BPF_X);
    }
    this.statement(BPF_MISC | BPF_TAX);
    this.statement(BPF_LD | size | BPF_IND, base);
  }
}

/**
 * Resolves labels into jump offsets. Conditional jumps reach at most 255 instructions ahead; a
 * farther target gets a `ja` right after the jump (its 32-bit offset reaches anywhere).
 */
function layout(input: Item[]): Instruction[] {
  const items = dropNeedlessGotos(input);
  let hops = 0;
  for (;;) {
    const positions = new Map<number, number>();
    let count = 0;
    for (const item of items) {
      if (item.kind === 'label') positions.set(item.label.id, count);
      else count += 1;
    }
    const at = (label: Label) => {
      const position = positions.get(label.id);
      if (position === undefined) throw new Error(`BPF label ${label.id} was never placed`);
      return position;
    };
    // Widen every far branch of this pass at once (from the end, so indexes stay valid), then
    // lay out again: a trampoline can push another branch out of reach.
    const far: { at: number; farTrue: boolean; farFalse: boolean }[] = [];
    let index = 0;
    for (let i = 0; i < items.length; i += 1) {
      const item = items[i] as Item;
      if (item.kind === 'label') continue;
      index += 1;
      if (item.kind !== 'branch') continue;
      const farTrue = at(item.whenTrue) - index > 255;
      const farFalse = at(item.whenFalse) - index > 255;
      if (farTrue || farFalse) far.push({ at: i, farTrue, farFalse });
    }
    for (const { at: i, farTrue, farFalse } of far.reverse()) {
      const item = items[i] as Extract<Item, { kind: 'branch' }>;
      const trampolines: Item[] = [];
      if (farTrue) {
        hops += 1;
        const hop: Label = { id: -hops };
        trampolines.push({ kind: 'label', label: hop }, { kind: 'goto', target: item.whenTrue });
        item.whenTrue = hop;
      }
      if (farFalse) {
        hops += 1;
        const hop: Label = { id: -hops };
        trampolines.push({ kind: 'label', label: hop }, { kind: 'goto', target: item.whenFalse });
        item.whenFalse = hop;
      }
      items.splice(i + 1, 0, ...trampolines);
    }
    const widened = far.length > 0;
    if (widened) continue;
    const program: Instruction[] = [];
    for (const item of items) {
      const next = program.length + 1;
      if (item.kind === 'statement') program.push({ code: item.code, jt: 0, jf: 0, k: item.k });
      else if (item.kind === 'goto') program.push({ code: BPF_JMP | BPF_JA, jt: 0, jf: 0, k: at(item.target) - next });
      else if (item.kind === 'branch')
        program.push({ code: item.code, jt: at(item.whenTrue) - next, jf: at(item.whenFalse) - next, k: item.k });
    }
    return program;
  }
}

/** Drops a `ja` whose target is the very next instruction. */
function dropNeedlessGotos(items: Item[]): Item[] {
  const kept: Item[] = [];
  for (let i = 0; i < items.length; i += 1) {
    const item = items[i] as Item;
    if (item.kind === 'goto') {
      let j = i + 1;
      let fallsThrough = false;
      while (j < items.length && (items[j] as Item).kind === 'label') {
        if ((items[j] as { label: Label }).label === item.target) fallsThrough = true;
        j += 1;
      }
      if (fallsThrough) continue;
    }
    kept.push(item);
  }
  return kept;
}
