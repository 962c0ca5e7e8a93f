// zerocopy tee: GNU tee's flags, messages and exit codes, with stdin spliced into a pipe and
// tee(2)'d to every output that can take it (pipes, sockets, files); the rest are copied to.
import { openSync, readFileSync } from 'node:fs';

import { fanout } from '../fanout/index.js';
import type { DestinationReport } from '../fanout/types.js';
import { seek } from '../primitives/seek.js';

const USAGE = `Usage: zerocopy tee [OPTION]... [FILE]...
Copy standard input to each FILE, and also to standard output, sharing pages in the kernel
(tee(2), splice(2)) wherever standard input and the outputs allow.

  -a, --append              append to the given FILEs, do not overwrite (copied: the kernel
                            cannot splice to an append-only file)
  -i, --ignore-interrupts   ignore interrupt signals
  -p                        operate in a more appropriate MODE with pipes (warn-nopipe)
      --output-error[=MODE] set behavior on write error.  See MODE below
  -h, --help                display this help and exit

MODE determines behavior with write errors on the outputs:
  warn           diagnose errors writing to any output
  warn-nopipe    diagnose errors writing to any output not a pipe
  exit           exit on error writing to any output
  exit-nopipe    exit on error writing to any output not a pipe
The default MODE for the -p option is 'warn-nopipe'. With no -p or --output-error, a broken
pipe ends the command at once with status 141, as a shell reports GNU tee killed by SIGPIPE.
`;

const MODES = ['warn', 'warn-nopipe', 'exit', 'exit-nopipe'] as const;
type OutputErrorMode = (typeof MODES)[number] | 'sigpipe';

/** 128 + SIGPIPE: the status a shell shows for a command killed by a broken pipe. */
const BROKEN_PIPE_STATUS = 141;

interface TeeArgs {
  append: boolean;
  ignoreInterrupts: boolean;
  mode: OutputErrorMode;
  files: string[];
}

function fail(message: string): never {
  throw Object.assign(new Error(message), { usage: true });
}

/** GNU getopt_long rules: bundled short flags, `--` ends options, long options by unique prefix. */
function parse(args: string[]): TeeArgs | 'help' {
  const parsed: TeeArgs = { append: false, ignoreInterrupts: false, mode: 'sigpipe', files: [] };
  const longs = ['append', 'ignore-interrupts', 'output-error', 'help'];
  let options = true;
  for (const arg of args) {
    if (!options || arg === '-' || !arg.startsWith('-')) {
      parsed.files.push(arg);
      continue;
    }
    if (arg === '--') {
      options = false;
      continue;
    }
    if (arg.startsWith('--')) {
      const [name = '', value] = arg.slice(2).split(/=(.*)/s, 2);
      const matches = longs.filter((long) => long.startsWith(name));
      const long = longs.includes(name) ? name : matches.length === 1 ? matches[0] : undefined;
      if (long === undefined)
        fail(matches.length > 1 ? `option '${arg}' is ambiguous` : `unrecognized option '${arg}'`);
      if (long !== 'output-error' && value !== undefined) fail(`option '--${long}' doesn't allow an argument`);
      if (long === 'append') parsed.append = true;
      else if (long === 'ignore-interrupts') parsed.ignoreInterrupts = true;
      else if (long === 'help') return 'help';
      else {
        const modes = value === undefined ? ['warn-nopipe'] : MODES.filter((mode) => mode.startsWith(value));
        const exact = MODES.find((mode) => mode === value);
        if (exact === undefined && modes.length !== 1)
          fail(
            `${modes.length > 1 ? 'ambiguous' : 'invalid'} argument '${value}' for '--output-error'\nValid arguments are:\n${MODES.map((mode) => `  - '${mode}'`).join('\n')}`,
          );
        parsed.mode = exact ?? (modes[0] as OutputErrorMode);
      }
      continue;
    }
    for (const flag of arg.slice(1)) {
      if (flag === 'a') parsed.append = true;
      else if (flag === 'i') parsed.ignoreInterrupts = true;
      else if (flag === 'p') parsed.mode = 'warn-nopipe';
      else if (flag === 'h') return 'help';
      else fail(`invalid option -- '${flag}'`);
    }
  }
  return parsed;
}

/** strerror's wording for a Node error ("No such file or directory"). */
function describe(error: unknown): string {
  const message = (error as Error).message ?? String(error);
  const code = (error as NodeJS.ErrnoException).code;
  // Node's "ENOENT: no such file or directory, open 'x'" -> "No such file or directory".
  const match = code !== undefined ? /^[A-Z0-9_]+: ([^,]+)/.exec(message) : null;
  const text = match?.[1] ?? message;
  return text.charAt(0).toUpperCase() + text.slice(1);
}

function warn(name: string, error: unknown): void {
  process.stderr.write(`zerocopy tee: ${name}: ${describe(error)}\n`);
}

/** Where a descriptor stands, from /proc (no lseek without the addon); undefined where /proc says nothing. */
function positionWithoutAddon(fd: number): number | undefined {
  try {
    const match = /^pos:\s*(\d+)/m.exec(readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8'));
    return match === null ? undefined : Number(match[1]);
  } catch {
    return undefined;
  }
}

export async function tee(args: string[]): Promise<number> {
  let parsed: TeeArgs | 'help';
  try {
    parsed = parse(args);
  } catch (error) {
    process.stderr.write(
      `zerocopy tee: ${(error as Error).message}\nTry 'zerocopy tee --help' for more information.\n`,
    );
    return 1;
  }
  if (parsed === 'help') {
    process.stdout.write(USAGE);
    return 0;
  }
  const { mode } = parsed;
  if (parsed.ignoreInterrupts) process.on('SIGINT', () => {});

  let ok = true;
  const names: string[] = ['standard output'];
  const outputs: number[] = [1];
  for (const file of parsed.files) {
    try {
      outputs.push(openSync(file, parsed.append ? 'a' : 'w', 0o666));
      names.push(file);
    } catch (error) {
      warn(file, error);
      ok = false;
    }
  }

  // GNU tee reads standard input from where it stands: a file may have been read in part.
  let offset: number | undefined;
  try {
    offset = seek(0, 0, 'current');
  } catch {
    offset = positionWithoutAddon(0);
  }

  let live = outputs.length;
  let exitNow: number | undefined;
  const running = fanout(0, outputs, {
    policy: 'wait',
    ...(offset !== undefined && offset > 0 ? { offset } : {}),
    onDestinationEnd(report: DestinationReport) {
      live--;
      if (report.outcome === 'closed' || report.outcome === 'failed') {
        const brokenPipe = (report.error as NodeJS.ErrnoException | undefined)?.code === 'EPIPE';
        if (brokenPipe && mode === 'sigpipe') {
          exitNow = BROKEN_PIPE_STATUS;
        } else {
          const quiet = brokenPipe && (mode === 'warn-nopipe' || mode === 'exit-nopipe');
          if (!quiet) {
            warn(names[report.id] ?? '?', report.error);
            ok = false;
            if (mode === 'exit' || mode === 'exit-nopipe') exitNow = 1;
          }
        }
        if (exitNow !== undefined) {
          process.exitCode = exitNow;
          // As GNU tee: the first fatal write error ends everything at once.
          process.exit(exitNow);
        }
      }
      // No output left: stop reading, as GNU tee does.
      if (live === 0) running.end();
    },
  });
  try {
    await running;
  } catch (error) {
    warn('standard input', error);
    return 1;
  }
  return ok ? 0 : 1;
}
