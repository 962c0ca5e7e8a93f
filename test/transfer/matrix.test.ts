// Every source kind to every destination kind, at sizes that cross each boundary the
// strategy has (empty, one byte, below the small-transfer threshold, just past 1 MiB, and
// a size that takes many calls), checked by hash and by the method the report names.
import assert from 'node:assert/strict';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { type FileHandle, open } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it, type TestContext } from 'node:test';

import {
  SMALL_TRANSFER_BYTES,
  type TransferDestination,
  type TransferMethod,
  type TransferSource,
  transfer,
} from '../../src/transfer/index.js';
import { closeQuietly, sha256, tempDir } from '../support/fixtures.js';
import {
  drain,
  feed,
  KB,
  MB,
  payload,
  pipeSocket,
  requireAddon,
  socketPairOf,
  testPipe,
  within,
} from '../support/transfer.js';

const SIZES = [0, 1, 4 * KB, MB + 1, 64 * MB];
/**
 * 64 MiB takes many calls on every path; it runs for one endpoint of each kind (the
 * FileHandle, descriptor and Unix-socket variants share those loops) to keep the suite short.
 */
const BIG = 64 * MB;
const BIG_SOURCES: ReadonlySet<string> = new Set(['path', 'Buffer', 'TCP socket', 'pipe']);
const BIG_DESTINATIONS: ReadonlySet<string> = new Set(['path', 'descriptor', 'TCP socket', 'pipe']);

type SourceName = 'path' | 'FileHandle' | 'descriptor' | 'Buffer' | 'TCP socket' | 'Unix socket' | 'pipe';
type DestinationName = 'path' | 'FileHandle' | 'descriptor' | 'TCP socket' | 'Unix socket' | 'pipe';

interface Source {
  source: TransferSource;
  /** Starts writing the bytes for sources that are fed by a peer. */
  start: () => Promise<void>;
}

interface Destination {
  destination: TransferDestination;
  /** After the transfer: end the stream (if any) and return what arrived. */
  result: () => Promise<{ bytes: number; hash: string }>;
}

let sourceDir = '';
const sourceFiles = new Map<number, string>();

before(() => {
  requireAddon();
  sourceDir = mkdtempSync(join(tmpdir(), 'zc-matrix-'));
  for (const size of SIZES) {
    const path = join(sourceDir, `source-${size}.bin`);
    writeFileSync(path, payload(size).bytes);
    sourceFiles.set(size, path);
  }
});
after(() => rmSync(sourceDir, { recursive: true, force: true }));

async function makeSource(t: TestContext, name: SourceName, size: number): Promise<Source> {
  const path = sourceFiles.get(size) as string;
  const idle = async () => {};
  switch (name) {
    case 'path':
      return { source: path, start: idle };
    case 'FileHandle': {
      const handle: FileHandle = await open(path, 'r');
      t.after(() => handle.close());
      return { source: handle, start: idle };
    }
    case 'descriptor': {
      const fd = openSync(path, 'r');
      t.after(() => closeQuietly(fd));
      return { source: fd, start: idle };
    }
    case 'Buffer':
      return { source: payload(size).bytes, start: idle };
    case 'TCP socket':
    case 'Unix socket': {
      const { client, server } = await socketPairOf(t, name === 'TCP socket' ? 'tcp' : 'unix');
      return { source: server, start: () => feed(client, payload(size).bytes) };
    }
    case 'pipe': {
      const { readFd, writeFd } = testPipe(t);
      const writer = pipeSocket(writeFd, 'write');
      t.after(() => writer.destroy());
      return { source: readFd, start: () => feed(writer, payload(size).bytes) };
    }
  }
}

async function makeDestination(t: TestContext, name: DestinationName): Promise<Destination> {
  const path = join(tempDir(t, 'zc-matrix-out-'), 'out.bin');
  const fromFile = async () => {
    const bytes = readFileSync(path);
    return { bytes: bytes.byteLength, hash: sha256(bytes) };
  };
  switch (name) {
    case 'path':
      return { destination: path, result: fromFile };
    case 'FileHandle': {
      const handle = await open(path, 'w');
      t.after(() => handle.close().catch(() => {}));
      return {
        destination: handle,
        result: async () => {
          await handle.close();
          return fromFile();
        },
      };
    }
    case 'descriptor': {
      const fd = openSync(path, 'w');
      t.after(() => closeQuietly(fd));
      return { destination: fd, result: fromFile };
    }
    case 'TCP socket':
    case 'Unix socket': {
      const { client, server } = await socketPairOf(t, name === 'TCP socket' ? 'tcp' : 'unix');
      const received = drain(server);
      return {
        destination: client,
        result: () => {
          client.end();
          return received.done;
        },
      };
    }
    case 'pipe': {
      const { readFd, writeFd } = testPipe(t);
      const reader = pipeSocket(readFd, 'read');
      t.after(() => reader.destroy());
      const received = drain(reader);
      return {
        destination: writeFd,
        result: () => {
          closeSync(writeFd);
          return received.done;
        },
      };
    }
  }
}

const FILE_SOURCES: SourceName[] = ['path', 'FileHandle', 'descriptor'];
const STREAM_SOURCES: SourceName[] = ['TCP socket', 'Unix socket', 'pipe'];
const SOCKETS: DestinationName[] = ['TCP socket', 'Unix socket'];

/** The method the strategy table promises for this pair and size. */
function expectedMethod(source: SourceName, destination: DestinationName, size: number): TransferMethod {
  if (source === 'Buffer') return 'write';
  if (STREAM_SOURCES.includes(source)) return 'splice';
  if (size > 0 && size < SMALL_TRANSFER_BYTES) return 'copy';
  if (SOCKETS.includes(destination)) return 'sendfile';
  return destination === 'pipe' ? 'splice' : 'copy_file_range';
}

const SOURCES: SourceName[] = [...FILE_SOURCES, 'Buffer', ...STREAM_SOURCES];
const DESTINATIONS: DestinationName[] = ['path', 'FileHandle', 'descriptor', ...SOCKETS, 'pipe'];

function label(size: number): string {
  if (size >= MB) return `${size / MB >= 2 ? `${size / MB} MiB` : `1 MiB + ${size - MB}`}`;
  if (size >= KB) return `${size / KB} KiB`;
  return `${size} B`;
}

describe('transfer() between every pair of endpoints', () => {
  for (const sourceName of SOURCES) {
    for (const destinationName of DESTINATIONS) {
      describe(`${sourceName} -> ${destinationName}`, () => {
        for (const size of SIZES) {
          if (size === BIG && !(BIG_SOURCES.has(sourceName) && BIG_DESTINATIONS.has(destinationName))) continue;
          const method = expectedMethod(sourceName, destinationName, size);
          it(`moves ${label(size)} intact by ${method}`, async (t) => {
            const { source, start } = await makeSource(t, sourceName, size);
            const { destination, result } = await makeDestination(t, destinationName);
            const [report] = await within(
              Promise.all([transfer(source, destination), start()]),
              30_000,
              `${sourceName} -> ${destinationName} (${size} bytes)`,
            );
            assert.equal(report.bytes, size);
            assert.equal(report.method, method, JSON.stringify(report));
            if (method === 'copy') assert.match(report.fallback?.reason ?? '', /small-transfer threshold/);
            else assert.equal(report.fallback, undefined, JSON.stringify(report.fallback));
            const arrived = await within(result(), 30_000, 'the destination to report what arrived');
            assert.equal(arrived.bytes, size);
            assert.equal(arrived.hash, payload(size).hash);
          });
        }
      });
    }
  }
});
