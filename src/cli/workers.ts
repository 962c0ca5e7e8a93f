// The primary process of `--workers N`: keeps N workers running and shuts them down together,
// and decides how the kernel's connections reach them (--balance).
import cluster, { type Worker } from 'node:cluster';

/**
 * How connections are spread over the workers:
 * - 'rr': cluster's round-robin. The primary accepts every connection and passes it to the
 *   next worker over IPC: even spread, one extra hop (and primary CPU) per connection.
 * - 'shared': cluster's SCHED_NONE. Every worker accept()s on one shared listening socket;
 *   whoever the kernel wakes first wins, so busy workers can take most connections.
 * - 'reuseport': SO_REUSEPORT. Each worker listens on its own socket on the same port and the
 *   kernel picks one by a hash of the connection's addresses: no hop, spread even on average
 *   but blind to load, and connections still queued on a worker's socket when it exits are
 *   reset. Needs Node's listen({ reusePort }) (22.12+, 23.1+).
 */
export type Balance = 'rr' | 'shared' | 'reuseport';
export const BALANCES: readonly Balance[] = ['rr', 'shared', 'reuseport'];

/** The port reuseport workers listen on once the first of them has bound port 0. */
const PORT_ENV = 'ZEROCOPY_WORKER_PORT';

/** Whether net.Server.listen() takes { reusePort } here (Node 22.12+, 23.1+, 24+). */
export function reusePortSupported(version: string = process.versions.node): boolean {
  const [major = 0, minor = 0] = version.split('.').map(Number);
  return major >= 24 || (major === 23 && minor >= 1) || (major === 22 && minor >= 12);
}

/**
 * The balance to use: the one asked for, or the command's default, where this Node and the
 * address allow it. Where reuseport cannot be had, 'shared': like reuseport it spares the
 * primary's hop per connection (`npm run bench -- workers`: both serve 2.5x what 'rr' does
 * with a connection per request), and gives up only the even spread. Returns the reason to
 * print with it.
 */
export function resolveBalance(
  requested: Balance | undefined,
  fallback: Balance,
  unixSocket = false,
): { balance: Balance; note?: string } {
  const balance = requested ?? fallback;
  if (balance !== 'reuseport') return { balance };
  const why = unixSocket
    ? 'SO_REUSEPORT is for TCP ports, not Unix sockets'
    : reusePortSupported()
      ? undefined
      : `Node ${process.version} has no listen({ reusePort }) (22.12+)`;
  if (why === undefined) return { balance };
  // Only an explicit request deserves a warning; a default quietly takes the next best.
  return requested === undefined
    ? { balance: 'shared' }
    : { balance: 'shared', note: `--balance reuseport: ${why}; using shared` };
}

export function parseBalance(value: string | undefined): Balance | undefined {
  if (value === undefined) return undefined;
  if (!(BALANCES as readonly string[]).includes(value))
    throw new Error(`--balance must be one of ${BALANCES.join(', ')}, not '${value}'`);
  return value as Balance;
}

/** Listen options of a worker (or a single process): the port the primary settled on, and reusePort. */
export function workerListen(port: number, balance: Balance): { port: number; reusePort?: true } {
  const settled = cluster.isWorker ? process.env[PORT_ENV] : undefined;
  const chosen = settled === undefined || settled === '' ? port : Number(settled);
  return balance === 'reuseport' && cluster.isWorker ? { port: chosen, reusePort: true } : { port: chosen };
}

/** Tells the primary where this worker listens: a reuseport listener is the worker's own, so cluster does not. */
export function announceListening(address: { address: string; port: number; family: string }): void {
  if (cluster.isWorker) process.send?.({ zerocopy: 'listening', address } satisfies ListeningMessage);
}

type ListeningMessage = { zerocopy: 'listening'; address: { address: string; port: number; family: string } };

export interface SuperviseOptions {
  balance: Balance;
  /** The port asked for: with 'reuseport' and 0, the first worker picks one and the others join it. */
  port?: number;
  onWorkerExit?: (worker: Worker) => void;
  /** Once, when the first worker listens. */
  onListening?: (address: { address: string | undefined; port: number; addressType: number | string }) => void;
}

/**
 * Forks `count` workers and replaces one that dies (the others keep serving meanwhile). On
 * SIGTERM or SIGINT it passes the signal on, exits once every worker has, and exits anyway
 * when the workers' own shutdown deadline has passed.
 */
export function superviseWorkers(
  command: string,
  count: number,
  shutdownTimeoutMs: number,
  options: SuperviseOptions = { balance: 'rr' },
): void {
  // The policy is the primary's: it decides whether it accepts (rr) or hands out the socket.
  cluster.schedulingPolicy = options.balance === 'rr' ? cluster.SCHED_RR : cluster.SCHED_NONE;
  const env: Record<string, string> = {};
  const waitForPort = options.balance === 'reuseport' && (options.port ?? 0) === 0;
  let announced = false;
  let forked = 0;
  const forkRest = () => {
    for (; forked < count; forked++) cluster.fork(env);
  };
  const listening = (address: { address: string | undefined; port: number; addressType: number | string }) => {
    if (announced) return;
    announced = true;
    if (waitForPort) {
      env[PORT_ENV] = String(address.port);
      forkRest();
    }
    options.onListening?.(address);
  };
  cluster.on('listening', (_worker, address) => listening(address));
  cluster.on('message', (_worker, message: ListeningMessage) => {
    if (message?.zerocopy !== 'listening') return;
    const { address, port, family } = message.address;
    listening({ address, port, addressType: family === 'IPv6' ? 6 : 4 });
  });

  let stopping = false;
  cluster.on('exit', (worker, code, signal) => {
    options.onWorkerExit?.(worker);
    if (stopping) {
      if (Object.keys(cluster.workers ?? {}).length === 0) process.exit(0);
      return;
    }
    process.stderr.write(
      `zerocopy ${command}: worker ${worker.process.pid} exited (${signal ?? code}), starting another\n`,
    );
    // The first reuseport worker died before it listened: the next one picks the port.
    cluster.fork(env);
  });
  const stop = () => {
    if (stopping) return;
    stopping = true;
    for (const worker of Object.values(cluster.workers ?? {})) worker?.process.kill('SIGTERM');
    setTimeout(() => process.exit(0), shutdownTimeoutMs + 2000).unref();
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  if (waitForPort) {
    forked = 1;
    cluster.fork(env);
  } else {
    forkRest();
  }
}
