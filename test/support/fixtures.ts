// Real files, pipes and sockets for tests, each cleaned up by the test that made it.
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import {
  closeSync,
  ftruncateSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  readSync,
  rmSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { connect, createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { type TLSSocket, connect as tlsConnect, createServer as tlsCreateServer } from 'node:tls';
import { fileURLToPath } from 'node:url';
import { getSystemErrorName, promisify } from 'node:util';

// Every test file that uses these fixtures fails on a FileHandle closed by the garbage collector.
import './file-handle-leaks.js';

export function sha256(bytes: Uint8Array | string): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** A fresh directory under the OS temp dir, removed when the test (or the suite, given `{ after }`) ends. */
export function tempDir(t: { after(fn: () => void): void }, prefix = 'zerocopy-test-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** A file of `size` random bytes; returns its path, its bytes and their hash. */
export function randomFile(t: TestContext, size: number, name = 'data.bin') {
  const path = join(tempDir(t), name);
  const bytes = randomBytes(size);
  writeFileSync(path, bytes);
  return { path, bytes, hash: sha256(bytes) };
}

/** Opens `path` and closes the descriptor when the test ends (unless the test closed it). */
export function openFor(t: TestContext, path: string, flags: string | number = 'r'): number {
  const fd = openSync(path, flags);
  t.after(() => closeQuietly(fd));
  return fd;
}

export function closeQuietly(fd: number): void {
  try {
    closeSync(fd);
  } catch {
    // already closed by the code under test
  }
}

/** A connected loopback TCP pair: `client` and `server` sockets; both destroyed when the test ends. */
export async function tcpPair(t: TestContext): Promise<{ client: Socket; server: Socket }> {
  const listener = createServer();
  await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', resolve));
  const address = listener.address();
  if (address === null || typeof address === 'string') throw new Error('listener has no TCP address');
  const accepted = new Promise<Socket>((resolve) => listener.once('connection', resolve));
  const client = connect(address.port, '127.0.0.1');
  await new Promise<void>((resolve, reject) => {
    client.once('connect', resolve);
    client.once('error', reject);
  });
  const server = await accepted;
  listener.close();
  t.after(() => {
    client.destroy();
    server.destroy();
  });
  return { client, server };
}

/** Reads everything from `socket` until it ends; resolves with the bytes. */
export function collect(socket: Socket): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.once('end', () => resolve(Buffer.concat(chunks)));
    socket.once('error', reject);
  });
}

/** How many descriptors this process has open (for leak checks). */
export function openDescriptorCount(): number {
  return readdirSync('/proc/self/fd').length;
}

/** Where the built package and its command live, for child processes that load them. */
export const packageEntry = fileURLToPath(new URL('../../src/index.js', import.meta.url));
export const cliEntry = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));

export const KiB = 1024;
export const MiB = 1024 * KiB;
export const GiB = 1024 * MiB;

/**
 * Passes a value of the wrong type where the signature forbids it, so a test can check
 * the run-time argument validation that the types alone cannot guarantee.
 */
export function wrongType<T>(value: unknown): T {
  return value as T;
}

/** Asserts that `call` throws the Node-style system error `code` for `syscall`. */
export function throwsSystemError(call: () => unknown, code: string, syscall: string): void {
  assert.throws(call, (error: unknown) => {
    assertSystemError(error, code, syscall);
    return true;
  });
}

/** Asserts that `promise` rejects with the Node-style system error `code` for `syscall`. */
export async function rejectsSystemError(promise: Promise<unknown>, code: string, syscall: string): Promise<void> {
  await assert.rejects(promise, (error: unknown) => {
    assertSystemError(error, code, syscall);
    return true;
  });
}

function assertSystemError(error: unknown, code: string, syscall: string): void {
  assert.ok(error instanceof Error, `expected an Error, got ${String(error)}`);
  const { code: actual, errno, syscall: actualSyscall } = error as NodeJS.ErrnoException;
  assert.equal(actual, code, error.message);
  assert.equal(actualSyscall, syscall);
  assert.equal(typeof errno, 'number');
  assert.equal(getSystemErrorName(errno as number), code);
}

/** Asserts that `call` throws a validation error with `code` (ERR_INVALID_ARG_TYPE, ...). */
export function throwsCode(call: () => unknown, code: string): void {
  assert.throws(call, (error: unknown) => {
    assert.ok(error instanceof Error);
    assert.equal((error as NodeJS.ErrnoException).code, code, error.message);
    return true;
  });
}

/** Runs `call`, which must throw one of the system errors in `codes`; returns the code it threw. */
export function systemErrorCode(call: () => unknown, codes: readonly string[]): string {
  try {
    call();
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? '';
    assert.ok(codes.includes(code), `expected one of ${codes.join(', ')}, got ${code}: ${String(error)}`);
    return code;
  }
  assert.fail(`expected one of ${codes.join(', ')}, but the call succeeded`);
}

/** A file of `size` bytes that are holes except for `markers` written at their offsets (e.g. past 4 GiB). */
export function sparseFile(t: TestContext, size: number, markers: Array<{ offset: number; bytes: Buffer }>): string {
  const path = join(tempDir(t, 'zerocopy-sparse-'), 'sparse.bin');
  const fd = openSync(path, 'w+');
  try {
    ftruncateSync(fd, size);
    for (const { offset, bytes } of markers) writeSync(fd, bytes, 0, bytes.length, offset);
  } finally {
    closeSync(fd);
  }
  return path;
}

/** Closes each descriptor when the test ends (unless the test closed it first). */
export function closeAfter<T extends number[]>(t: TestContext, fds: T): T {
  t.after(() => {
    for (const fd of fds) closeQuietly(fd);
  });
  return fds;
}

/**
 * Reads exactly `length` bytes from `fd` (a blocking pipe, socket or a file at its
 * position); fewer only if the descriptor reaches its end first.
 */
export function readExactly(fd: number, length: number): Buffer {
  const bytes = Buffer.alloc(length);
  let done = 0;
  for (let reads = 0; done < length && reads <= length; reads++) {
    const count = readSync(fd, bytes, done, length - done, null);
    if (count === 0) break;
    done += count;
  }
  return bytes.subarray(0, done);
}

/** Writes to a non-blocking pipe or socket until it is full; returns the bytes it took. */
export function fillUntilFull(fd: number): number {
  const chunk = Buffer.alloc(64 * KiB, 0x5a);
  let total = 0;
  // A pipe holds at most pipe-max-size (1 MiB by default); a socket buffer a few MiB.
  for (let writes = 0; writes < 4096; writes++) {
    try {
      total += writeSync(fd, chunk);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'EAGAIN') return total;
      throw error;
    }
  }
  throw new Error(`descriptor ${fd} took ${total} bytes without filling up`);
}

/** Whether this process holds a capability (`CAP_SYS_RESOURCE` is 24), read from /proc/self/status. */
export function hasCapability(bit: number): boolean {
  const line = readFileSync('/proc/self/status', 'utf8')
    .split('\n')
    .find((row) => row.startsWith('CapEff:'));
  if (line === undefined) return false;
  return ((BigInt(`0x${line.slice('CapEff:'.length).trim()}`) >> BigInt(bit)) & 1n) === 1n;
}

/**
 * Skips the test, saying why, unless `command args` runs: for tests that use a tool the
 * system may lack (curl, ss). Returns whether the test may go on.
 */
export async function requireTool(t: TestContext, command: string, args: string[], why: string): Promise<boolean> {
  try {
    await promisify(execFile)(command, args);
    return true;
  } catch {
    t.skip(`${command} is not installed: ${why}`);
    return false;
  }
}

export const delay = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * Calls `step(done)` until it has moved `total` bytes, returns 0 (the source ended) or
 * `timeoutMs` passes; waits a little on EAGAIN, as a non-blocking caller must. Returns
 * the bytes moved.
 */
export async function pump(step: (done: number) => number, total: number, timeoutMs = 10_000): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  let done = 0;
  while (done < total) {
    if (Date.now() > deadline) throw new Error(`pump moved ${done} of ${total} bytes in ${timeoutMs} ms`);
    try {
      const count = step(done);
      if (count === 0) break;
      done += count;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EAGAIN') throw error;
      await delay(1);
    }
  }
  return done;
}

/** Runs `node` with `args`; resolves with its exit code and output (it never rejects on a non-zero exit). */
export function runNode(
  args: string[],
  options: { cwd?: string; timeoutMs?: number } = {},
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      args,
      { cwd: options.cwd, timeout: options.timeoutMs ?? 15_000, maxBuffer: 16 * MiB },
      (error, stdout, stderr) => {
        if (error !== null && typeof error.code !== 'number') {
          reject(error);
          return;
        }
        resolve({ code: error === null ? 0 : (error.code as number), stdout, stderr });
      },
    );
  });
}

/** A connected TLS pair with a throwaway self-signed certificate, or undefined (skipped out loud) without openssl. */
export async function tlsPair(t: TestContext): Promise<{ client: TLSSocket; server: TLSSocket } | undefined> {
  const dir = tempDir(t, 'zc-tls-');
  const key = join(dir, 'key.pem');
  const cert = join(dir, 'cert.pem');
  try {
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'rsa:2048',
        '-nodes',
        '-subj',
        '/CN=localhost',
        '-days',
        '1',
        '-keyout',
        key,
        '-out',
        cert,
      ],
      { stdio: 'ignore', timeout: 20_000 },
    );
  } catch (error) {
    t.skip(`openssl could not make a certificate: ${String(error)}`);
    return undefined;
  }
  const server = tlsCreateServer({ key: readFileSync(key), cert: readFileSync(cert) });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => server.close());
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no TCP address');
  const accepted = new Promise<TLSSocket>((resolve) => server.once('secureConnection', resolve));
  const client = tlsConnect({ port: address.port, host: '127.0.0.1', ca: readFileSync(cert), servername: 'localhost' });
  await new Promise<void>((resolve, reject) => {
    client.once('secureConnect', resolve);
    client.once('error', reject);
  });
  const serverSide = await accepted;
  t.after(() => {
    client.destroy();
    serverSide.destroy();
  });
  return { client, server: serverSide };
}
