// The HTTP ceiling: a bare fastify route answering a constant JSON body, as its own process (like
// Wharf) so both are measured the same way. `node bench/baseline-server.mjs PORT`; prints
// `listening <port>` once ready and stops on SIGTERM/SIGINT.
import Fastify from 'fastify';

const port = Number(process.argv[2] ?? 0);
const app = Fastify({ logger: false });
const body = { ok: true, service: 'registry' };
app.get('/token', async () => body);
await app.listen({ host: '127.0.0.1', port });
process.stdout.write(`listening ${app.server.address().port}\n`);
const stop = () => app.close().then(() => process.exit(0));
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
