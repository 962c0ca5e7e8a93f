// The Node baseline for the proxy scenario: socket.pipe() both ways, nothing else.
// Usage: pipe-proxy.js LISTEN_PORT UPSTREAM_PORT
import { connect, createServer } from 'node:net';

const [listenPort, upstreamPort] = process.argv.slice(2).map(Number);
const server = createServer((client) => {
  const upstream = connect({ port: upstreamPort as number, host: '127.0.0.1' });
  client.setNoDelay(true);
  upstream.setNoDelay(true);
  client.pipe(upstream).pipe(client);
  client.on('error', () => upstream.destroy());
  upstream.on('error', () => client.destroy());
});
server.listen(listenPort, '127.0.0.1', () => process.stdout.write('listening\n'));
process.on('SIGTERM', () => process.exit(0));
