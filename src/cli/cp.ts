// zerocopy cp: copies files in the kernel (reflink, copy_file_range), like GNU cp.
import { lstat, mkdir, readdir, readlink, stat, symlink } from 'node:fs/promises';
import { basename, join, relative, resolve } from 'node:path';
import type { WriteStream } from 'node:tty';
import { parseArgs } from 'node:util';

import { type CopyFileOptions, type CopyFileReport, copyFile, type ReflinkMode } from '../copy/copy-file.js';
import { progressBar } from '../copy/progress.js';

export const CP_USAGE = `Usage: zerocopy cp [options] SRC... DST

Copies SRC to DST, or each SRC into the directory DST, inside the kernel: a reflink where
the file system shares extents, copy_file_range otherwise, read/write as a last resort.
Holes stay holes. A destination appears only once complete.

Options:
  -r, --recursive        copy directories and their contents
  --reflink=WHEN         auto (default), always, never
  --sparse=WHEN          auto (default: keep holes), never
  -p, --preserve         keep permission bits and access/modification times
  -n, --no-clobber       do not replace existing files
  --fsync                flush each copy to the disk before going on
  --progress / --no-progress   progress bar for copies over 64 MiB (default: on a terminal)
  -v, --verbose          one line per file: method, bytes, time
`;

/** Below this a progress bar would only flicker. */
const PROGRESS_FROM_BYTES = 64 * 1024 * 1024;

interface CpConfig {
  sources: string[];
  destination: string;
  recursive: boolean;
  verbose: boolean;
  progress: boolean;
  options: CopyFileOptions;
}

function parseCpArgs(args: string[]): CpConfig {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    strict: true,
    options: {
      recursive: { type: 'boolean', short: 'r', default: false },
      R: { type: 'boolean', default: false },
      reflink: { type: 'string', default: 'auto' },
      sparse: { type: 'string', default: 'auto' },
      preserve: { type: 'boolean', short: 'p', default: false },
      'no-clobber': { type: 'boolean', short: 'n', default: false },
      fsync: { type: 'boolean', default: false },
      progress: { type: 'boolean' },
      'no-progress': { type: 'boolean', default: false },
      verbose: { type: 'boolean', short: 'v', default: false },
    },
  });
  if (positionals.length < 2) throw new Error(`cp needs a source and a destination\n\n${CP_USAGE}`);
  const reflink = values.reflink as string;
  if (!['auto', 'always', 'never'].includes(reflink)) throw new Error('--reflink must be auto, always or never');
  const sparse = values.sparse as string;
  if (!['auto', 'never'].includes(sparse)) throw new Error('--sparse must be auto or never');
  const progress = values['no-progress'] === true ? false : (values.progress ?? process.stderr.isTTY === true);
  return {
    sources: positionals.slice(0, -1),
    destination: positionals[positionals.length - 1] as string,
    recursive: values.recursive === true || values.R === true,
    verbose: values.verbose === true,
    progress,
    options: {
      reflink: reflink as ReflinkMode,
      sparse: sparse as 'auto' | 'never',
      preserve: values.preserve === true,
      overwrite: values['no-clobber'] !== true,
      fsync: values.fsync === true,
    },
  };
}

function describe(report: CopyFileReport): string {
  const how =
    report.method === 'copy' && report.fallback !== undefined
      ? `copy (${report.fallback.reason}${report.fallback.errno === undefined ? '' : `, ${report.fallback.errno}`})`
      : report.method;
  const holes = report.holeBytes > 0 ? `, ${report.holeBytes} bytes of holes kept` : '';
  return `${how}, ${report.bytes} bytes${holes}, ${report.durationMs.toFixed(1)} ms`;
}

class Copier {
  failures = 0;
  files = 0;
  bytes = 0;
  readonly methods = new Map<string, number>();

  constructor(
    readonly config: CpConfig,
    readonly signal: AbortSignal,
  ) {}

  warn(message: string): void {
    this.failures++;
    process.stderr.write(`zerocopy cp: ${message}\n`);
  }

  async copyOne(from: string, to: string): Promise<void> {
    const stats = await lstat(from);
    if (stats.isDirectory()) {
      if (!this.config.recursive) return this.warn(`-r not specified; omitting directory '${from}'`);
      const inside = relative(resolve(from), resolve(to));
      if (inside === '' || (!inside.startsWith('..') && !inside.startsWith('/')))
        return this.warn(`cannot copy a directory, '${from}', into itself, '${to}'`);
      await mkdir(to, { recursive: true, mode: stats.mode & 0o7777 });
      // Sorted so that output and failures come in a stable order.
      for (const entry of (await readdir(from)).sort()) {
        if (this.signal.aborted) return;
        await this.copyOne(join(from, entry), join(to, entry));
      }
      return;
    }
    if (stats.isSymbolicLink() && this.config.recursive) {
      // cp -r copies a link as a link (-P), it does not follow it.
      await symlink(await readlink(from), to);
      return;
    }
    const bar =
      this.config.progress && stats.size >= PROGRESS_FROM_BYTES
        ? progressBar(process.stderr as WriteStream, basename(from))
        : undefined;
    try {
      const report = await copyFile(from, to, {
        ...this.config.options,
        signal: this.signal,
        ...(bar === undefined ? {} : { onProgress: (done: number, total: number) => bar.update(done, total) }),
      });
      bar?.finish();
      this.files++;
      this.bytes += report.bytes;
      this.methods.set(report.method, (this.methods.get(report.method) ?? 0) + 1);
      if (this.config.verbose) process.stdout.write(`'${from}' -> '${to}': ${describe(report)}\n`);
    } catch (error) {
      bar?.finish();
      if (this.signal.aborted) throw error;
      this.warn(error instanceof Error ? error.message : String(error));
    }
  }
}

async function isDirectory(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isDirectory();
  } catch {
    return false;
  }
}

/** `zerocopy cp`; resolves with the exit code (1 if any file failed, 130 if interrupted). */
export async function cp(args: string[]): Promise<number> {
  if (args.includes('-h') || args.includes('--help')) {
    process.stdout.write(CP_USAGE);
    return 0;
  }
  let config: CpConfig;
  try {
    config = parseCpArgs(args);
  } catch (error) {
    process.stderr.write(`zerocopy cp: ${error instanceof Error ? error.message : String(error)}\n`);
    return 2;
  }
  // Ctrl-C stops the copy in flight: its temporary file is removed, the destination untouched.
  const controller = new AbortController();
  const interrupt = () => controller.abort();
  process.once('SIGINT', interrupt);
  process.once('SIGTERM', interrupt);
  const copier = new Copier(config, controller.signal);
  try {
    const intoDirectory = config.sources.length > 1 || (await isDirectory(config.destination));
    if (config.sources.length > 1 && !intoDirectory) {
      process.stderr.write(`zerocopy cp: target '${config.destination}' is not a directory\n`);
      return 1;
    }
    for (const source of config.sources) {
      if (controller.signal.aborted) break;
      const target = intoDirectory ? join(config.destination, basename(source)) : config.destination;
      try {
        await copier.copyOne(source, target);
      } catch (error) {
        if (controller.signal.aborted) break;
        copier.warn(error instanceof Error ? error.message : String(error));
      }
    }
  } finally {
    process.off('SIGINT', interrupt);
    process.off('SIGTERM', interrupt);
  }
  if (controller.signal.aborted) {
    process.stderr.write('zerocopy cp: interrupted; the file being copied was not created\n');
    return 130;
  }
  if (config.verbose) {
    const methods = [...copier.methods].map(([method, count]) => `${method} ${count}`).join(', ');
    process.stdout.write(
      `zerocopy cp: ${copier.files} files, ${copier.bytes} bytes (${methods || 'nothing copied'})\n`,
    );
  }
  return copier.failures > 0 ? 1 : 0;
}
