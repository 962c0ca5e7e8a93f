// Filter expressions (tcpdump's language) compiled to classic BPF, for Ethernet framing.
import { unsupported } from '../errors.js';
import { compileFilter } from './filter/index.js';
import type { LinkType } from './link-type.js';
import type { BpfProgram } from './program.js';

/** Compiles a tcpdump filter expression for a capture of `snapLength` bytes (throws ERR_ZEROCOPY_FILTER_SYNTAX). */
export function compileExpression(expression: string, snapLength: number): BpfProgram {
  return compileFilter(expression, { snapLength });
}

/** The compiler writes Ethernet offsets: an expression on another link type would test the wrong bytes. */
export function checkExpressionLink(expression: string, interfaceName: string, link: LinkType | undefined): void {
  if (link?.name === 'EN10MB') return;
  throw unsupported(
    `The filter expression '${expression}' on ${interfaceName}`,
    `expressions are compiled for Ethernet framing and this interface is ${link?.description ?? 'of another link type'}; ` +
      'pass a compiled program (`tcpdump -dd -i IFACE EXPRESSION`)',
  );
}
