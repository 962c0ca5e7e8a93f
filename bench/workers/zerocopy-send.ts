// One sender for the zerocopy-send scenario: transfer() of a SIZE-byte Buffer, again and
// again, into a TCP connection (loopback) or a connected UDP socket (the veth-drop rig),
// with zero copy on ('auto', every size lends) or off. Times the sends only (the connection
// and one warm-up transfer, which lets a copying socket switch itself back, come first) and
// prints one JSON line with what the last report said.
// Usage: zerocopy-send.js send MODE tcp|udp HOST PORT SIZE TOTAL LIBRARY_INDEX
//        zerocopy-send.js discard PORT     (a TCP reader that throws bytes away; prints its port)
//   MODE: zerocopy | plain

import { createSocket, type Socket as DatagramSocket } from 'node:dgram';
import { once } from 'node:events';
import { connect, createServer, type Socket } from 'node:net';
import { pathToFileURL } from 'node:url';

import { startSpan } from './measure.js';

interface Report {
  method: string;
  zeroCopy?: { reason: string; sends: number; copied: number };
  gso?: { reason: string; sends: number };
}
type Transfer = (source: Uint8Array, destination: Socket | DatagramSocket, options: object) => Promise<Report>;

const [role, ...args] = process.argv.slice(2);

if (role === 'discard') {
  const server = createServer((socket) => {
    socket.on('data', () => {});
    socket.on('error', () => {});
  });
  server.listen(Number(args[0] ?? 0), '127.0.0.1', () => {
    const address = server.address();
    process.stdout.write(`${JSON.stringify({ port: typeof address === 'object' && address ? address.port : 0 })}\n`);
  });
} else if (role === 'send') {
  const [mode, kind, host, portText, sizeText, totalText, libraryIndex] = args;
  if (libraryIndex === undefined) {
    process.stderr.write('usage: zerocopy-send.js send MODE tcp|udp HOST PORT SIZE TOTAL LIBRARY_INDEX\n');
    process.exit(2);
  }
  const { transfer } = (await import(pathToFileURL(libraryIndex).href)) as { transfer: Transfer };
  const size = Number(sizeText);
  const rounds = Math.max(1, Math.floor(Number(totalText) / size));
  let destination: Socket | DatagramSocket;
  let close: () => void;
  if (kind === 'tcp') {
    const socket = connect(Number(portText), host);
    await once(socket, 'connect');
    destination = socket;
    close = () => socket.destroy();
  } else {
    const socket = createSocket('udp4');
    await new Promise<void>((resolve) => socket.connect(Number(portText), host, resolve));
    // The socket, not its descriptor: transfer() stops it receiving, or Node 24's event loop
    // would read the completions off its error queue and the transfer would never settle.
    destination = socket;
    close = () => socket.close();
  }
  const options = mode === 'zerocopy' ? { zeroCopy: 'auto', zeroCopyBytes: 1 } : { zeroCopy: 'never' };
  const bytes = Buffer.alloc(size, 0x5a);
  let report = await transfer(bytes, destination, options);
  const end = startSpan();
  for (let i = 0; i < rounds; i++) report = await transfer(bytes, destination, options);
  const span = end();
  close();
  const detail =
    `${report.method}${report.zeroCopy ? `; ${report.zeroCopy.reason}` : ''}` +
    `${report.gso ? `; ${report.gso.reason}` : ''}`;
  process.stdout.write(`${JSON.stringify({ ...span, bytes: rounds * size, detail })}\n`);
} else {
  process.stderr.write(`unknown role ${role}\n`);
  process.exit(2);
}
