// A strict classic BPF interpreter for the tests: it checks a program the way the kernel's
// bpf_check_classic() does before running it, and runs it the way bpf_filter() does: a load
// past the captured bytes, or a division by zero, ends the program with 0 (drop).

export interface Instruction {
  code: number;
  jt: number;
  jf: number;
  k: number;
}

const MEMWORDS = 16;
const MAXINSNS = 4096;

/** ld: imm, abs/ind of w/h/b, mem, len; ldx: imm, mem, len, msh. */
const LD_CODES = [0x00, 0x20, 0x28, 0x30, 0x40, 0x48, 0x50, 0x60, 0x80];
const LDX_CODES = [0x01, 0x61, 0x81, 0xb1];

const CLASS = (code: number) => code & 0x07;
const SIZE = (code: number) => code & 0x18;
const MODE = (code: number) => code & 0xe0;
const OP = (code: number) => code & 0xf0;
const SRC = (code: number) => code & 0x08;

/** Throws when the kernel would refuse the program with EINVAL. */
export function checkProgram(program: readonly Instruction[]) {
  if (program.length === 0 || program.length > MAXINSNS) throw new Error(`program length ${program.length}`);
  program.forEach((insn, pc) => {
    for (const field of ['code', 'jt', 'jf', 'k'] as const) {
      if (!Number.isInteger(insn[field]) || insn[field] < 0) throw new Error(`insn ${pc}: bad ${field} ${insn[field]}`);
    }
    if (insn.code > 0xffff || insn.jt > 255 || insn.jf > 255 || insn.k > 0xffffffff)
      throw new Error(`insn ${pc}: field out of range`);
    const cls = CLASS(insn.code);
    switch (cls) {
      case 0x00:
      case 0x01: {
        const valid = cls === 0x00 ? LD_CODES : LDX_CODES;
        if (!valid.includes(insn.code)) throw new Error(`insn ${pc}: bad load 0x${insn.code.toString(16)}`);
        if (MODE(insn.code) === 0x60 && insn.k >= MEMWORDS) throw new Error(`insn ${pc}: M[${insn.k}]`);
        break;
      }
      case 0x02:
      case 0x03:
        if (insn.code !== cls || insn.k >= MEMWORDS) throw new Error(`insn ${pc}: bad store`);
        break;
      case 0x04: {
        const op = OP(insn.code);
        if (op > 0xa0 || (op === 0x80 && SRC(insn.code) !== 0)) throw new Error(`insn ${pc}: bad alu`);
        if ((op === 0x30 || op === 0x90) && SRC(insn.code) === 0 && insn.k === 0)
          throw new Error(`insn ${pc}: div by 0`);
        if ((op === 0x60 || op === 0x70) && SRC(insn.code) === 0 && insn.k >= 32) throw new Error(`insn ${pc}: shift`);
        break;
      }
      case 0x05: {
        const op = OP(insn.code);
        if (op === 0x00) {
          if (insn.code !== 0x05 || pc + 1 + insn.k >= program.length) throw new Error(`insn ${pc}: bad ja`);
        } else {
          if (op > 0x40) throw new Error(`insn ${pc}: bad jump`);
          if (pc + 1 + insn.jt >= program.length || pc + 1 + insn.jf >= program.length) {
            throw new Error(`insn ${pc}: jump out of program`);
          }
        }
        break;
      }
      case 0x06:
        if (![0x06, 0x16].includes(insn.code)) throw new Error(`insn ${pc}: bad ret`);
        break;
      case 0x07:
        if (insn.code !== 0x07 && insn.code !== 0x87) throw new Error(`insn ${pc}: bad misc`);
        break;
    }
  });
  const last = program[program.length - 1] as Instruction;
  if (CLASS(last.code) !== 0x06) throw new Error('program does not end with ret');
}

/** Runs `program` over `packet` (the captured bytes); `wireLength` is what `len` loads. */
export function runProgram(program: readonly Instruction[], packet: Uint8Array, wireLength = packet.length): number {
  let a = 0;
  let x = 0;
  const memory = new Uint32Array(MEMWORDS);
  const written = new Array<boolean>(MEMWORDS).fill(false);
  const load = (offset: number, size: number): number | undefined => {
    if (offset < 0 || offset + size > packet.length) return undefined;
    let value = 0;
    for (let i = 0; i < size; i += 1) value = value * 256 + (packet[offset + i] as number);
    return value >>> 0;
  };
  for (let pc = 0, steps = 0; ; pc += 1, steps += 1) {
    if (steps > MAXINSNS) throw new Error('program runs backwards');
    const insn = program[pc];
    if (insn === undefined) throw new Error(`fell off the program at ${pc}`);
    const { code, k } = insn;
    const sizeBytes = SIZE(code) === 0x00 ? 4 : SIZE(code) === 0x08 ? 2 : 1;
    switch (CLASS(code)) {
      case 0x00: {
        const mode = MODE(code);
        if (mode === 0x00) a = k;
        else if (mode === 0x80) a = wireLength >>> 0;
        else if (mode === 0x60) {
          if (!written[k]) throw new Error(`M[${k}] read before written`);
          a = memory[k] as number;
        } else {
          const value = load(mode === 0x20 ? k : x + k, sizeBytes);
          if (value === undefined) return 0;
          a = value;
        }
        break;
      }
      case 0x01: {
        const mode = MODE(code);
        if (mode === 0x00) x = k;
        else if (mode === 0x80) x = wireLength >>> 0;
        else if (mode === 0x60) {
          if (!written[k]) throw new Error(`M[${k}] read before written`);
          x = memory[k] as number;
        } else {
          const value = load(k, 1);
          if (value === undefined) return 0;
          x = (value & 0xf) * 4;
        }
        break;
      }
      case 0x02:
        memory[k] = a;
        written[k] = true;
        break;
      case 0x03:
        memory[k] = x;
        written[k] = true;
        break;
      case 0x04: {
        const operand = SRC(code) === 0x08 ? x : k;
        switch (OP(code)) {
          case 0x00:
            a = (a + operand) >>> 0;
            break;
          case 0x10:
            a = (a - operand) >>> 0;
            break;
          case 0x20:
            a = Number((BigInt(a) * BigInt(operand)) & 0xffffffffn);
            break;
          case 0x30:
            if (operand === 0) return 0;
            a = Math.floor(a / operand) >>> 0;
            break;
          case 0x90:
            if (operand === 0) return 0;
            a = (a % operand) >>> 0;
            break;
          case 0x40:
            a = (a | operand) >>> 0;
            break;
          case 0x50:
            a = (a & operand) >>> 0;
            break;
          case 0xa0:
            a = (a ^ operand) >>> 0;
            break;
          case 0x60:
            a = operand < 32 ? (a << operand) >>> 0 : 0;
            break;
          case 0x70:
            a = operand < 32 ? a >>> operand : 0;
            break;
          case 0x80:
            a = -a >>> 0;
            break;
          default:
            throw new Error(`bad alu 0x${code.toString(16)}`);
        }
        break;
      }
      case 0x05: {
        const operand = SRC(code) === 0x08 ? x : k;
        let taken: boolean;
        switch (OP(code)) {
          case 0x00:
            pc += k;
            continue;
          case 0x10:
            taken = a === operand;
            break;
          case 0x20:
            taken = a > operand;
            break;
          case 0x30:
            taken = a >= operand;
            break;
          case 0x40:
            taken = (a & operand) !== 0;
            break;
          default:
            throw new Error(`bad jump 0x${code.toString(16)}`);
        }
        pc += taken ? insn.jt : insn.jf;
        break;
      }
      case 0x06:
        return (code & 0x18) === 0x10 ? a : k;
      case 0x07:
        if (code === 0x07) x = a;
        else a = x;
        break;
    }
  }
}
