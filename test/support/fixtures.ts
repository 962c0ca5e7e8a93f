// Real files, pipes and sockets for tests, each cleaned up by the test that made it.
import { createHash, randomBytes } from 'node:crypto';
import { closeSync, mkdtempSync, openSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { connect, createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';

export function sha256(bytes: Uint8Array | string): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** A fresh directory under the OS temp dir, removed when the test ends. */
export function tempDir(t: TestContext, prefix = 'zerocopy-test-'): string {
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
