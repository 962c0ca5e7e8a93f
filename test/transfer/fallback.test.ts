// Every fallback reason produced for real: the kernel path is unavailable, the transfer
// still completes by copying, and the report says why.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { closeSync, openSync, readFileSync, statfsSync, writeFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, describe, it, type TestContext } from 'node:test';

import { transfer } from '../../src/transfer/index.js';
import { closeQuietly, sha256, tcpPair, tempDir, tlsPair } from '../support/fixtures.js';
import { drain, feed, fileWith, MB, payload, pipeSocket, requireAddon, testPipe, within } from '../support/transfer.js';

before(requireAddon);

const TMPFS_MAGIC = 0x01021994;

describe('copy_file_range between file systems (tmpfs -> ext4)', () => {
  it('copies the bytes and reports honestly whatever the kernel did', async (t) => {
    let shmDir: string;
    try {
      shmDir = tempDirIn(t, '/dev/shm');
    } catch (error) {
      t.skip(`no writable /dev/shm: ${String(error)}`);
      return;
    }
    const diskDir = tempDir(t);
    const shmType = statfsSync(shmDir).type;
    const diskType = statfsSync(diskDir).type;
    if (shmType !== TMPFS_MAGIC || shmType === diskType) {
      t.skip(
        `/dev/shm (0x${shmType.toString(16)}) and ${tmpdir()} (0x${diskType.toString(16)}) are not tmpfs and another file system`,
      );
      return;
    }
    const { bytes, hash } = payload(MB + 1);
    const source = join(shmDir, 'source.bin');
    writeFileSync(source, bytes);
    const destination = join(diskDir, 'copy.bin');
    const report = await transfer(source, destination);
    assert.equal(report.bytes, bytes.byteLength);
    assert.equal(sha256(readFileSync(destination)), hash);
    if (report.method === 'copy') {
      assert.equal(report.fallback?.errno, 'EXDEV', JSON.stringify(report));
    } else {
      assert.equal(report.method, 'copy_file_range');
      assert.equal(report.fallback, undefined);
    }
  });
});

function tempDirIn(t: TestContext, parent: string): string {
  const dir = join(parent, `zc-fallback-${process.pid}-${Math.random().toString(36).slice(2)}`);
  execFileSync('mkdir', [dir]);
  t.after(() => execFileSync('rm', ['-rf', dir]));
  return dir;
}

describe('an append-only destination (O_APPEND)', () => {
  it('copies, says O_APPEND, and the bytes land after what was there (descriptor)', async (t) => {
    const { bytes, hash } = payload(MB + 1);
    const source = fileWith(t, bytes);
    const target = join(tempDir(t), 'log.bin');
    writeFileSync(target, 'existing line\n');
    const fd = openSync(target, 'a');
    t.after(() => closeQuietly(fd));
    const report = await transfer(source, fd);
    assert.equal(report.method, 'copy');
    assert.match(report.fallback?.reason ?? '', /O_APPEND/);
    assert.equal(report.bytes, bytes.byteLength);
    const written = readFileSync(target);
    assert.equal(written.subarray(0, 14).toString(), 'existing line\n');
    assert.equal(sha256(written.subarray(14)), hash);
  });

  it('does the same for a FileHandle opened with "a" and a socket source', async (t) => {
    const { bytes, hash } = payload(MB + 1);
    const target = join(tempDir(t), 'log.bin');
    writeFileSync(target, 'x');
    const handle = await open(target, 'a');
    t.after(() => handle.close().catch(() => {}));
    const { client, server } = await tcpPair(t);
    const [report] = await within(Promise.all([transfer(server, handle), feed(client, bytes)]), 10_000, 'transfer');
    await handle.close();
    assert.equal(report.method, 'copy');
    assert.match(report.fallback?.reason ?? '', /O_APPEND/);
    const written = readFileSync(target);
    assert.equal(written.byteLength, bytes.byteLength + 1);
    assert.equal(sha256(written.subarray(1)), hash);
  });
});

describe('a procfs file (size 0, bytes when read)', () => {
  it('/proc/self/status -> a file: copied, with the right bytes and the reason', async (t) => {
    const destination = join(tempDir(t), 'status.txt');
    const report = await transfer('/proc/self/status', destination);
    const written = readFileSync(destination);
    assert.ok(report.bytes > 0, JSON.stringify(report));
    assert.equal(written.byteLength, report.bytes);
    assert.match(written.toString(), /^Name:\t/);
    assert.match(written.toString(), /\nVmRSS:/);
    assert.equal(report.method, 'copy');
    assert.ok(report.fallback !== undefined, 'a procfs copy must say it fell back');
  });

  it('/proc/self/status -> a socket: the whole file arrives', async (t) => {
    const { client, server } = await tcpPair(t);
    const chunks: Buffer[] = [];
    server.on('data', (chunk: Buffer) => chunks.push(chunk));
    const ended = new Promise((resolve) => server.once('end', resolve));
    const report = await transfer('/proc/self/status', client);
    client.end();
    await within(ended, 5000, 'the reader to see the end');
    const text = Buffer.concat(chunks).toString();
    assert.equal(Buffer.byteLength(text), report.bytes);
    assert.match(text, /^Name:\t/);
    assert.match(text, /\nVmRSS:/);
    // Either sendfile reads procfs here, or the report says it did not.
    if (report.method === 'copy') assert.ok(report.fallback !== undefined);
  });
});

describe('a character device', () => {
  it('/dev/zero as a source is copied, with the reason', async (t) => {
    const destination = join(tempDir(t), 'zeros.bin');
    const fd = openSync('/dev/zero', 'r');
    t.after(() => closeQuietly(fd));
    const report = await transfer(fd, destination, { length: MB });
    assert.equal(report.bytes, MB);
    assert.equal(report.method, 'copy');
    assert.match(report.fallback?.reason ?? '', /character-device/);
    assert.equal(sha256(readFileSync(destination)), sha256(Buffer.alloc(MB)));
  });

  it('/dev/null as a destination path (like fs.copyFile) takes the bytes', async (t) => {
    const source = fileWith(t, payload(MB + 1).bytes);
    const report = await transfer(source, '/dev/null');
    assert.equal(report.bytes, MB + 1);
    assert.equal(report.method, 'copy');
  });
});

describe('smallTransferBytes', () => {
  it('0 sends even a 4 KiB file by the kernel path', async (t) => {
    const { bytes, hash } = payload(4096);
    const source = fileWith(t, bytes);
    const { readFd, writeFd } = testPipe(t);
    const reader = pipeSocket(readFd, 'read');
    const received = drain(reader);
    const report = await transfer(source, writeFd, { smallTransferBytes: 0 });
    closeSync(writeFd);
    assert.equal(report.method, 'splice');
    assert.equal(report.fallback, undefined);
    assert.equal((await received.done).hash, hash);
  });
});

describe('TLS sockets', () => {
  it('file -> TLS socket is copied through Node with reason "tls"', async (t) => {
    const pair = await tlsPair(t);
    if (pair === undefined) return;
    const { bytes, hash } = payload(MB + 1);
    const source = fileWith(t, bytes);
    const received = drain(pair.client);
    const report = await within(transfer(source, pair.server), 10_000, 'file -> TLS');
    pair.server.end();
    assert.equal(report.method, 'copy');
    assert.equal(report.fallback?.reason, 'tls');
    assert.equal(report.destination, 'stream');
    const arrived = await within(received.done, 10_000, 'the TLS client to read everything');
    assert.equal(arrived.bytes, bytes.byteLength);
    assert.equal(arrived.hash, hash);
  });

  it('TLS socket -> file is copied with reason "tls"', async (t) => {
    const pair = await tlsPair(t);
    if (pair === undefined) return;
    const { bytes, hash } = payload(MB + 1);
    const destination = join(tempDir(t), 'from-tls.bin');
    const [report] = await within(
      Promise.all([transfer(pair.server, destination), feed(pair.client, bytes)]),
      10_000,
      'TLS -> file',
    );
    assert.equal(report.method, 'copy');
    assert.equal(report.fallback?.reason, 'tls');
    assert.equal(report.bytes, bytes.byteLength);
    assert.equal(sha256(readFileSync(destination)), hash);
  });
});
