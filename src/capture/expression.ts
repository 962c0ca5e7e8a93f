// Filter expressions (tcpdump's language) compiled to classic BPF.
import { unsupported } from '../errors.js';
import type { BpfProgram } from './program.js';

/** Compiles a tcpdump filter expression for a capture of `snapLength` bytes. */
export function compileExpression(expression: string, _snapLength: number): BpfProgram {
  throw unsupported(
    `The filter expression '${expression}'`,
    'this build has no filter-expression compiler; pass a compiled program (the output of `tcpdump -dd`)',
  );
}
