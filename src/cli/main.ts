#!/usr/bin/env node
import module from 'node:module';

const USAGE = `Usage: zerocopy <command> [options]

Commands:
  doctor [--json]   what this kernel and file system support
  bench [scenario...] [--quick] [--json]
                    run the benchmarks (from a built checkout)
  serve [dir]       serve a directory over HTTP (zerocopy serve --help)
  proxy             TCP/Unix proxy that splices (zerocopy proxy --help)
  cp SRC... DST     copy files in the kernel, reflink where possible (zerocopy cp --help)
  tee [FILE...]     GNU tee's drop-in: stdin to each FILE and stdout through tee(2)
  broadcast         one live stream to every HTTP client that GETs it (zerocopy broadcast --help)
  capture -i IFACE  capture packets through a mapped ring, like tcpdump (zerocopy capture --help)

Options:
  -h, --help        show this help
`;

const DOCTOR_USAGE = `Usage: zerocopy doctor [--json]

Says what this kernel, file system and Node support: the native addon, each system call
zerocopy uses, io_uring, SO_ZEROCOPY, kernel TLS, reflinks, and the limits that bound them.
--json prints the same as JSON.
`;

/** A command's entry point: an exit code, or a promise of one (long-running servers resolve at once). */
type Command = (args: string[]) => number | Promise<number>;

// Each command loads only its own modules: `zerocopy cp` should not pay for the HTTP server.
const COMMANDS: Record<string, () => Promise<Command>> = {
  bench: async () => (await import('./bench.js')).bench,
  doctor: async () => {
    const [{ doctor }, { parseArgs }] = await Promise.all([import('./doctor.js'), import('node:util')]);
    return (args) => {
      const { values } = parseArgs({
        args,
        options: { json: { type: 'boolean', default: false }, help: { type: 'boolean', short: 'h' } },
        strict: true,
      });
      if (values.help === true) {
        process.stdout.write(DOCTOR_USAGE);
        return 0;
      }
      return doctor({ json: values.json === true });
    };
  },
  serve: async () => (await import('./serve.js')).serve,
  proxy: async () => (await import('./proxy.js')).proxy,
  cp: async () => (await import('./cp.js')).cp,
  tee: async () => (await import('./tee.js')).tee,
  broadcast: async () => (await import('./broadcast.js')).broadcast,
  capture: async () => (await import('./capture.js')).captureCommand,
};

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === undefined || command === '-h' || command === '--help' || command === 'help') {
    process.stdout.write(USAGE);
    return command === undefined ? 1 : 0;
  }
  const load = COMMANDS[command];
  if (load === undefined) {
    process.stderr.write(`zerocopy: unknown command '${command}'\n\n${USAGE}`);
    return 2;
  }
  // Node 22.8+ keeps the V8 code of the modules a command loads in a cache (the OS temp
  // directory, or NODE_COMPILE_CACHE), so the next run starts sooner; older Node has no such
  // call. Not for --help, which loads nothing more and would only pay for opening the cache.
  (module as { enableCompileCache?: () => unknown }).enableCompileCache?.();
  return (await load())(rest);
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    const message = error instanceof Error ? error.message : String(error);
    process.stderr.write(`zerocopy: ${message}\n`);
    process.exitCode = (error as { code?: string }).code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' ? 2 : 1;
  },
);
