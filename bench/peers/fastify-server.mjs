// @fastify/static. Usage: node fastify-server.mjs ROOT PORT [--loop-delay]
import fastifyStatic from '@fastify/static';
import Fastify from 'fastify';

const [root, port] = process.argv.slice(2);
if (process.argv.includes('--loop-delay')) await import('./loop-delay.mjs');

const app = Fastify({ logger: false });
await app.register(fastifyStatic, { root });
await app.listen({ port: Number(port), host: '127.0.0.1' });
