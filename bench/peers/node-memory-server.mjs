// The ceiling for a Node HTTP server: node:http answering from memory (each file read once,
// then res.end(buffer)). Small files only: it holds every file it serves in memory.
// Usage: node node-memory-server.mjs ROOT PORT
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { join, normalize } from 'node:path';

const [root, port] = process.argv.slice(2);
const files = new Map();

createServer((req, res) => {
  let body = files.get(req.url);
  if (body === undefined) {
    const path = join(root, normalize(decodeURIComponent(new URL(req.url, 'http://x').pathname)));
    try {
      body = path.startsWith(root) ? readFileSync(path) : null;
    } catch {
      body = null;
    }
    files.set(req.url, body);
  }
  if (body === null) {
    res.writeHead(404).end();
    return;
  }
  res.writeHead(200, { 'content-length': body.length, 'content-type': 'application/octet-stream' });
  res.end(body);
}).listen(Number(port), '127.0.0.1');
