import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root: this file runs from dist/bench/lib/, its source is bench/lib/. */
function findRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    if (existsSync(join(dir, 'bench', 'package.json')) && existsSync(join(dir, 'package.json'))) return dir;
    dir = resolve(dir, '..');
  }
  throw new Error('cannot find the repository root (bench/package.json) above the bench scripts');
}

export const ROOT = findRoot();
export const BENCH_DIR = join(ROOT, 'bench');
/** Peer programs run from their source location, so they resolve bench/node_modules. */
export const PEERS_DIR = join(BENCH_DIR, 'peers');
export const RESULTS_DIR = join(BENCH_DIR, 'results');
/** Build products of the bench itself (the C reference). Inside results/, which git ignores. */
export const CACHE_DIR = join(RESULTS_DIR, '.cache');
export const LIBRARY_INDEX = join(ROOT, 'dist', 'src', 'index.js');
export const CLI_MAIN = join(ROOT, 'dist', 'src', 'cli', 'main.js');
/** Compiled worker scripts sit next to this module's compiled directory. */
export const WORKERS_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', 'workers');
