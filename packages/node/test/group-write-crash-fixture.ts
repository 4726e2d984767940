/**
 * Child process of group-write.test.ts's crash test: the government's hot path on a real store -- for
 * each request a quota admission and an audit entry queued in the same group transaction, the "answer"
 * (a line `answered <id>` on stdout, synchronous on a pipe) only once both have resolved -- in bursts of
 * 16 concurrent requests until the parent kills it with SIGKILL.
 * Usage: node group-write-crash-fixture.ts STATE_DIR
 */
import { AuditGroupCommit, AuditLog, NodeStore, ScoringQuota } from '@fedscore/node';

const dir = process.argv[2];
if (dir === undefined) throw new Error('usage: group-write-crash-fixture.ts STATE_DIR');
const ENTERPRISE = '91350100M000100Y43';
const store = NodeStore.open(dir);
const group = new AuditGroupCommit(new AuditLog(store));
const quota = new ScoringQuota(store, {
  quota: { requests: 1_000_000_000, windowSeconds: 86_400 },
  rate: { requests: 1_000_000_000, windowSeconds: 3_600 },
});

async function request(id: string): Promise<void> {
  const { refusal, committed } = quota.admitQueued('bank', ENTERPRISE);
  if (refusal !== undefined) throw new Error(`refused: ${refusal}`);
  await Promise.all([
    committed,
    group.append({ kind: 'data_use', actor: 'bank', dataOwner: 'government', purpose: 'scoring', job: id }),
  ]);
  process.stdout.write(`answered ${id}\n`);
}

let n = 0;
process.stdout.write('ready\n');
for (;;) {
  await Promise.all(Array.from({ length: 16 }, () => request(`req-${n++}`)));
}
