// The classic BPF program a capture attaches: the caller's (or one that accepts everything),
// cut to the snap length, behind a check of the packet's direction.
import type { PacketRingKernel } from '../binding/native.js';
import { invalidArgValue } from '../errors.js';
import type { BpfInstruction, BpfProgram } from './filter/index.js';

export type { BpfInstruction, BpfProgram };

/** Which packets of the interface: received, sent, or both (tcpdump's `-Q`). */
export type CaptureDirection = 'in' | 'out' | 'inout';

// The opcodes this file writes (linux/filter.h).
const BPF_LD_W_ABS = 0x20;
const BPF_JEQ_K = 0x15;
const BPF_RET_K = 0x06;

function isInteger(value: unknown, max: number): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value >= 0 && value <= max;
}

/** Checks `program` and returns it as the [code, jt, jf, k] words the kernel takes. */
export function programWords(
  program: BpfProgram | undefined,
  snapLength: number,
  direction: CaptureDirection,
  kernel: PacketRingKernel,
  maxInstructions: number,
): Uint32Array {
  const body: BpfInstruction[] = [];
  if (program === undefined) body.push({ code: BPF_RET_K, jt: 0, jf: 0, k: snapLength });
  else {
    if (!Array.isArray(program) || program.length === 0) {
      throw invalidArgValue('filter', program, 'must be a filter expression or a non-empty array of BPF instructions');
    }
    program.forEach((instruction: BpfInstruction, index) => {
      const { code, jt, jf, k } = instruction ?? ({} as BpfInstruction);
      if (!isInteger(code, 0xffff) || !isInteger(jt, 0xff) || !isInteger(jf, 0xff) || !isInteger(k, 0xffffffff)) {
        throw invalidArgValue(`filter[${index}]`, instruction, 'must be { code, jt, jf, k } of unsigned integers');
      }
      // A packet accepted with "keep k bytes" keeps at most the snap length: that return
      // value is how the kernel cuts packets short in a TPACKET_V3 ring.
      body.push({ code, jt, jf, k: code === BPF_RET_K && k > snapLength ? snapLength : k });
    });
  }
  const prefix: BpfInstruction[] = [];
  if (direction !== 'inout') {
    // A = packet type; outgoing packets skip (or take) the "ret #0" that follows.
    const outgoing = direction === 'out';
    prefix.push(
      { code: BPF_LD_W_ABS, jt: 0, jf: 0, k: kernel.ancillaryPacketType },
      { code: BPF_JEQ_K, jt: outgoing ? 1 : 0, jf: outgoing ? 0 : 1, k: kernel.packetOutgoing },
      { code: BPF_RET_K, jt: 0, jf: 0, k: 0 },
    );
  }
  const all = [...prefix, ...body];
  if (all.length > maxInstructions) {
    throw invalidArgValue('filter', `${all.length} instructions`, `must have at most ${maxInstructions} instructions`);
  }
  const words = new Uint32Array(all.length * 4);
  all.forEach(({ code, jt, jf, k }, i) => {
    words.set([code, jt, jf, k], i * 4);
  });
  return words;
}

/** Parses `tcpdump -dd` output (`{ 0x28, 0, 0, 0x0000000c },` lines) into a program. */
export function parseBpfListing(text: string): BpfProgram {
  const program: BpfInstruction[] = [];
  for (const match of text.matchAll(/\{\s*(0x[0-9a-f]+|\d+),\s*(\d+),\s*(\d+),\s*(0x[0-9a-f]+|\d+)\s*\}/gi)) {
    program.push({ code: Number(match[1]), jt: Number(match[2]), jf: Number(match[3]), k: Number(match[4]) });
  }
  return program;
}
