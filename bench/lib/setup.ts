import { existsSync, mkdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

import { BENCH_DIR, CACHE_DIR, LIBRARY_INDEX, PEERS_DIR } from './paths.js';
import { run, which } from './proc.js';
import type { Tools } from './types.js';

type Log = (message: string) => void;

/** Debian packages the bench uses, by the program each provides. */
const DEBIAN: Record<string, string> = { wrk: 'wrk', nginx: 'nginx', strace: 'strace', cc: 'gcc' };

async function ensureDebian(log: Log, missing: Record<string, string>): Promise<void> {
  const absent = Object.keys(DEBIAN).filter((program) => which(program) === null);
  if (absent.length === 0) return;
  const packages = absent.map((program) => DEBIAN[program]!);
  if (which('apt-get') === null) {
    for (const program of absent)
      missing[program] = `not installed and there is no apt-get to install ${DEBIAN[program]}`;
    return;
  }
  if (process.getuid?.() !== 0) {
    for (const program of absent)
      missing[program] = `not installed, and apt-get needs root (apt-get install ${DEBIAN[program]})`;
    return;
  }
  log(`installing Debian packages: ${packages.join(' ')} (apt-get)`);
  // RUNLEVEL=1: invoke-rc.d then does not start the packaged nginx service on port 80.
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive', RUNLEVEL: '1' };
  const update = await run('apt-get', ['update', '-qq'], { timeoutMs: 180_000, env });
  const install = await run('apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...packages], {
    timeoutMs: 300_000,
    env,
  });
  for (const program of absent) {
    if (which(program) === null) {
      const why = (install.stderr || update.stderr).trim().split('\n').slice(-2).join(' ');
      missing[program] = `apt-get install ${DEBIAN[program]} failed: ${why || `exit ${install.code}`}`;
    }
  }
}

function hasPackage(name: string): boolean {
  return existsSync(join(BENCH_DIR, 'node_modules', name, 'package.json'));
}

async function ensureNpm(log: Log): Promise<void> {
  if (['express', 'fastify', '@fastify/static', 'serve', 'http-server', 'zeromq', 'node-ipc'].every(hasPackage)) return;
  log('installing the npm peers (npm install --prefix bench)');
  const result = await run(
    process.platform === 'win32' ? 'npm.cmd' : 'npm',
    ['install', '--prefix', BENCH_DIR, '--no-audit', '--no-fund'],
    { timeoutMs: 300_000 },
  );
  if (result.code !== 0)
    log(`npm install --prefix bench failed: ${result.stderr.trim().split('\n').slice(-3).join(' ')}`);
}

async function buildSender(missing: Record<string, string>): Promise<string | null> {
  const cc = which('cc') ?? which('gcc');
  if (cc === null) {
    missing.sender = missing.cc ?? 'no C compiler (cc)';
    return null;
  }
  mkdirSync(CACHE_DIR, { recursive: true });
  const source = join(PEERS_DIR, 'sender.c');
  const binary = join(CACHE_DIR, 'sender');
  if (existsSync(binary) && statSync(binary).mtimeMs > statSync(source).mtimeMs) return binary;
  const result = await run(cc, ['-O2', '-Wall', '-o', binary, source], { timeoutMs: 60_000 });
  if (result.code !== 0) {
    missing.sender = `cc failed to build bench/peers/sender.c: ${result.stderr.trim().slice(0, 300)}`;
    return null;
  }
  return binary;
}

async function findBun(missing: Record<string, string>): Promise<string | null> {
  const bun = join(BENCH_DIR, 'node_modules', '.bin', 'bun');
  if (!existsSync(bun)) {
    missing.bun = 'the npm package `bun` did not install (it is an optional dependency of bench/)';
    return null;
  }
  const version = await run(bun, ['--version'], { timeoutMs: 20_000 });
  if (version.code !== 0) {
    missing.bun = `the npm package \`bun\` installed but does not run: ${(version.stderr || version.stdout).trim().slice(0, 200)}`;
    return null;
  }
  return bun;
}

async function loadLibrary(missing: Record<string, string>): Promise<Record<string, unknown> | null> {
  if (!existsSync(LIBRARY_INDEX)) {
    missing.library = 'dist/src/index.js is missing: build with `npx tsc -p tsconfig.json`';
    return null;
  }
  try {
    return (await import(pathToFileURL(LIBRARY_INDEX).href)) as Record<string, unknown>;
  } catch (error) {
    missing.library = `dist/src/index.js does not load: ${error instanceof Error ? error.message : String(error)}`;
    return null;
  }
}

/** Finds or installs everything the scenarios use, and records why anything is missing. */
export async function prepareTools(log: Log): Promise<Tools> {
  const missing: Record<string, string> = {};
  await ensureDebian(log, missing);
  await ensureNpm(log);
  const tools: Tools = {
    sender: await buildSender(missing),
    wrk: which('wrk'),
    nginx: which('nginx'),
    strace: which('strace'),
    bun: await findBun(missing),
    library: await loadLibrary(missing),
    missing,
  };
  for (const program of ['wrk', 'nginx', 'strace'] as const) {
    if (tools[program] === null) missing[program] ??= `${program} is not installed`;
  }
  return tools;
}
