/**
 * A worker process for `bench queue-choice` (benchmark only): takes tasks of one queue and answers each
 * with the SHA-256 of its payload (hex), so the caller can check that every byte reached the worker.
 *
 *   node queue-choice-worker.ts pgboss <postgres url> <queue>   -- `serveTaskQueue` of @fedscore/queue
 *   node queue-choice-worker.ts bullmq <host:port> <queue>      -- a BullMQ `Worker` on Redis
 *
 * One task at a time per process (as `fedscore worker`'s default: a CKKS task uses one core). Writes
 * `queue-choice worker ready` to stderr once it takes tasks; stops on SIGTERM.
 */
import { createHash } from 'node:crypto';
import { serveTaskQueue } from '@fedscore/queue';
import { Worker } from 'bullmq';

const [broker, where, queue] = process.argv.slice(2);
if (broker === undefined || where === undefined || queue === undefined) {
  console.error('usage: queue-choice-worker.ts pgboss|bullmq <url|host:port> <queue>');
  process.exit(2);
}

const digest = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex');

let stop: () => Promise<void>;
if (broker === 'pgboss') {
  const worker = await serveTaskQueue<{ payload: Uint8Array }, string>(
    { connectionString: where, queue, concurrency: 1 },
    (task) => digest(task.payload),
  );
  stop = () => worker.stop();
} else if (broker === 'bullmq') {
  const [host, port] = where.split(':');
  const worker = new Worker<{ payload: string }, string>(
    queue,
    async (job) => digest(Buffer.from(job.data.payload, 'base64')),
    { connection: { host: host!, port: Number(port), maxRetriesPerRequest: null }, concurrency: 1 },
  );
  worker.on('error', (e) => console.error(`queue-choice worker: ${e.message}`));
  await worker.waitUntilReady();
  stop = () => worker.close();
} else {
  console.error(`unknown broker ${broker}`);
  process.exit(2);
}
process.once('SIGTERM', () => {
  void stop().then(() => process.exit(0));
});
console.error('queue-choice worker ready');
