// Bun's own file serving: new Response(Bun.file(path)). Usage: bun bun-server.mjs ROOT PORT
import { join, normalize } from 'node:path';

const [root, port] = process.argv.slice(2);

Bun.serve({
  hostname: '127.0.0.1',
  port: Number(port),
  async fetch(request) {
    const path = join(root, normalize(decodeURIComponent(new URL(request.url).pathname)));
    const file = Bun.file(path);
    if (!path.startsWith(root) || !(await file.exists())) return new Response('not found', { status: 404 });
    return new Response(file);
  },
});
