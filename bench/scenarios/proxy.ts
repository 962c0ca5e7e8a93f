// Scenario "proxy": bulk throughput, proxy CPU per GB and small-message latency through
// zerocopy proxy, HAProxy (splice forced, and off) and a Node socket.pipe() proxy, same run.
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { createConnection } from 'node:net';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const HERE = fileURLToPath(new URL('.', import.meta.url));
const WORKERS = join(HERE, '..', 'workers');
const CLI = join(HERE, '..', '..', 'src', 'cli', 'main.js');
const TICKS = 100; // USER_HZ

export interface ProxyContender {
  id: string;
  label: string;
  start(listen: number, upstream: number, dir: string): ChildProcess;
}

function haproxyConfig(listen: number, upstream: number, splice: boolean): string {
  return `global
  maxconn 4096
defaults
  mode tcp
  timeout connect 5s
  timeout client 120s
  timeout server 120s
${splice ? '  option splice-request\n  option splice-response\n' : ''}listen p
  bind 127.0.0.1:${listen}
  server s 127.0.0.1:${upstream}
`;
}

export const CONTENDERS: ProxyContender[] = [
  {
    id: 'zerocopy',
    label: 'zerocopy proxy (splice auto)',
    start: (listen, upstream) =>
      spawn(
        process.execPath,
        [CLI, 'proxy', '--listen', `127.0.0.1:${listen}`, '--to', `127.0.0.1:${upstream}`, '--log', 'off'],
        { stdio: 'ignore' },
      ),
  },
  {
    id: 'zerocopy-copy',
    label: 'zerocopy proxy (--splice never)',
    start: (listen, upstream) =>
      spawn(
        process.execPath,
        [
          CLI,
          'proxy',
          '--listen',
          `127.0.0.1:${listen}`,
          '--to',
          `127.0.0.1:${upstream}`,
          '--log',
          'off',
          '--splice',
          'never',
        ],
        { stdio: 'ignore' },
      ),
  },
  {
    id: 'haproxy-splice',
    label: 'HAProxy, splice forced',
    start: (listen, upstream, dir) => {
      const config = join(dir, `haproxy-splice-${listen}.cfg`);
      writeFileSync(config, haproxyConfig(listen, upstream, true));
      return spawn('haproxy', ['-db', '-f', config], { stdio: 'ignore' });
    },
  },
  {
    id: 'haproxy-copy',
    label: 'HAProxy, no splice',
    start: (listen, upstream, dir) => {
      const config = join(dir, `haproxy-copy-${listen}.cfg`);
      writeFileSync(config, haproxyConfig(listen, upstream, false));
      return spawn('haproxy', ['-db', '-f', config], { stdio: 'ignore' });
    },
  },
  {
    id: 'node-pipe',
    label: 'Node socket.pipe() proxy',
    start: (listen, upstream) =>
      spawn(process.execPath, [join(WORKERS, 'pipe-proxy.js'), String(listen), String(upstream)], { stdio: 'ignore' }),
  },
];

/** utime + stime of a process, in seconds. */
function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
  return (Number(fields[11]) + Number(fields[12])) / TICKS;
}

async function waitListening(port: number): Promise<void> {
  for (let tries = 0; tries < 200; tries++) {
    const ok = await new Promise<boolean>((resolve) => {
      const socket = createConnection({ port, host: '127.0.0.1' });
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (ok) return;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  throw new Error(`nothing listening on ${port}`);
}

let nextPort = 41000 + (process.pid % 1000) * 8;

/** One trial: returns the load worker's JSON plus the proxy's CPU seconds. */
export async function proxyTrial(
  contender: ProxyContender,
  dir: string,
  load: string[],
): Promise<Record<string, number>> {
  const upstream = nextPort++;
  const listen = nextPort++;
  const worker = spawn(
    process.execPath,
    [join(WORKERS, 'proxy-load.js'), load[0] as string, String(upstream), String(listen), ...load.slice(1)],
    {
      stdio: ['pipe', 'pipe', 'inherit'],
    },
  );
  const lines = createInterface({ input: worker.stdout as NodeJS.ReadableStream });
  const iterator = lines[Symbol.asyncIterator]();
  if ((await iterator.next()).value !== 'ready') throw new Error('load worker did not start');
  const proxy = contender.start(listen, upstream, dir);
  try {
    await waitListening(listen);
    // The probe connection above counts for nothing; CPU is taken around the measured run.
    await new Promise((resolve) => setTimeout(resolve, 100));
    const before = cpuSeconds(proxy.pid as number);
    worker.stdin?.write('go\n');
    const result = JSON.parse((await iterator.next()).value as string) as Record<string, number>;
    const cpu = cpuSeconds(proxy.pid as number) - before;
    return { ...result, proxyCpuSeconds: cpu };
  } finally {
    proxy.kill('SIGKILL');
    worker.kill('SIGKILL');
  }
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? Number.NaN;
}

/** Runs the scenario and prints a table; `npm run bench` registers it as 'proxy'. */
export async function runProxyScenario(options: { bytes: number; trials: number; dir: string }): Promise<string[]> {
  const out: string[] = [];
  const haveHaproxy = (() => {
    try {
      execFileSync('haproxy', ['-v'], { stdio: 'ignore' });
      return true;
    } catch {
      return false;
    }
  })();
  const contenders = CONTENDERS.filter((c) => haveHaproxy || !c.id.startsWith('haproxy'));
  if (!haveHaproxy) out.push('skipped HAProxy: not installed (apt-get install haproxy)');
  for (const contender of contenders) {
    const bulk: Array<Record<string, number>> = [];
    const rr: Array<Record<string, number>> = [];
    // Interleaving is not needed for ratios this coarse; each trial is a fresh process.
    for (let trial = 0; trial < options.trials; trial++) {
      bulk.push(await proxyTrial(contender, options.dir, ['bulk', String(options.bytes)]));
      rr.push(await proxyTrial(contender, options.dir, ['rr', '2000', '100']));
    }
    const gbps = median(bulk.map((r) => (r.bytes as number) / (r.seconds as number) / 1e9));
    const cpuPerGb = median(bulk.map((r) => (r.proxyCpuSeconds as number) / ((r.bytes as number) / 1e9)));
    const latency = median(rr.map((r) => r.medianUs as number));
    out.push(
      `${contender.label.padEnd(34)} bulk ${gbps.toFixed(2)} GB/s  proxy CPU ${cpuPerGb.toFixed(2)} s/GB  100-byte round trip median ${latency.toFixed(0)} us`,
    );
  }
  return out;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const bytes = Number(process.argv[2] ?? 2 * 1024 ** 3);
  const trials = Number(process.argv[3] ?? 3);
  const dir = (await import('node:fs')).mkdtempSync(join((await import('node:os')).tmpdir(), 'zerocopy-bench-proxy-'));
  for (const line of await runProxyScenario({ bytes, trials, dir })) process.stdout.write(`${line}\n`);
}
