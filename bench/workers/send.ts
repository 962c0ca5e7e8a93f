/**
 * One sender trial in its own process: connect to 127.0.0.1:PORT and send the first SIZE
 * bytes of FILE, COUNT times, by METHOD. Times from the connected socket to the sink's
 * close (every byte received), takes process.resourceUsage() over the same span, and
 * prints one JSON line. Usage: send.js METHOD PORT FILE SIZE COUNT LIBRARY_INDEX
 */
import { once } from 'node:events';
import { closeSync, createReadStream, openSync, read, readSync, writeSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { pipeline } from 'node:stream/promises';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';

import { mmap, pipe, sendfile, setNonBlocking, socketDescriptor, splice, unmap } from '../../src/index.js';
import { startSpan } from './measure.js';

const readAsync = promisify(read);
const CHUNK = 64 * 1024;

type TransferReport = { bytes: number; method: string; syscalls?: number; fallback?: unknown };
type TransferFn = (
  source: number,
  destination: Socket,
  options: { offset?: number; length?: number },
) => Promise<TransferReport>;

/** transfer()'s fallback may be a string or an object with a reason or code; say it in words. */
function describe(fallback: unknown): string {
  if (typeof fallback === 'string') return fallback;
  if (fallback !== null && typeof fallback === 'object') {
    const { reason, code } = fallback as { reason?: unknown; code?: unknown };
    if (typeof reason === 'string') return typeof code === 'string' ? `${code}: ${reason}` : reason;
    return JSON.stringify(fallback);
  }
  return String(fallback);
}

async function main(): Promise<void> {
  const [method, portText, file, sizeText, countText, libraryIndex] = process.argv.slice(2);
  if (method === undefined || file === undefined || libraryIndex === undefined)
    throw new Error('usage: send.js METHOD PORT FILE SIZE COUNT LIBRARY_INDEX');
  const size = Number(sizeText);
  const count = Number(countText);
  let transfer: TransferFn | undefined;
  if (method === 'transfer') {
    const library = (await import(pathToFileURL(libraryIndex).href)) as Record<string, unknown>;
    if (typeof library.transfer !== 'function') throw new Error('transfer is not exported by the library');
    transfer = library.transfer as TransferFn;
  }

  const fd = openSync(file, 'r');
  const socket = connect({ host: '127.0.0.1', port: Number(portText) });
  await once(socket, 'connect');
  const closed = once(socket, 'close');
  socket.resume();
  let detail: string | undefined;

  const endSpan = startSpan();

  switch (method) {
    // Node's usual way: a file stream piped into the socket (64 KiB reads into fresh Buffers).
    case 'pipeline': {
      for (let i = 0; i < count; i++) {
        const stream = createReadStream('', { fd, start: 0, end: size - 1, autoClose: false, highWaterMark: CHUNK });
        await pipeline(stream, socket, { end: false });
      }
      break;
    }
    // read() into a Buffer, socket.write() it, wait for 'drain' when the socket says so.
    case 'readwrite': {
      for (let i = 0; i < count; i++) {
        for (let position = 0; position < size; ) {
          const buffer = Buffer.allocUnsafe(Math.min(CHUNK, size - position));
          const { bytesRead } = await readAsync(fd, buffer, 0, buffer.length, position);
          if (bytesRead === 0) throw new Error('file ended early');
          position += bytesRead;
          if (!socket.write(buffer.subarray(0, bytesRead))) await once(socket, 'drain');
        }
      }
      break;
    }
    // The same copy loop on a blocking socket, on this thread: the fair partner of the
    // sendfile()/splice() primitives below (same discipline, copy vs no copy).
    case 'readwrite-sync': {
      const sock = socketDescriptor(socket);
      setNonBlocking(sock, false);
      const buffer = Buffer.allocUnsafe(Math.min(CHUNK, size));
      for (let i = 0; i < count; i++) {
        for (let position = 0; position < size; ) {
          const n = readSync(fd, buffer, 0, Math.min(buffer.length, size - position), position);
          if (n === 0) throw new Error('file ended early');
          position += n;
          for (let written = 0; written < n; ) written += writeSync(sock, buffer, written, n - written);
        }
      }
      break;
    }
    // A Buffer over the file's pages, written with socket.write(): one copy, kernel side.
    case 'mmap': {
      for (let i = 0; i < count; i++) {
        const map = mmap(fd, { offset: 0, length: size });
        await new Promise<void>((resolve, reject) => socket.write(map, (error) => (error ? reject(error) : resolve())));
        unmap(map);
      }
      break;
    }
    // The primitives on a blocking socket, on this thread: the system call itself, no policy.
    case 'sendfile': {
      const sock = socketDescriptor(socket);
      setNonBlocking(sock, false);
      for (let i = 0; i < count; i++) {
        for (let offset = 0; offset < size; ) {
          const n = sendfile(sock, fd, offset, size - offset);
          if (n === 0) throw new Error('file ended early');
          offset += n;
        }
      }
      break;
    }
    case 'splice': {
      const sock = socketDescriptor(socket);
      setNonBlocking(sock, false);
      const [pipeRead, pipeWrite] = pipe({ size: 1 << 20 });
      for (let i = 0; i < count; i++) {
        for (let offset = 0; offset < size; ) {
          let inPipe = splice(fd, offset, pipeWrite, null, Math.min(1 << 20, size - offset), { more: true });
          if (inPipe === 0) throw new Error('file ended early');
          offset += inPipe;
          while (inPipe > 0) inPipe -= splice(pipeRead, null, sock, null, inPipe, { more: true });
        }
      }
      closeSync(pipeRead);
      closeSync(pipeWrite);
      break;
    }
    case 'transfer': {
      for (let i = 0; i < count; i++) {
        const report = await transfer!(fd, socket, { offset: 0, length: size });
        if (report.bytes !== size) throw new Error(`transfer() reported ${report.bytes} bytes, expected ${size}`);
        detail ??= `method ${report.method}${report.fallback ? `, fallback: ${describe(report.fallback)}` : ''}`;
      }
      break;
    }
    default:
      throw new Error(`unknown method ${method}`);
  }

  socket.end();
  await closed;
  const span = endSpan();
  closeSync(fd);
  const line = { bytes: size * count, ...span, ...(detail === undefined ? {} : { detail }) };
  process.stdout.write(`${JSON.stringify(line)}\n`);
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
