// zerocopy proxy: a TCP / Unix-socket proxy that splices bulk traffic, with one log line per
// connection, counters, several workers and a graceful shutdown.
import cluster from 'node:cluster';
import type { AddressInfo } from 'node:net';
import { parseArgs } from 'node:util';

import {
  type ConnectionRecord,
  createProxy,
  describeAddress,
  type ProxyAddress,
  type ProxyCounters,
  parseAddress,
} from '../proxy/server.js';
import {
  announceListening,
  type Balance,
  parseBalance,
  resolveBalance,
  superviseWorkers,
  workerListen,
} from './workers.js';

/** Few, long connections: the primary's hop is paid once per connection and the count stays even. */
const PROXY_BALANCE: Balance = 'rr';

function balanceOf(config: ProxyConfig): ReturnType<typeof resolveBalance> {
  return resolveBalance(config.balance, PROXY_BALANCE, 'path' in config.listen);
}

export const PROXY_USAGE = `Usage: zerocopy proxy --listen ADDR --to ADDR [options]

Accepts connections on --listen and joins each to a new connection to --to; bulk traffic
is spliced in the kernel through a pipe of each connection's own, small exchanges are
copied by a native relay. ADDR is host:port, a port (127.0.0.1), or unix:/path.

Options:
  --workers N            processes sharing the listening socket (default 1)
  --balance rr|shared|reuseport  how workers share connections: rr (default): the primary
                         hands each connection round, an even count of long connections per
                         worker; reuseport: a socket per worker (Node 22.12+); shared: one socket
  --max-connections N    per worker; more are closed on arrival (default 10000)
  --idle-timeout MS      close connections idle this long both ways (default 300000; 0 = never)
  --connect-timeout MS   give up on the upstream after this long (default 10000)
  --splice auto|always|never   auto (default): splice once reads keep filling the buffer
  --log line|json|off    one record per connection on stdout (default line)
  --shutdown-timeout MS  on SIGTERM/SIGINT, how long open connections may take (default 10000)
`;

interface ProxyConfig {
  listen: ProxyAddress;
  to: ProxyAddress;
  workers: number;
  balance: Balance | undefined;
  maxConnections: number;
  idleTimeoutMs: number;
  connectTimeoutMs: number;
  splice: 'auto' | 'always' | 'never';
  log: 'line' | 'json' | 'off';
  shutdownTimeoutMs: number;
}

function integer(value: string | undefined, name: string, fallback: number, min: number): number {
  if (value === undefined) return fallback;
  const parsed = Number(value);
  if (!Number.isInteger(parsed) || parsed < min)
    throw new Error(`--${name} must be an integer >= ${min}, not '${value}'`);
  return parsed;
}

function parseProxyArgs(args: string[]): ProxyConfig {
  const { values } = parseArgs({
    args,
    strict: true,
    options: {
      listen: { type: 'string' },
      to: { type: 'string' },
      workers: { type: 'string' },
      balance: { type: 'string' },
      'max-connections': { type: 'string' },
      'idle-timeout': { type: 'string' },
      'connect-timeout': { type: 'string' },
      splice: { type: 'string', default: 'auto' },
      log: { type: 'string', default: 'line' },
      'shutdown-timeout': { type: 'string' },
    },
  });
  if (values.listen === undefined || values.to === undefined)
    throw new Error(`--listen and --to are required\n\n${PROXY_USAGE}`);
  const splice = values.splice as string;
  if (!['auto', 'always', 'never'].includes(splice)) throw new Error('--splice must be auto, always or never');
  const log = values.log as string;
  if (!['line', 'json', 'off'].includes(log)) throw new Error('--log must be line, json or off');
  return {
    listen: parseAddress(values.listen),
    to: parseAddress(values.to),
    workers: integer(values.workers, 'workers', 1, 1),
    balance: parseBalance(values.balance),
    maxConnections: integer(values['max-connections'], 'max-connections', 10_000, 1),
    idleTimeoutMs: integer(values['idle-timeout'], 'idle-timeout', 300_000, 0),
    connectTimeoutMs: integer(values['connect-timeout'], 'connect-timeout', 10_000, 1),
    splice: splice as ProxyConfig['splice'],
    log: log as ProxyConfig['log'],
    shutdownTimeoutMs: integer(values['shutdown-timeout'], 'shutdown-timeout', 10_000, 0),
  };
}

function formatRecord(record: ConnectionRecord): string {
  const copiedBy = record.up.copiedBy ?? record.down.copiedBy;
  const how =
    record.method === 'splice'
      ? 'splice'
      : `${copiedBy === undefined ? '' : `${copiedBy} `}copy (${record.reason ?? 'no bytes'})`;
  const error = record.error === undefined ? '' : ` error="${record.error}"`;
  return `#${record.id} ${record.client} up=${record.up.bytes} down=${record.down.bytes} ${record.durationMs.toFixed(1)}ms ${how} ${record.outcome}${error}\n`;
}

function formatCounters(counters: ProxyCounters): string {
  return Object.entries(counters)
    .map(([name, value]) => `${name}=${value}`)
    .join(' ');
}

function runWorker(config: ProxyConfig): void {
  const proxy = createProxy({
    to: config.to,
    maxConnections: config.maxConnections,
    idleTimeoutMs: config.idleTimeoutMs,
    connectTimeoutMs: config.connectTimeoutMs,
    splice: config.splice,
    onConnection: (record) => {
      if (config.log === 'line') process.stdout.write(formatRecord(record));
      else if (config.log === 'json') process.stdout.write(`${JSON.stringify(record)}\n`);
    },
  });
  const listen =
    'path' in config.listen
      ? { address: config.listen, reusePort: false }
      : (() => {
          const { port, reusePort } = workerListen(config.listen.port, balanceOf(config).balance);
          return { address: { ...config.listen, port }, reusePort: reusePort === true };
        })();
  proxy
    .listen(listen.address, listen.reusePort)
    .then((address) => {
      if (cluster.isWorker) {
        if (typeof address !== 'string') announceListening(address);
        return;
      }
      const shown =
        typeof address === 'string'
          ? `unix:${address}`
          : describeAddress({ host: address.address, port: (address as AddressInfo).port });
      process.stdout.write(
        `zerocopy proxy: listening on ${shown} -> ${describeAddress(config.to)} (pid ${process.pid})\n`,
      );
    })
    .catch((error: Error) => {
      process.stderr.write(`zerocopy proxy: ${error.message}\n`);
      process.exit(1);
    });
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    process.stderr.write(
      `zerocopy proxy: ${signal}, closing (${proxy.counters.active} open, up to ${config.shutdownTimeoutMs} ms)\n`,
    );
    void proxy.close(config.shutdownTimeoutMs).then(() => {
      process.stdout.write(`zerocopy proxy: counters ${formatCounters(proxy.counters)}\n`);
      process.exit(0);
    });
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

function runPrimary(config: ProxyConfig): void {
  const { balance, note } = balanceOf(config);
  if (note !== undefined) process.stderr.write(`zerocopy proxy: ${note}\n`);
  superviseWorkers('proxy', config.workers, config.shutdownTimeoutMs, {
    balance,
    port: 'path' in config.listen ? 0 : config.listen.port,
    onListening: (address) => {
      const shown =
        address.addressType === -1
          ? `unix:${String(address.address)}`
          : describeAddress({ host: address.address ?? '127.0.0.1', port: address.port });
      process.stdout.write(
        `zerocopy proxy: listening on ${shown} -> ${describeAddress(config.to)} (${config.workers} workers, ${balance}, pid ${process.pid})\n`,
      );
    },
  });
}

/** `zerocopy proxy`; returns the exit code for argument errors, otherwise runs until a signal. */
export function proxy(args: string[]): number {
  if (args.includes('-h') || args.includes('--help')) {
    process.stdout.write(PROXY_USAGE);
    return 0;
  }
  const config = parseProxyArgs(args);
  if (cluster.isPrimary && config.workers > 1) runPrimary(config);
  else runWorker(config);
  return 0;
}
