import { spawn } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

import { LIBRARY_INDEX, WORKERS_DIR } from './paths.js';
import { killTree, lastJson, run, track } from './proc.js';
import type { Context, Sample, Skip, SyscallCount } from './types.js';

/** A way of sending a file over a loopback TCP connection. */
export interface SenderContender {
  id: string;
  label: string;
  kind: 'c' | 'node' | 'zerocopy';
  /** For 'c': a method of bench/peers/sender.c; otherwise one of bench/workers/send.ts. */
  method: string;
}

export interface TrialOutput {
  sample: Sample;
  detail?: string;
}

interface Sink {
  port: number;
  done: Promise<number>;
  kill(): void;
}

/** The C sink: a separate process that reads one connection to its end and says how many bytes it got. */
function startSink(sender: string): Promise<Sink> {
  return new Promise((resolve, reject) => {
    const child = spawn(sender, ['sink'], { stdio: ['ignore', 'pipe', 'pipe'] });
    track(child);
    const lines = createInterface({ input: child.stdout });
    let port = 0;
    let received = -1;
    const done = new Promise<number>((resolveDone) => {
      child.on('close', () => resolveDone(received));
    });
    lines.on('line', (line) => {
      const match = /^port (\d+)$/.exec(line);
      if (match) {
        port = Number(match[1]);
        resolve({ port, done, kill: () => killTree(child.pid) });
        return;
      }
      const json = lastJson(line);
      if (json && typeof json.bytes === 'number') received = json.bytes;
    });
    child.on('error', reject);
    child.on('close', (code) => {
      if (port === 0) reject(new Error(`sink exited (${code}) before listening`));
    });
  });
}

function commandFor(ctx: Context, contender: SenderContender, args: string[]): [string, string[]] {
  if (contender.kind === 'c') return [ctx.tools.sender!, ['send', contender.method, ...args]];
  return [process.execPath, [join(WORKERS_DIR, 'send.js'), contender.method, ...args, LIBRARY_INDEX]];
}

/**
 * One trial in fresh processes: a sink, and a sender that sends the first `size` bytes of
 * `file` `count` times over one connection. Fails unless the sink received every byte.
 */
export async function senderTrial(
  ctx: Context,
  contender: SenderContender,
  file: string,
  size: number,
  count: number,
  timeoutMs: number,
  wrap?: { command: string; args: string[] },
): Promise<TrialOutput> {
  const sink = await startSink(ctx.tools.sender!);
  try {
    const [command, args] = commandFor(ctx, contender, [String(sink.port), file, String(size), String(count)]);
    const result = wrap
      ? await run(wrap.command, [...wrap.args, command, ...args], { timeoutMs })
      : await run(command, args, { timeoutMs });
    if (result.timedOut) throw new Error(`timed out after ${timeoutMs / 1000} s`);
    const json = lastJson(result.stdout);
    if (result.code !== 0 || json === null) {
      throw new Error(`exit ${result.code ?? result.signal}: ${(result.stderr || result.stdout).trim().slice(-400)}`);
    }
    const received = await Promise.race([sink.done, new Promise<number>((r) => setTimeout(() => r(-2), 5000))]);
    if (received !== size * count) throw new Error(`sink received ${received} bytes, expected ${size * count}`);
    const num = (key: string) => (typeof json[key] === 'number' ? (json[key] as number) : Number.NaN);
    const bytes = num('bytes');
    const wallS = num('wallNs') / 1e9;
    const userS = num('userUs') / 1e6;
    const sysS = num('sysUs') / 1e6;
    const sample: Sample = {
      bytes,
      wallMs: wallS * 1000,
      gbps: bytes / wallS / 1e9,
      userS,
      sysS,
      cpuS: userS + sysS,
      cpuSPerGB: (userS + sysS) / (bytes / 1e9),
      voluntaryCtx: num('voluntaryCtx'),
      involuntaryCtx: num('involuntaryCtx'),
      ctxPerTransfer: (num('voluntaryCtx') + num('involuntaryCtx')) / count,
      transfersPerS: count / wallS,
      cpuUsPerTransfer: ((userS + sysS) * 1e6) / count,
    };
    const output: TrialOutput = { sample };
    if (typeof json.detail === 'string') output.detail = json.detail;
    return output;
  } finally {
    sink.kill();
  }
}

/** `strace -f -c` table -> calls per syscall name. */
export function parseStraceSummary(text: string): Map<string, number> {
  const counts = new Map<string, number>();
  for (const line of text.split('\n')) {
    const tokens = line.trim().split(/\s+/);
    if (tokens.length < 5 || !/^\d/.test(tokens[0]!)) continue;
    const name = tokens[tokens.length - 1]!;
    const calls = Number(tokens[3]);
    if (name !== 'total' && Number.isFinite(calls)) counts.set(name, calls);
  }
  return counts;
}

/**
 * System calls per transfer, from two runs under `strace -f -c`: one that sends `count`
 * transfers and one that sends none; the difference is the transfers' own calls.
 */
export async function countSyscalls(
  ctx: Context,
  contender: SenderContender,
  file: string,
  size: number,
  count: number,
  timeoutMs: number,
): Promise<SyscallCount> {
  const strace = ctx.tools.strace!;
  const tables: Map<string, number>[] = [];
  for (const n of [count, 0]) {
    const out = join(ctx.workDir, `strace-${contender.id}-${n}.txt`);
    await senderTrial(ctx, contender, file, size, n, timeoutMs, {
      command: strace,
      args: ['-f', '-c', '-o', out, '--'],
    });
    tables.push(parseStraceSummary(readFileSync(out, 'utf8')));
    rmSync(out, { force: true });
  }
  const [full, empty] = tables as [Map<string, number>, Map<string, number>];
  const per = new Map<string, number>();
  for (const [name, calls] of full) per.set(name, Math.max(0, calls - (empty.get(name) ?? 0)) / count);
  const top = [...per.entries()]
    .filter(([, n]) => n > 0)
    .sort((a, b) => b[1] - a[1])
    .slice(0, 5)
    .map(([name, perTransfer]) => ({ name, perTransfer }));
  return { perTransfer: [...per.values()].reduce((a, b) => a + b, 0), top };
}

/**
 * One discarded trial per contender (page cache, code caches, TCP autotuning). A contender
 * whose warm-up fails is reported in `skipped` with the reason and left out of the result.
 * `steps`: the progress lines one warm-up accounts for; `name`: how `skipped` names it.
 */
export async function warmUp<C extends { id: string; label: string }>(
  ctx: Context,
  contenders: readonly C[],
  skipped: Skip[],
  trial: (contender: C) => Promise<unknown>,
  options: { steps?: (contender: C) => string[]; name?: (contender: C) => string } = {},
): Promise<C[]> {
  const live: C[] = [];
  for (const contender of contenders) {
    for (const step of options.steps?.(contender) ?? [`warm-up ${contender.label}`]) ctx.progress.step(step);
    try {
      await trial(contender);
      live.push(contender);
    } catch (error) {
      skipped.push({
        contender: options.name?.(contender) ?? contender.label,
        reason: `failed: ${(error as Error).message}`,
      });
    }
  }
  return live;
}
