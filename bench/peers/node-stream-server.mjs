// Node's plain way to serve a file: node:http and createReadStream().pipe(res).
// Usage: node node-stream-server.mjs ROOT PORT [--loop-delay]
import { createReadStream, stat } from 'node:fs';
import { createServer } from 'node:http';
import { join, normalize } from 'node:path';

const [root, port] = process.argv.slice(2);
if (process.argv.includes('--loop-delay')) await import('./loop-delay.mjs');

createServer((req, res) => {
  const path = join(root, normalize(decodeURIComponent(new URL(req.url, 'http://x').pathname)));
  if (!path.startsWith(root)) {
    res.writeHead(403).end();
    return;
  }
  stat(path, (error, stats) => {
    if (error || !stats.isFile()) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'content-length': stats.size, 'content-type': 'application/octet-stream' });
    createReadStream(path).pipe(res);
  });
}).listen(Number(port), '127.0.0.1');
