#!/usr/bin/env node
import { parseArgs } from 'node:util';

import { bench } from './bench.js';
import { cp } from './cp.js';
import { doctor } from './doctor.js';
import { proxy } from './proxy.js';
import { serve } from './serve.js';

const USAGE = `Usage: zerocopy <command> [options]

Commands:
  doctor [--json]   what this kernel and file system support
  bench [scenario...] [--quick] [--json]
                    run the benchmarks (from a built checkout)
  serve [dir]       serve a directory over HTTP (zerocopy serve --help)
  proxy             TCP/Unix proxy that splices (zerocopy proxy --help)
  cp SRC... DST     copy files in the kernel, reflink where possible (zerocopy cp --help)

Options:
  -h, --help        show this help
`;

function main(argv: string[]): number {
  const [command, ...rest] = argv;
  if (command === undefined || command === '-h' || command === '--help' || command === 'help') {
    process.stdout.write(USAGE);
    return command === undefined ? 1 : 0;
  }
  switch (command) {
    case 'bench':
      return bench(rest);
    case 'doctor': {
      const { values } = parseArgs({
        args: rest,
        options: { json: { type: 'boolean', default: false } },
        strict: true,
      });
      return doctor({ json: values.json === true });
    }
    case 'serve':
      return serve(rest);
    case 'proxy':
      return proxy(rest);
    case 'cp':
      // Asynchronous: the exit code is set when the copies are done.
      void cp(rest).then((code) => {
        process.exitCode = code;
      });
      return 0;
    default:
      process.stderr.write(`zerocopy: unknown command '${command}'\n\n${USAGE}`);
      return 2;
  }
}

try {
  process.exitCode = main(process.argv.slice(2));
} catch (error) {
  const message = error instanceof Error ? error.message : String(error);
  process.stderr.write(`zerocopy: ${message}\n`);
  process.exitCode = (error as { code?: string }).code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' ? 2 : 1;
}
