import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

/** Every process the bench started and that has not ended yet, so an interrupted run can end them. */
const live = new Set<number>();

export function track(child: ChildProcess): void {
  if (child.pid === undefined) return;
  const pid = child.pid;
  live.add(pid);
  child.once('exit', () => live.delete(pid));
}

/** Ends every process the bench started (by PID, with their descendants). For an interrupted run. */
export function killAll(): void {
  for (const pid of live) killTree(pid, 500);
}

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
}

export interface RunOptions {
  timeoutMs: number;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
}

/** Runs a program to its end, killing it (by PID) if it outlives timeoutMs. */
export function run(command: string, args: string[], options: RunOptions): Promise<RunResult> {
  return new Promise((resolve) => {
    const child = spawn(command, args, {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: options.env ?? process.env,
      cwd: options.cwd,
    });
    track(child);
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      stdout += d;
    });
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      stderr += d;
    });
    const timer = setTimeout(() => {
      timedOut = true;
      killTree(child.pid);
    }, options.timeoutMs);
    child.on('error', (error) => {
      clearTimeout(timer);
      resolve({ code: null, signal: null, stdout, stderr: stderr + error.message, timedOut });
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr, timedOut });
    });
  });
}

/** The last line of `text` that parses as a JSON object. */
export function lastJson(text: string): Record<string, unknown> | null {
  const lines = text.trim().split('\n').reverse();
  for (const line of lines) {
    const trimmed = line.trim();
    if (!trimmed.startsWith('{')) continue;
    try {
      const value: unknown = JSON.parse(trimmed);
      if (value !== null && typeof value === 'object') return value as Record<string, unknown>;
    } catch {
      // not this line
    }
  }
  return null;
}

/** Children of `pid` (every thread's), recursively. */
export function descendants(pid: number): number[] {
  const out: number[] = [];
  const tasks = `/proc/${pid}/task`;
  if (!existsSync(tasks)) return out;
  let tids: string[] = [];
  try {
    tids = readdirSync(tasks);
  } catch {
    return out;
  }
  for (const tid of tids) {
    try {
      const children = readFileSync(`${tasks}/${tid}/children`, 'utf8').trim();
      for (const child of children.split(/\s+/).filter(Boolean)) {
        const childPid = Number(child);
        out.push(childPid, ...descendants(childPid));
      }
    } catch {
      // the thread ended meanwhile
    }
  }
  return out;
}

/** SIGTERM to a process and everything it started, then SIGKILL to whatever is left. All by PID. */
export function killTree(pid: number | undefined, graceMs = 1500): void {
  if (pid === undefined) return;
  const all = [pid, ...descendants(pid)];
  for (const p of all) signal(p, 'SIGTERM');
  setTimeout(() => {
    for (const p of all) signal(p, 'SIGKILL');
  }, graceMs).unref();
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // already gone
  }
}

const CLK_TCK = 100;

export interface ProcUsage {
  /** utime + stime of the process tree, seconds (clock-tick resolution, 10 ms). */
  userS: number;
  sysS: number;
  voluntaryCtx: number;
  involuntaryCtx: number;
}

/** CPU and context switches of `pid` and its descendants, from /proc. */
export function procUsage(pid: number): ProcUsage {
  const usage: ProcUsage = { userS: 0, sysS: 0, voluntaryCtx: 0, involuntaryCtx: 0 };
  for (const p of [pid, ...descendants(pid)]) {
    try {
      const stat = readFileSync(`/proc/${p}/stat`, 'utf8');
      // Fields after the command name, which is in parentheses and may contain spaces.
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      usage.userS += Number(fields[11]) / CLK_TCK;
      usage.sysS += Number(fields[12]) / CLK_TCK;
      for (const tid of readdirSync(`/proc/${p}/task`)) {
        const status = readFileSync(`/proc/${p}/task/${tid}/status`, 'utf8');
        usage.voluntaryCtx += Number(/voluntary_ctxt_switches:\s+(\d+)/.exec(status)?.[1] ?? 0);
        usage.involuntaryCtx += Number(/nonvoluntary_ctxt_switches:\s+(\d+)/.exec(status)?.[1] ?? 0);
      }
    } catch {
      // a process or thread ended between the listing and the read
    }
  }
  return usage;
}

export function usageDelta(after: ProcUsage, before: ProcUsage): ProcUsage {
  return {
    userS: after.userS - before.userS,
    sysS: after.sysS - before.sysS,
    voluntaryCtx: after.voluntaryCtx - before.voluntaryCtx,
    involuntaryCtx: after.involuntaryCtx - before.involuntaryCtx,
  };
}

/** A free TCP port on 127.0.0.1 (the kernel picks it; a server started next binds it). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/**
 * Whether something listens on 127.0.0.1:port (or 0.0.0.0:port), read from /proc/net/tcp.
 * Unlike a probe connection, this leaves no connection behind for a proxy to forward.
 */
export function listensOn(port: number): boolean {
  const hex = port.toString(16).toUpperCase().padStart(4, '0');
  try {
    const table = readFileSync('/proc/net/tcp', 'utf8');
    return table.split('\n').some((line) => {
      const fields = line.trim().split(/\s+/);
      return (
        fields[3] === '0A' && (fields[1] === `0100007F:${hex}` || fields[1] === `00000000:${hex}`) // 0A: LISTEN
      );
    });
  } catch {
    return false;
  }
}

export interface Server {
  pid: number;
  port: number;
  child: ChildProcess;
  output(): string;
  stop(): Promise<void>;
}

/** Starts a server process and waits until 127.0.0.1:port accepts connections. */
export async function startServer(
  command: string,
  args: string[],
  port: number,
  options: {
    timeoutMs?: number;
    env?: NodeJS.ProcessEnv;
    cwd?: string;
    /** Wait for the listening socket in /proc/net/tcp instead of connecting to it (for proxies). */
    noConnect?: boolean;
  } = {},
): Promise<Server> {
  const child = spawn(command, args, {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: options.env ?? process.env,
    cwd: options.cwd,
  });
  track(child);
  let output = '';
  child.stdout?.setEncoding('utf8').on('data', (d: string) => {
    output = (output + d).slice(-8000);
  });
  child.stderr?.setEncoding('utf8').on('data', (d: string) => {
    output = (output + d).slice(-8000);
  });
  let exited = false;
  let spawnError = '';
  child.on('exit', () => {
    exited = true;
  });
  child.on('error', (error) => {
    exited = true;
    spawnError = error.message;
  });
  const stop = async () => {
    if (exited || child.pid === undefined) return;
    const done = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    killTree(child.pid);
    await Promise.race([done, sleep(3000)]);
  };
  const deadline = Date.now() + (options.timeoutMs ?? 15000);
  while (Date.now() < deadline) {
    if (exited) throw new Error(`exited before listening: ${(spawnError || output).trim().slice(-600)}`);
    if (options.noConnect === true ? listensOn(port) : await canConnect(port)) {
      return { pid: child.pid ?? -1, port, child, output: () => output, stop };
    }
    await sleep(50);
  }
  await stop();
  throw new Error(`did not listen on 127.0.0.1:${port} within ${options.timeoutMs ?? 15000} ms`);
}

/** Returns the path of a program on PATH, or null. */
export function which(name: string): string | null {
  for (const dir of (process.env.PATH ?? '').split(':')) {
    if (dir !== '' && existsSync(`${dir}/${name}`)) return `${dir}/${name}`;
  }
  for (const dir of ['/usr/sbin', '/sbin']) {
    if (existsSync(`${dir}/${name}`)) return `${dir}/${name}`;
  }
  return null;
}
