/**
 * One replica of a party starting on a PostgreSQL schema in a worker thread (store-replicas.test.ts):
 * waits at a barrier shared with the other replicas, then opens the store and the modules a node opens
 * at start (each migrates its tables), and reports the schema versions it sees or the error it got.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { AuditLog, ConsentRegistry, JobStore, ModelRegistry, NodeStore } from '@fedscore/node';

const { url, schema, barrier, replicas } = workerData as {
  url: string;
  schema: string;
  barrier: SharedArrayBuffer;
  replicas: number;
};
const arrived = new Int32Array(barrier);
Atomics.add(arrived, 0, 1);
Atomics.notify(arrived, 0);
for (let seen = Atomics.load(arrived, 0); seen < replicas; seen = Atomics.load(arrived, 0)) {
  Atomics.wait(arrived, 0, seen, 100);
}
try {
  const store = NodeStore.postgres(url, { schema, busyTimeoutMs: 30_000 });
  try {
    const audit = new AuditLog(store);
    new ConsentRegistry(store, { audit, party: 'gov' });
    new ModelRegistry(store, { audit, party: 'gov' });
    new JobStore(store);
    parentPort?.postMessage({ ok: true, versions: store.schemaVersions() });
  } finally {
    store.close();
  }
} catch (e) {
  const fe = e as { code?: string; message?: string };
  parentPort?.postMessage({ ok: false, code: fe.code, message: fe.message });
}
