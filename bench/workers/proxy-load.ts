// Load for the proxy scenario, in its own process: an upstream (a sink for bulk, an echo
// for request/response), then a client through the proxy under test. Prints one JSON line.
// Usage: proxy-load.js bulk UPSTREAM_PORT PROXY_PORT BYTES | rr UPSTREAM_PORT PROXY_PORT ROUNDS SIZE
// The upstream listens first; the proxy under test is started by the caller after "ready".
import { connect, createServer, type Socket } from 'node:net';

const [mode, upstreamPortText, proxyPortText, amountText, sizeText] = process.argv.slice(2);
const upstreamPort = Number(upstreamPortText);
const proxyPort = Number(proxyPortText);

function dial(): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect({ port: proxyPort, host: '127.0.0.1' });
    socket.setNoDelay(true);
    socket.once('connect', () => resolve(socket));
    socket.once('error', reject);
  });
}

async function bulk(bytes: number): Promise<void> {
  let received = 0;
  let done!: () => void;
  const finished = new Promise<void>((resolve) => {
    done = resolve;
  });
  const server = createServer((socket) => {
    socket.on('data', (chunk: Buffer) => {
      received += chunk.byteLength;
    });
    socket.on('end', () => {
      socket.end();
      done();
    });
  });
  await new Promise<void>((resolve) => server.listen(upstreamPort, '127.0.0.1', resolve));
  process.stdout.write('ready\n');
  await new Promise<void>((resolve) => process.stdin.once('data', () => resolve()));
  const client = await dial();
  const chunk = Buffer.alloc(1024 * 1024, 0x61);
  const started = performance.now();
  for (let sent = 0; sent < bytes; sent += chunk.byteLength) {
    if (!client.write(chunk)) await new Promise((resolve) => client.once('drain', resolve));
  }
  client.end();
  client.resume();
  await finished;
  const seconds = (performance.now() - started) / 1000;
  process.stdout.write(`${JSON.stringify({ bytes: received, seconds })}\n`);
  client.destroy();
  server.close();
}

async function requestResponse(rounds: number, size: number): Promise<void> {
  const server = createServer((socket) => {
    socket.setNoDelay(true);
    socket.pipe(socket);
  });
  await new Promise<void>((resolve) => server.listen(upstreamPort, '127.0.0.1', resolve));
  process.stdout.write('ready\n');
  await new Promise<void>((resolve) => process.stdin.once('data', () => resolve()));
  const client = await dial();
  const message = Buffer.alloc(size, 0x62);
  const times: number[] = [];
  for (let round = 0; round < rounds; round++) {
    const started = performance.now();
    client.write(message);
    let got = 0;
    await new Promise<void>((resolve) => {
      const onData = (chunk: Buffer) => {
        got += chunk.byteLength;
        if (got >= size) {
          client.off('data', onData);
          resolve();
        }
      };
      client.on('data', onData);
    });
    times.push(performance.now() - started);
  }
  times.sort((a, b) => a - b);
  process.stdout.write(
    `${JSON.stringify({ rounds, medianUs: (times[Math.floor(rounds / 2)] ?? 0) * 1000, p99Us: (times[Math.floor(rounds * 0.99)] ?? 0) * 1000 })}\n`,
  );
  client.destroy();
  server.close();
}

if (mode === 'bulk') await bulk(Number(amountText));
else await requestResponse(Number(amountText), Number(sizeText));
process.exit(0);
