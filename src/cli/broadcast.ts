// zerocopy broadcast: one live stream (stdin, a TCP source, a FIFO, a growing file) to every
// HTTP client that GETs it. Each body is close-delimited (RFC 9112 §6.3: no chunk framing),
// so the stream's pages go from the source pipe to each client's socket without a copy.
import { existsSync, statSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { connect, type Socket } from 'node:net';
import { parseArgs } from 'node:util';

import { DEFAULT_LAG_LIMIT, type Fanout, fanout } from '../fanout/index.js';
import type { DestinationReport, FanoutSource, LagPolicy } from '../fanout/types.js';
import { parseAddress } from '../proxy/server.js';
import { type AccessRecord, formatAccessLog, type LogFormat } from './access-log.js';

export const BROADCAST_USAGE = `Usage: zerocopy broadcast --from SOURCE --listen HOST:PORT [options]

Serves one live stream to every HTTP client that GETs it. A client that connects late starts
at the live position. Bodies are close-delimited (no chunked framing): the bytes stay in the
kernel, shared between clients (tee(2)), and each body ends when the stream does.

Sources:
  -                      standard input
  tcp:HOST:PORT          connect there and read what it sends (HOST:PORT too, when no file
                         has that name)
  PATH                   a FIFO, or a regular file followed as it grows (from its current end;
                         --from-start for the whole file)

Options:
  --listen HOST:PORT     where to listen (default 127.0.0.1:8080; port 0 picks one)
  --path PATH            the stream's URL path (default /: every path but the status page)
  --content-type TYPE    Content-Type of the stream (default application/octet-stream), e.g.
                         video/mp2t, audio/mpeg, text/plain; charset=utf-8
  --policy drop|wait     a client that falls behind: dropped (default), or the stream waits for it
  --lag-limit BYTES      how far a client may fall behind (default ${DEFAULT_LAG_LIMIT})
  --from-start           a file source: start at its beginning, not at its current end
  --log off|dev|combined|json   access log on stdout, one line per client at its end (default dev)
  --status PATH          JSON counters at PATH (default /_zerocopy/status); --no-status to turn off
  -h, --help             this help
`;

interface BroadcastConfig {
  from: string;
  host: string;
  port: number;
  path: string | undefined;
  contentType: string;
  policy: LagPolicy;
  lagLimit: number;
  fromStart: boolean;
  log: LogFormat;
  statusPath: string | undefined;
}

function parseBroadcastArgs(args: string[]): BroadcastConfig | undefined {
  const { values } = parseArgs({
    args,
    options: {
      from: { type: 'string' },
      listen: { type: 'string' },
      path: { type: 'string' },
      'content-type': { type: 'string' },
      policy: { type: 'string' },
      'lag-limit': { type: 'string' },
      'from-start': { type: 'boolean' },
      log: { type: 'string' },
      status: { type: 'string' },
      'no-status': { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  if (values.help === true) return undefined;
  if (values.from === undefined) throw new Error('--from SOURCE is required (zerocopy broadcast --help)');
  const listen = parseAddress(values.listen ?? '127.0.0.1:8080');
  if (!('port' in listen)) throw new Error('--listen must be HOST:PORT');
  const policy = values.policy ?? 'drop';
  if (policy !== 'drop' && policy !== 'wait') throw new Error(`--policy must be drop or wait, not '${policy}'`);
  const lagLimit = values['lag-limit'] === undefined ? DEFAULT_LAG_LIMIT : Number(values['lag-limit']);
  if (!Number.isSafeInteger(lagLimit) || lagLimit < 1) throw new Error('--lag-limit must be a positive integer');
  const log = values.log ?? 'dev';
  if (!['off', 'dev', 'combined', 'json'].includes(log)) throw new Error('--log must be off, dev, combined or json');
  const statusPath = values['no-status'] === true ? undefined : (values.status ?? '/_zerocopy/status');
  if (statusPath !== undefined && !statusPath.startsWith('/')) throw new Error('--status must start with /');
  if (values.path !== undefined && !values.path.startsWith('/')) throw new Error('--path must start with /');
  const contentType = values['content-type'] ?? 'application/octet-stream';
  // A header value may not hold control characters (a CR/LF would split the response).
  if ([...contentType].some((c) => c.charCodeAt(0) < 0x20 || c.charCodeAt(0) === 0x7f))
    throw new Error('--content-type has a control character');
  return {
    from: values.from,
    host: listen.host,
    port: listen.port,
    path: values.path,
    contentType,
    policy,
    lagLimit,
    fromStart: values['from-start'] === true,
    log: log as LogFormat,
    statusPath,
  };
}

/** The source, opened: what fanout() reads, and how. */
async function openSource(
  from: string,
  fromStart: boolean,
): Promise<{ source: FanoutSource; follow: boolean; offset?: number }> {
  if (from === '-') return { source: 0, follow: false };
  // tcp:HOST:PORT, or HOST:PORT where no such file exists.
  const tcp = from.startsWith('tcp:')
    ? from.slice('tcp:'.length)
    : /^[^/]*:\d+$/.test(from) && !existsSync(from)
      ? from
      : undefined;
  if (tcp !== undefined) {
    const address = parseAddress(tcp);
    if (!('port' in address)) throw new Error('--from tcp: needs HOST:PORT');
    const socket = connect(address.port, address.host);
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    return { source: socket, follow: false };
  }
  const stats = statSync(from);
  if (stats.isFIFO()) {
    // Opened for reading, a FIFO waits for a writer (on the thread pool, not the event
    // loop); until one comes, reading it would only say "end of stream".
    return { source: await open(from, 'r'), follow: false };
  }
  if (stats.isFile()) return { source: from, follow: true, offset: fromStart ? 0 : stats.size };
  throw new Error(`--from ${from}: not standard input, tcp:HOST:PORT, a FIFO or a regular file`);
}

interface Counters {
  since: string;
  /** Clients receiving the stream now (or waiting for the source to open). */
  clientsNow: number;
  clients: number;
  requests: number;
  byStatus: Record<string, number>;
  /** Bytes read from the source. */
  sourceBytes: number;
  /** Body bytes sent, per method ('splice', 'copy'). */
  bytesByMethod: Record<string, number>;
  /** How client streams ended: finished, closed, dropped, failed, ... */
  outcomes: Record<string, number>;
  fallbacks: Record<string, number>;
}

const bump = (table: Record<string, number>, key: string, by = 1) => {
  table[key] = (table[key] ?? 0) + by;
};

export async function broadcast(args: string[]): Promise<number> {
  const config = parseBroadcastArgs(args);
  if (config === undefined) {
    process.stdout.write(BROADCAST_USAGE);
    return 0;
  }
  const counters: Counters = {
    since: new Date().toISOString(),
    clientsNow: 0,
    clients: 0,
    requests: 0,
    byStatus: {},
    sourceBytes: 0,
    bytesByMethod: {},
    outcomes: {},
    fallbacks: {},
  };
  // Clients may connect before the source has anything (a FIFO with no writer yet): the
  // server listens first, and they join once the source is open.
  let running: Fanout | undefined;
  const opened = (async () => {
    const { source, follow, offset } = await openSource(config.from, config.fromStart);
    running = fanout(source, [], {
      policy: config.policy,
      lagLimit: config.lagLimit,
      ...(follow ? { follow: true, offset: offset ?? 0 } : {}),
    });
    return { running, source };
  })();

  const log = (record: AccessRecord) => {
    const line = formatAccessLog(config.log, record);
    if (line !== undefined) process.stdout.write(`${line}\n`);
  };
  const recordOf = (req: IncomingMessage, status: number, started: number): AccessRecord => ({
    remote: req.socket.remoteAddress,
    method: req.method,
    url: req.url,
    httpVersion: req.httpVersion,
    referer: req.headers.referer,
    userAgent: req.headers['user-agent'],
    status,
    bytes: 0,
    durationMs: performance.now() - started,
    transfer: 'none',
  });
  const answer = (
    req: IncomingMessage,
    res: ServerResponse,
    status: number,
    headers: Record<string, string>,
    body: string,
  ) => {
    const started = performance.now();
    counters.requests++;
    bump(counters.byStatus, String(status));
    res.writeHead(status, { 'Content-Length': String(Buffer.byteLength(body)), ...headers });
    res.end(req.method === 'HEAD' ? undefined : body);
    log(recordOf(req, status, started));
  };

  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (config.statusPath !== undefined && path === config.statusPath) {
      const snapshot = { ...counters, sourceBytes: running?.position ?? 0 };
      answer(
        req,
        res,
        200,
        { 'Content-Type': 'application/json', 'Cache-Control': 'no-store' },
        `${JSON.stringify(snapshot)}\n`,
      );
      return;
    }
    if (config.path !== undefined && path !== config.path) {
      answer(req, res, 404, { 'Content-Type': 'text/plain' }, 'Not Found\n');
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      answer(req, res, 405, { Allow: 'GET, HEAD', 'Content-Type': 'text/plain' }, 'Method Not Allowed\n');
      return;
    }
    const headers = {
      'Content-Type': config.contentType,
      'Cache-Control': 'no-cache, no-store',
      // The body ends when the connection closes (RFC 9112 §6.3): no length, no chunks.
      Connection: 'close',
    };
    if (req.method === 'HEAD') {
      answer(req, res, 200, headers, '');
      return;
    }
    void stream(req, res, headers);
  });

  const stream = async (req: IncomingMessage, res: ServerResponse, headers: Record<string, string>) => {
    const started = performance.now();
    counters.requests++;
    counters.clients++;
    counters.clientsNow++;
    bump(counters.byStatus, '200');
    // Without this, Node frames a body of unknown length with chunks.
    res.useChunkedEncodingByDefault = false;
    res.writeHead(200, headers);
    res.flushHeaders();
    const socket = req.socket as Socket;
    let report: DestinationReport;
    try {
      const member = await (await opened).running.add(socket);
      report = await member.finished;
    } catch (error) {
      counters.clientsNow--;
      res.destroy();
      const record = recordOf(req, 200, started);
      record.error = (error as NodeJS.ErrnoException).code ?? 'error';
      log(record);
      return;
    }
    counters.clientsNow--;
    bump(counters.bytesByMethod, report.method, report.bytes);
    bump(counters.outcomes, report.outcome);
    if (report.fallback !== undefined) bump(counters.fallbacks, report.fallback.reason);
    // The stream ended: so does the body, by closing the connection.
    if (report.outcome === 'finished') socket.end();
    else socket.destroy();
    const record = recordOf(req, 200, started);
    record.bytes = report.bytes;
    record.transfer = report.method;
    if (report.fallback !== undefined) record.fallback = report.fallback.reason;
    if (report.outcome !== 'finished') record.error = report.outcome === 'dropped' ? 'dropped (lag)' : report.outcome;
    log(record);
  };

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.port, config.host, () => resolve());
  });
  const address = server.address();
  if (address !== null && typeof address !== 'string') {
    const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
    process.stdout.write(`zerocopy broadcast: ${config.from} at http://${host}:${address.port}${config.path ?? '/'}\n`);
  }
  let stopped = false;
  const stop = () => {
    stopped = true;
    running?.end();
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  let status = 0;
  try {
    const { running: fan, source } = await opened;
    if (stopped) fan.end();
    await fan;
    if (typeof source === 'object' && 'close' in source && typeof source.close === 'function')
      await (source as { close(): Promise<void> }).close();
  } catch (error) {
    process.stderr.write(`zerocopy broadcast: the source failed: ${(error as Error).message}\n`);
    status = 1;
  }
  process.off('SIGINT', stop);
  process.off('SIGTERM', stop);
  // Clients got the end of the stream; new ones are refused, and idle keep-alive ones let go.
  server.close();
  server.closeIdleConnections();
  return status;
}
