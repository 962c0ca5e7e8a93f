// express.static. Usage: node express-server.mjs ROOT PORT [--loop-delay]
import express from 'express';

const [root, port] = process.argv.slice(2);
if (process.argv.includes('--loop-delay')) await import('./loop-delay.mjs');

const app = express();
app.use(express.static(root, { etag: true, lastModified: true }));
app.listen(Number(port), '127.0.0.1');
