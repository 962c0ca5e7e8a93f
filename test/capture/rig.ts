// A veth pair between two network namespaces made for one test file, and the packet
// generator built from bench/peers/packet-gen.c. Nothing is addressed or routed: the
// generator writes Ethernet frames straight onto one end, captures read the other.
import { type ChildProcess, execFileSync, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../..', import.meta.url));
export const WORKER = fileURLToPath(new URL('./capture-worker.js', import.meta.url));
export const CLI = join(ROOT, 'dist/src/cli/main.js');

export interface Rig {
  /** Namespaces: the generator's and the capture's. */
  sender: string;
  receiver: string;
  /** The veth ends in each. */
  senderInterface: string;
  receiverInterface: string;
  generator: string;
  remove(): void;
}

function ip(...args: string[]): void {
  execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'] });
}

/** The rig, or why it cannot be made here (the caller skips out loud with it). */
export function makeRig(tag: string): Rig | string {
  if (process.platform !== 'linux') return 'network namespaces are Linux only';
  if (process.getuid?.() !== 0) return 'making network namespaces needs root';
  const cc = spawnSync('sh', ['-c', 'command -v cc || command -v gcc'], { encoding: 'utf8' }).stdout.trim();
  if (cc === '') return 'no C compiler for bench/peers/packet-gen.c';
  const directory = mkdtempSync(join(tmpdir(), 'zc-capture-'));
  const generator = join(directory, 'packet-gen');
  const built = spawnSync(cc, ['-O2', '-o', generator, join(ROOT, 'bench/peers/packet-gen.c')], { encoding: 'utf8' });
  if (built.status !== 0) {
    rmSync(directory, { recursive: true, force: true });
    return `cc failed on packet-gen.c: ${built.stderr.slice(0, 200)}`;
  }
  const id = `${tag}${process.pid % 100000}`;
  const sender = `zc-${id}-s`;
  const receiver = `zc-${id}-r`;
  const rig: Rig = {
    sender,
    receiver,
    senderInterface: `zs${id}`.slice(0, 15),
    receiverInterface: `zr${id}`.slice(0, 15),
    generator,
    remove() {
      spawnSync('ip', ['netns', 'del', sender]);
      spawnSync('ip', ['netns', 'del', receiver]);
      rmSync(directory, { recursive: true, force: true });
    },
  };
  try {
    ip('netns', 'add', sender);
    ip('netns', 'add', receiver);
    for (const ns of [sender, receiver]) {
      // No IPv6 autoconfiguration: the only frames on the link are the generator's.
      execFileSync('ip', ['netns', 'exec', ns, 'sysctl', '-qw', 'net.ipv6.conf.all.disable_ipv6=1'], {
        stdio: 'ignore',
      });
      execFileSync('ip', ['netns', 'exec', ns, 'sysctl', '-qw', 'net.ipv6.conf.default.disable_ipv6=1'], {
        stdio: 'ignore',
      });
    }
    ip(
      'link',
      'add',
      rig.senderInterface,
      'netns',
      sender,
      'type',
      'veth',
      'peer',
      'name',
      rig.receiverInterface,
      'netns',
      receiver,
    );
    ip('-n', sender, 'link', 'set', rig.senderInterface, 'up');
    ip('-n', receiver, 'link', 'set', rig.receiverInterface, 'up');
  } catch (error) {
    rig.remove();
    return `cannot make network namespaces here: ${(error as { stderr?: Buffer }).stderr?.toString().trim() || String(error)}`;
  }
  return rig;
}

/** Runs the generator in the sender namespace: COUNT frames of SIZE (0: varied) at RATE (0: flat out) over FLOWS. */
export function generate(rig: Rig, count: number, size: number, rate: number, flows: number, vlan?: number): void {
  const result = spawnSync(
    'ip',
    [
      'netns',
      'exec',
      rig.sender,
      rig.generator,
      rig.senderInterface,
      String(count),
      String(size),
      String(rate),
      String(flows),
      ...(vlan === undefined ? [] : [String(vlan)]),
    ],
    { encoding: 'utf8', timeout: 60_000 },
  );
  if (result.status !== 0) throw new Error(`packet-gen failed: ${result.stderr || result.error}`);
}

/** Spawns `args` in the receiver namespace; resolves once it printed "ready" (or its first stderr line). */
export function spawnInReceiver(
  rig: Rig,
  args: string[],
): {
  child: ChildProcess;
  ready: Promise<void>;
  output: Promise<{ stdout: string; stderr: string; code: number | null }>;
} {
  const child = spawn('ip', ['netns', 'exec', rig.receiver, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  let markReady: () => void = () => {};
  const ready = new Promise<void>((resolve) => {
    markReady = resolve;
  });
  child.stdout?.on('data', (chunk: Buffer) => {
    stdout += chunk.toString('latin1');
    if (stdout.includes('ready\n')) markReady();
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
    if (stderr.includes('listening on')) markReady();
  });
  const killer = setTimeout(() => child.kill('SIGKILL'), 90_000);
  const output = new Promise<{ stdout: string; stderr: string; code: number | null }>((resolve) => {
    child.on('close', (code) => {
      clearTimeout(killer);
      markReady();
      resolve({ stdout, stderr, code });
    });
  });
  return { child, ready, output };
}

export interface WorkerResult {
  count: number;
  packets: { hash: string; seq: number; length: number; captured: number; direction: string }[];
  stats: { received: number; dropped: number; freezes: number; delivered: number };
  detached: boolean;
  sameBlock: boolean;
  linkType: string;
  backend?: string;
  xdp?: { queue: number; mode: string; zeroCopyRefused?: string; attach: string; driverRefused?: string };
  closedCode?: string;
  udpReceived?: number;
  error?: { code?: string; errno?: number; syscall?: string; message: string };
}

/** Starts a capture worker in the receiver namespace. */
export function startWorker(rig: Rig, options: Record<string, unknown>) {
  const run = spawnInReceiver(rig, [
    process.execPath,
    WORKER,
    JSON.stringify({ interface: rig.receiverInterface, ...options }),
  ]);
  const result = run.output.then(({ stdout, stderr, code }) => {
    const line = stdout.split('\n').find((text) => text.startsWith('{'));
    if (code !== 0 || line === undefined) throw new Error(`capture worker failed (${code}): ${stderr}`);
    return JSON.parse(line) as WorkerResult;
  });
  return { ready: run.ready, result };
}
