// Jump threading over the emitted code, the part of libpcap's optimizer that matters most
// here: a packet's bytes never change while the filter runs, so once a branch has compared
// a field, a later test of the same field can be decided on the way to it. An edge whose
// outcome is known goes straight on, and one that would reload the value the accumulator
// already holds skips the load. Only loads of values already loaded are skipped, so a load
// past the end of the packet rejects it exactly as before: the verdicts do not change.

import type { Item, Label } from './codegen.js';
import {
  BPF_ABS,
  BPF_ALU,
  BPF_AND,
  BPF_B,
  BPF_IND,
  BPF_JEQ,
  BPF_JGE,
  BPF_JGT,
  BPF_JSET,
  BPF_K,
  BPF_LD,
  BPF_LDX,
  BPF_LEN,
  BPF_MSH,
  BPF_W,
  BPF_X,
} from './opcodes.js';

type Branch = Extract<Item, { kind: 'branch' }>;
type Statement = Extract<Item, { kind: 'statement' }>;

/** A fact about the value a run of loads yields: `code k` (a jump) came out `taken`. */
interface Fact {
  value: string;
  code: number;
  k: number;
  taken: boolean;
}

const LOAD_ABS = (code: number) => (code & 0xe7) === (BPF_LD | BPF_ABS) && (code & 0x18) !== 0x18;
const LOAD_IND = (code: number) => (code & 0xe7) === (BPF_LD | BPF_IND) && (code & 0x18) !== 0x18;
const LOAD_LEN = BPF_LD | BPF_W | BPF_LEN;
const LOAD_MSH = BPF_LDX | BPF_B | BPF_MSH;
const AND_K = BPF_ALU | BPF_AND | BPF_K;

/** The statements just before a branch that alone decide the accumulator, or undefined. */
function valueRun(items: readonly Item[], branch: number): Statement[] | undefined {
  const run: Statement[] = [];
  for (let i = branch - 1; i >= 0 && run.length < 3; i -= 1) {
    const item = items[i] as Item;
    if (item.kind !== 'statement') break;
    run.unshift(item);
  }
  const codes = run.map((statement) => statement.code);
  const tail = (length: number) => run.slice(run.length - length);
  const last = codes[codes.length - 1];
  const before = codes[codes.length - 2];
  const first = codes[codes.length - 3];
  if (last === undefined) return undefined;
  if (last === LOAD_LEN || LOAD_ABS(last)) return tail(1);
  if (LOAD_IND(last) && before === LOAD_MSH) return tail(2);
  if (last === AND_K && before !== undefined) {
    if (LOAD_ABS(before)) return tail(2);
    if (LOAD_IND(before) && first === LOAD_MSH) return tail(3);
  }
  return undefined;
}

const describe = (run: readonly Statement[]) => run.map((statement) => `${statement.code}:${statement.k}`).join(',');

/** What `fact` says about `code k` on the same value, if anything. */
function decide(fact: Fact, code: number, k: number): boolean | undefined {
  if (fact.code === code && fact.k === k) return fact.taken;
  if (fact.code === BPF_JEQ && fact.taken) {
    const value = fact.k;
    switch (code) {
      case BPF_JEQ:
        return value === k;
      case BPF_JGT:
        return value > k;
      case BPF_JGE:
        return value >= k;
      case BPF_JSET:
        return (value & k) !== 0;
    }
  }
  return undefined;
}

export function thread(input: readonly Item[], newLabel: () => Label): Item[] {
  // A label right before each branch that has a value run, to jump past the run's loads.
  const items: Item[] = [];
  const runs = new Map<Branch, { value: string; length: number }>();
  const afterRun = new Map<Branch, Label>();
  input.forEach((item, index) => {
    if (item.kind === 'branch' && (item.code & BPF_X) === 0) {
      const run = valueRun(input, index);
      if (run !== undefined) {
        runs.set(item, { value: describe(run), length: run.length });
        const label = newLabel();
        afterRun.set(item, label);
        items.push({ kind: 'label', label });
      }
    }
    items.push(item);
  });

  const position = new Map<number, number>();
  items.forEach((item, index) => {
    if (item.kind === 'label') position.set(item.label.id, index);
  });
  /** The branch a label leads to through its value run, and whether the run is skipped. */
  const destination = (label: Label): { branch: Branch; runSkipped: boolean } | undefined => {
    let index = position.get(label.id) as number;
    let runSkipped = true;
    for (; index < items.length; index += 1) {
      const item = items[index] as Item;
      if (item.kind === 'label') continue;
      if (item.kind === 'branch') {
        return runs.has(item) ? { branch: item, runSkipped } : undefined;
      }
      if (item.kind !== 'statement') return undefined;
      runSkipped = false;
    }
    return undefined;
  };

  const factsIn = new Map<number, Fact[]>();
  const arrive = (label: Label, facts: Fact[]) => {
    const index = position.get(label.id) as number;
    const known = factsIn.get(index);
    factsIn.set(index, known === undefined ? facts : known.filter((fact) => facts.includes(fact)));
  };
  const reached = new Set<number>([0]);
  factsIn.set(0, []);
  const follow = (from: Branch, facts: Fact[], start: Label): Label => {
    let target = start;
    const own = runs.get(from);
    for (let hops = 0; hops < items.length; hops += 1) {
      const next = destination(target);
      if (next === undefined) return target;
      const run = runs.get(next.branch);
      if (run === undefined) return target;
      let outcome: boolean | undefined;
      for (const fact of facts) {
        if (fact.value !== run.value) continue;
        outcome = decide(fact, next.branch.code & 0xf0, next.branch.k);
        if (outcome !== undefined) break;
      }
      if (outcome === undefined) {
        // Undecided, but the accumulator already holds this value: skip its loads.
        if (own !== undefined && own.value === run.value && !next.runSkipped) return afterRun.get(next.branch) as Label;
        return target;
      }
      target = outcome ? next.branch.whenTrue : next.branch.whenFalse;
    }
    return target;
  };

  // Edges only go forward, so item order is a topological order.
  for (let index = 0; index < items.length; index += 1) {
    const item = items[index] as Item;
    const facts = factsIn.get(index);
    if (facts === undefined || !reached.has(index)) continue;
    const fallThrough = () => {
      reached.add(index + 1);
      const known = factsIn.get(index + 1);
      factsIn.set(index + 1, known === undefined ? facts : known.filter((fact) => facts.includes(fact)));
    };
    if (item.kind === 'label' || item.kind === 'statement') {
      if (item.kind === 'statement' && (item.code & 0x07) === 0x06) continue;
      fallThrough();
    } else if (item.kind === 'goto') {
      reached.add(position.get(item.target.id) as number);
      arrive(item.target, facts);
    } else {
      const run = runs.get(item);
      const code = item.code & 0xf0;
      const withOutcome = (taken: boolean) =>
        run === undefined ? facts : [...facts, { value: run.value, code, k: item.k, taken }];
      const onTrue = withOutcome(true);
      const onFalse = withOutcome(false);
      item.whenTrue = follow(item, onTrue, item.whenTrue);
      item.whenFalse = follow(item, onFalse, item.whenFalse);
      reached.add(position.get(item.whenTrue.id) as number);
      reached.add(position.get(item.whenFalse.id) as number);
      arrive(item.whenTrue, onTrue);
      arrive(item.whenFalse, onFalse);
    }
  }
  // Unreached code goes (labels stay: they take no room).
  return items.filter((item, index) => item.kind === 'label' || reached.has(index));
}
