/**
 * One replica of a party in a worker thread (store-replicas.test.ts): opens the PostgreSQL store, waits
 * at a barrier shared with the other replicas, then appends `n` audit entries as fast as it can.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { AuditLog, NodeStore } from '@fedscore/node';

const { url, schema, actor, n, barrier, replicas } = workerData as {
  url: string;
  schema: string;
  actor: string;
  n: number;
  barrier: SharedArrayBuffer;
  replicas: number;
};
const store = NodeStore.postgres(url, { schema, busyTimeoutMs: 30_000 });
const log = new AuditLog(store);
const arrived = new Int32Array(barrier);
Atomics.add(arrived, 0, 1);
Atomics.notify(arrived, 0);
for (let seen = Atomics.load(arrived, 0); seen < replicas; seen = Atomics.load(arrived, 0)) {
  Atomics.wait(arrived, 0, seen, 100);
}
for (let i = 0; i < n; i++) {
  log.append({ kind: 'data_use', actor, dataOwner: 'gov', purpose: 'scoring', job: `${actor}-${i}` });
}
store.close();
parentPort?.postMessage('done');
