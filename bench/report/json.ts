import type { Machine } from '../lib/machine.js';
import type { Options, ScenarioResult, Tools } from '../lib/types.js';

/** bench/results/<timestamp>.json: everything needed to redraw the report, every sample included. */
export interface RunReport {
  schema: 1;
  startedAt: string;
  finishedAt: string;
  command: string;
  options: Options;
  machine: Machine;
  tools: { found: Record<string, string | null>; missing: Record<string, string>; transferExported: boolean };
  thresholds: Record<string, number | null>;
  scenarios: ScenarioResult[];
}

export function toolSummary(tools: Tools): RunReport['tools'] {
  return {
    found: { sender: tools.sender, wrk: tools.wrk, nginx: tools.nginx, strace: tools.strace, bun: tools.bun },
    missing: tools.missing,
    transferExported: typeof tools.library?.transfer === 'function',
  };
}
