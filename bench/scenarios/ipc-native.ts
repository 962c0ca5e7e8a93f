// The native references of the ipc scenario: a C memfd ring (bench/peers/ipc-ring.c, the
// physical limit) and Eclipse iceoryx 2.0 through its C binding (bench/peers/ipc-iceoryx.c),
// with the RouDi daemon iceoryx needs, started and stopped here by PID.
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { CACHE_DIR, PEERS_DIR } from '../lib/paths.js';
import { lastJson, run, track, which } from '../lib/proc.js';
import type { Sample } from '../lib/types.js';

export type NativeId = 'c-ring-spin' | 'c-ring-futex' | 'c-ring-eventfd' | 'iceoryx-poll' | 'iceoryx-waitset';

export interface NativeTrial {
  id: NativeId;
  across: 'threads' | 'processes';
  measure: 'throughput' | 'latency';
  size: number;
  count: number;
}

type Log = (message: string) => void;

async function compile(source: string, binary: string, extra: string[]): Promise<string | { reason: string }> {
  const cc = which('cc') ?? which('gcc');
  if (cc === null) return { reason: 'no C compiler (cc)' };
  mkdirSync(CACHE_DIR, { recursive: true });
  if (existsSync(binary) && statSync(binary).mtimeMs > statSync(source).mtimeMs) return binary;
  const result = await run(cc, ['-O2', '-Wall', '-o', binary, source, ...extra], { timeoutMs: 120_000 });
  if (result.code !== 0) return { reason: `cc failed on ${source}: ${result.stderr.trim().slice(0, 300)}` };
  return binary;
}

/** The C memfd ring, built into the bench's cache. */
export function buildRing(): Promise<string | { reason: string }> {
  return compile(join(PEERS_DIR, 'ipc-ring.c'), join(CACHE_DIR, 'ipc-ring'), ['-pthread']);
}

const ICEORYX_PACKAGES = ['iceoryx', 'libiceoryx-binding-c-dev'];

/** The directory holding iceoryx_binding_c/ (Debian puts it under /usr/include/iceoryx/vX.Y.Z). */
function iceoryxInclude(): string | null {
  const root = '/usr/include/iceoryx';
  if (!existsSync(root)) return null;
  for (const version of readdirSync(root).sort().reverse()) {
    if (existsSync(join(root, version, 'iceoryx_binding_c', 'publisher.h'))) return join(root, version);
  }
  return null;
}

/** iceoryx from Debian (installed here when missing, in CI or as root) and the C peer built against it. */
export async function prepareIceoryx(log: Log): Promise<{ peer: string; roudi: string } | { reason: string }> {
  if (iceoryxInclude() === null || which('iox-roudi') === null) {
    const mayInstall = process.env.CI === 'true' || process.getuid?.() === 0;
    if (!mayInstall) {
      return {
        reason: `not installed (apt-get install ${ICEORYX_PACKAGES.join(' ')}); the bench installs it only in CI or as root`,
      };
    }
    if (which('apt-get') === null) return { reason: 'not installed, and there is no apt-get to install it' };
    log(`installing Debian packages: ${ICEORYX_PACKAGES.join(' ')} (apt-get)`);
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
    const sudo = process.getuid?.() === 0 ? [] : ['sudo', '-n'];
    const command = [...sudo, 'apt-get', 'install', '-y', '-qq', '--no-install-recommends', ...ICEORYX_PACKAGES];
    let install = await run(command[0] as string, command.slice(1), { timeoutMs: 300_000, env });
    if (install.code !== 0) {
      const update = [...sudo, 'apt-get', 'update', '-qq'];
      await run(update[0] as string, update.slice(1), { timeoutMs: 180_000, env });
      install = await run(command[0] as string, command.slice(1), { timeoutMs: 300_000, env });
    }
    if (iceoryxInclude() === null || which('iox-roudi') === null) {
      const why = install.stderr.trim().split('\n').slice(-2).join(' ');
      return { reason: `apt-get install ${ICEORYX_PACKAGES.join(' ')} failed: ${why || `exit ${install.code}`}` };
    }
  }
  const include = iceoryxInclude() as string;
  const peer = await compile(join(PEERS_DIR, 'ipc-iceoryx.c'), join(CACHE_DIR, 'ipc-iceoryx'), [
    `-I${include}`,
    '-liceoryx_binding_c',
  ]);
  if (typeof peer !== 'string') return peer;
  return { peer, roudi: which('iox-roudi') as string };
}

// Mempools for 64 B, 4 KiB and 1 MiB payloads (plus iceoryx's chunk header), 8 to 256 in
// flight each way: about 45 MB of shared memory instead of the default config's ~150 MB.
const ROUDI_CONFIG = `[general]
version = 1

[[segment]]

[[segment.mempool]]
size = 128
count = 2048

[[segment.mempool]]
size = 8192
count = 1024

[[segment.mempool]]
size = 1049600
count = 32
`;

export interface Roudi {
  stop(): Promise<void>;
}

/** Starts RouDi and resolves once it is ready for clients. */
export async function startRoudi(roudi: string): Promise<Roudi> {
  const directory = mkdtempSync(join(tmpdir(), 'zerocopy-roudi-'));
  const config = join(directory, 'roudi.toml');
  writeFileSync(config, ROUDI_CONFIG);
  const child: ChildProcess = spawn(roudi, ['-c', config, '-l', 'warning'], { stdio: ['ignore', 'pipe', 'pipe'] });
  track(child);
  let output = '';
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null && child.pid !== undefined) {
      process.kill(child.pid, 'SIGTERM');
      const timer = setTimeout(() => child.pid !== undefined && child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    }
    rmSync(directory, { recursive: true, force: true });
  };
  const ready = await new Promise<boolean>((resolve) => {
    const timer = setTimeout(() => resolve(false), 15_000);
    const look = (chunk: Buffer) => {
      output += chunk.toString('utf8');
      if (output.includes('RouDi is ready for clients')) {
        clearTimeout(timer);
        resolve(true);
      }
    };
    child.stdout?.on('data', look);
    child.stderr?.on('data', look);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve(false);
    });
  });
  if (!ready) {
    await stop();
    throw new Error(`iox-roudi did not become ready: ${output.trim().slice(-300)}`);
  }
  // Keep reading, so a chatty daemon never blocks on a full pipe.
  child.stdout?.resume();
  child.stderr?.resume();
  return { stop };
}

/** One trial of a native reference, as a fresh process. */
export async function nativeTrial(binary: string, trial: NativeTrial, timeoutMs = 120_000): Promise<Sample> {
  const [family, variant] = trial.id.startsWith('c-ring-')
    ? ['ring', trial.id.slice('c-ring-'.length)]
    : ['iceoryx', trial.id.slice('iceoryx-'.length)];
  const args =
    family === 'ring'
      ? [variant as string, trial.across, trial.measure, String(trial.size), String(trial.count)]
      : [variant as string, trial.measure, String(trial.size), String(trial.count)];
  const result = await run(binary, args, { timeoutMs });
  const json = lastJson(result.stdout);
  if (result.timedOut) throw new Error(`timed out after ${timeoutMs / 1000} s`);
  if (result.code !== 0 || json === null) {
    throw new Error(`exit ${result.code ?? result.signal}: ${(result.stderr || result.stdout).trim().slice(-300)}`);
  }
  const sample: Sample = {};
  for (const [key, value] of Object.entries(json)) if (typeof value === 'number') sample[key] = value;
  return sample;
}
