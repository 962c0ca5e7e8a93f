// Raw HTTP/1.1 over node:net: what the server put on the wire, byte for byte, so that
// framing bugs (a body too long or too short for its Content-Length) cannot hide.
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { closeSync, fdatasyncSync, mkdirSync, openSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import type { TestContext } from 'node:test';

import type { FrontStats } from '../../src/binding/native.js';
import { fadvise } from '../../src/index.js';
import { COLLECTED_MARKER } from '../support/collect-on-signal.js';
import { reportServerLeaks } from '../support/file-handle-leaks.js';
import { cliEntry, tempDir } from '../support/fixtures.js';

export interface RawResponse {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
}

/** Starts a node:http server on 127.0.0.1:0; closed (with every connection) when the test ends. */
export async function listen(
  t: TestContext,
  handler: (req: IncomingMessage, res: ServerResponse) => void,
): Promise<{ server: Server; port: number }> {
  const server = createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => {
    server.closeAllConnections();
    server.close();
  });
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no TCP address');
  return { server, port: address.port };
}

const READ_TIMEOUT_MS = 5000;

/** One keep-alive connection: send a request, read exactly one response, repeat. */
export class RawClient {
  readonly socket: Socket;
  #buffer: Buffer = Buffer.alloc(0);
  // Chunks not yet joined into #buffer: joining on every chunk would be quadratic for big bodies.
  #pending: Buffer[] = [];
  #pendingLength = 0;
  #ended = false;
  #waiters: Array<() => void> = [];
  readonly closed: Promise<void>;

  constructor(port: number) {
    this.socket = connect(port, '127.0.0.1');
    this.socket.on('data', (chunk: Buffer) => {
      this.#pending.push(chunk);
      this.#pendingLength += chunk.length;
      this.#wake();
    });
    this.closed = new Promise((resolve) => {
      this.socket.on('close', () => {
        this.#ended = true;
        this.#wake();
        resolve();
      });
    });
    this.socket.on('error', () => undefined);
  }

  static async open(t: TestContext, port: number): Promise<RawClient> {
    const client = new RawClient(port);
    t.after(() => client.socket.destroy());
    await new Promise<void>((resolve, reject) => {
      client.socket.once('connect', resolve);
      client.socket.once('error', reject);
    });
    return client;
  }

  /** Everything received and not yet consumed, joined. */
  get #joined(): Buffer {
    if (this.#pending.length > 0) {
      this.#buffer = Buffer.concat([this.#buffer, ...this.#pending]);
      this.#pending = [];
      this.#pendingLength = 0;
    }
    return this.#buffer;
  }

  get #available(): number {
    return this.#buffer.length + this.#pendingLength;
  }

  #wake() {
    for (const waiter of this.#waiters.splice(0)) waiter();
  }

  /** Waits until `ready()` holds or the connection ends; fails after a timeout. */
  async #until(ready: () => boolean): Promise<void> {
    const deadline = Date.now() + READ_TIMEOUT_MS;
    while (!ready()) {
      if (this.#ended) throw new Error(`connection closed with ${this.#available} unparsed bytes`);
      const remaining = deadline - Date.now();
      if (remaining <= 0) {
        // How far it got tells a server that never answered from one that stalled mid-body.
        throw new Error(`timed out waiting for the response (${this.#available} unparsed bytes received)`);
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, remaining);
        this.#waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  send(text: string): void {
    this.socket.write(text);
  }

  /** GET/HEAD request text with keep-alive. */
  static request(method: string, target: string, headers: Record<string, string> = {}): string {
    const lines = [`${method} ${target} HTTP/1.1`, 'Host: 127.0.0.1'];
    for (const [name, value] of Object.entries(headers)) lines.push(`${name}: ${value}`);
    return `${lines.join('\r\n')}\r\n\r\n`;
  }

  /** Sends a request and reads its response; the request method decides whether a body follows. */
  async exchange(method: string, target: string, headers: Record<string, string> = {}): Promise<RawResponse> {
    this.send(RawClient.request(method, target, headers));
    return this.readResponse(method === 'HEAD');
  }

  /** Waits until a response head has arrived (it stays unread). */
  async headArrived(): Promise<void> {
    await this.#until(() => this.#joined.indexOf('\r\n\r\n') !== -1);
  }

  /** The next response, or null when the server closes the connection before one begins. */
  async nextResponse(noBody: boolean): Promise<RawResponse | null> {
    await this.#until(() => this.#available > 0 || this.#ended);
    return this.#available === 0 ? null : this.readResponse(noBody);
  }

  async readResponse(noBody: boolean): Promise<RawResponse> {
    await this.#until(() => this.#joined.indexOf('\r\n\r\n') !== -1);
    const headEnd = this.#joined.indexOf('\r\n\r\n');
    const head = this.#buffer.subarray(0, headEnd).toString('latin1');
    this.#buffer = this.#buffer.subarray(headEnd + 4);
    const [statusLine = '', ...fieldLines] = head.split('\r\n');
    const status = Number(statusLine.split(' ')[1]);
    const headers: Record<string, string> = {};
    for (const line of fieldLines) {
      const colon = line.indexOf(':');
      const name = line.slice(0, colon).trim().toLowerCase();
      const value = line.slice(colon + 1).trim();
      headers[name] = headers[name] === undefined ? value : `${headers[name]}, ${value}`;
    }
    let body: Buffer = Buffer.alloc(0);
    if (!noBody && status !== 304 && status !== 204) {
      if (headers['content-length'] !== undefined) {
        const length = Number(headers['content-length']);
        await this.#until(() => this.#available >= length);
        body = this.#joined.subarray(0, length);
        this.#buffer = this.#buffer.subarray(length);
      } else if (headers['transfer-encoding']?.includes('chunked')) {
        const chunks: Buffer[] = [];
        for (;;) {
          await this.#until(() => this.#joined.indexOf('\r\n') !== -1);
          const lineEnd = this.#joined.indexOf('\r\n');
          const size = Number.parseInt(this.#buffer.subarray(0, lineEnd).toString(), 16);
          await this.#until(() => this.#available >= lineEnd + 2 + size + 2);
          const joined: Buffer = this.#joined;
          this.#buffer = joined;
          chunks.push(this.#buffer.subarray(lineEnd + 2, lineEnd + 2 + size));
          this.#buffer = this.#buffer.subarray(lineEnd + 2 + size + 2);
          if (size === 0) break;
        }
        body = Buffer.concat(chunks);
      } else {
        await this.#until(() => this.#ended);
        body = this.#joined;
        this.#buffer = Buffer.alloc(0);
      }
    }
    return { status, headers, body: Buffer.from(body) };
  }

  /**
   * Waits for the connection to end; of what arrived and no read took, its length and the
   * status lines in it (a response cut short must never be followed by another).
   */
  async untilClosed(): Promise<{ bytes: number; statusLines: number }> {
    await this.closed;
    const rest = this.#joined;
    return { bytes: rest.length, statusLines: rest.toString('latin1').split('HTTP/1.1 ').length - 1 };
  }

  /** Bytes received beyond the responses read so far: must be none on a well-framed connection. */
  async leftover(waitMs = 50): Promise<number> {
    await new Promise((resolve) => setTimeout(resolve, waitMs));
    return this.#available;
  }

  get ended(): boolean {
    return this.#ended;
  }
}

/** One request on a fresh connection. */
export async function rawRequest(
  t: TestContext,
  port: number,
  method: string,
  target: string,
  headers: Record<string, string> = {},
): Promise<RawResponse> {
  const client = await RawClient.open(t, port);
  const response = await client.exchange(method, target, headers);
  client.socket.destroy();
  return response;
}

/** Writes the file back, then drops it from the page cache: the next read waits for the disk. */
export function dropFromPageCache(path: string): void {
  const fd = openSync(path, 'r');
  try {
    fdatasyncSync(fd);
    fadvise(fd, 'dontneed');
  } finally {
    closeSync(fd);
  }
}

/** `zerocopy serve`'s status page: what its native front counted (`enabled: false` without one). */
export type NativeFrontStatus = { enabled: boolean } & FrontStats;

export async function nativeFrontStats(t: TestContext, port: number): Promise<NativeFrontStatus> {
  const status = await rawRequest(t, port, 'GET', '/_zerocopy/status');
  return (JSON.parse(status.body.toString()) as { nativeFront: NativeFrontStatus }).nativeFront;
}

/**
 * A site with awkward names (send's test fixtures inspired these), a sibling directory whose
 * name starts with the root's, symlinks in and out, dotfiles, a FIFO.
 */
export function makeSite(t: TestContext) {
  const base = tempDir(t, 'zerocopy-http-');
  const root = join(base, 'www');
  mkdirSync(join(root, 'sub'), { recursive: true });
  mkdirSync(join(root, 'noindex'));
  mkdirSync(join(root, '.hidden'));
  mkdirSync(join(root, 'snow ☃'));
  mkdirSync(join(base, 'www-private'));
  writeFileSync(join(base, 'www-private', 'secret.txt'), 'sibling secret\n');
  writeFileSync(join(base, 'outside.txt'), 'outside secret\n');
  const files: Record<string, string | Buffer> = {
    'index.html': '<h1>home</h1>\n',
    'hello.txt': 'hello, world\n',
    'empty.txt': '',
    'some thing.txt': 'spaces\n',
    'do..ts.txt': 'dots\n',
    'snow ☃/flake.txt': 'unicode\n',
    'sub/index.html': '<h1>sub</h1>\n',
    'sub/page.txt': 'page\n',
    'noindex/a.txt': 'a\n',
    'about.html': '<h1>about</h1>\n',
    '.secret': 'dotfile secret\n',
    '.hidden/file.txt': 'hidden dir\n',
    'digits.txt': '0123456789'.repeat(100),
    'style.css': 'body { color: red }\n',
    'style.css.gz': 'GZIP-BYTES',
    'style.css.br': 'BROTLI-BYTES',
  };
  for (const [name, content] of Object.entries(files)) writeFileSync(join(root, name), content);
  symlinkSync(join(base, 'outside.txt'), join(root, 'link-out.txt'));
  symlinkSync(join(base, 'www-private'), join(root, 'dirlink-out'));
  symlinkSync('hello.txt', join(root, 'link-in.txt'));
  let fifo = false;
  try {
    execFileSync('mkfifo', [join(root, 'fifo')]);
    fifo = true;
  } catch {
    // no mkfifo: the FIFO case is skipped
  }
  return { base, root, files, fifo };
}

/** Where a `zerocopy serve` child is cleaned up: a test's context, or a suite's after(). */
export interface Cleanup {
  after(fn: () => void): void;
}

/** Node flags of the servers tests spawn: they can be told to collect garbage (see collectGarbage()). */
export const SERVER_NODE_FLAGS = [
  '--expose-gc',
  '--import',
  new URL('../support/collect-on-signal.js', import.meta.url).href,
];

/**
 * `zerocopy serve ARGS` as a child process, once it printed its URL; killed when the test or
 * suite ends, and then a DEP0137 warning on its stderr (a FileHandle closed by the garbage
 * collector) fails the run.
 */
/**
 * The native front's engine the front tests run against: epoll unless ZEROCOPY_TEST_FRONT_ENGINE
 * says io_uring (test/http/front-engines.test.ts runs them again so).
 */
export const FRONT_ENGINE_UNDER_TEST: 'epoll' | 'io_uring' =
  process.env.ZEROCOPY_TEST_FRONT_ENGINE === 'io_uring' ? 'io_uring' : 'epoll';

export async function startServe(cleanup: Cleanup, args: string[]) {
  const engine = FRONT_ENGINE_UNDER_TEST === 'epoll' ? [] : ['--engine', FRONT_ENGINE_UNDER_TEST];
  const child: ChildProcess = spawn(process.execPath, [...SERVER_NODE_FLAGS, cliEntry, 'serve', ...engine, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    stdout += chunk.toString();
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  cleanup.after(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    reportServerLeaks(`zerocopy serve ${args.join(' ')}`, stderr);
  });
  const deadline = Date.now() + 10_000;
  let port: number | undefined;
  while (port === undefined) {
    const match = /http:\/\/127\.0\.0\.1:(\d+)\//.exec(stdout);
    if (match) port = Number(match[1]);
    else if (Date.now() > deadline || child.exitCode !== null)
      throw new Error(`serve did not start: ${stdout}${stderr}`);
    else await new Promise((resolve) => setTimeout(resolve, 20));
  }
  /** Collects the server's garbage: see collectGarbageIn(). */
  const collectGarbage = () => collectGarbageIn(child, () => stderr);
  return { child, port, exited, output: () => stdout, errors: () => stderr, collectGarbage };
}

/**
 * Makes a process started with SERVER_NODE_FLAGS collect its garbage, and waits until it has:
 * a FileHandle left unclosed since the previous collection is then on its stderr as DEP0137.
 * Resolves to what it wrote on stderr since the previous collection.
 */
export async function collectGarbageIn(child: ChildProcess, stderr: () => string): Promise<string> {
  const before = stderr().split(COLLECTED_MARKER).length;
  child.kill('SIGUSR2');
  const deadline = Date.now() + 10_000;
  while (stderr().split(COLLECTED_MARKER).length === before) {
    if (Date.now() > deadline || child.exitCode !== null) throw new Error(`no garbage collected: ${stderr()}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return stderr().split(COLLECTED_MARKER)[before - 1] ?? '';
}

/** 'connected', or the error code a new connection to 127.0.0.1:port meets (ECONNREFUSED once closed). */
export function connectOutcome(port: number): Promise<string> {
  return new Promise<string>((resolve) => {
    const late = connect(port, '127.0.0.1');
    late.once('connect', () => {
      late.destroy();
      resolve('connected');
    });
    late.once('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? 'error'));
  });
}
