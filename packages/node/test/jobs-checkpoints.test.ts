/**
 * The node's store of within-stage (per-epoch) training checkpoints and of the party secret the
 * hetero-LR mask seeds derive from (issue 8):
 *   - the last 3 epochs are kept per job and stage; writing epoch e drops the epochs above it (a run
 *     resumed from e - 1 supersedes them); the checkpoints go when the job ends;
 *   - a write that fails half-way (a trigger aborting the insert after the prune ran) and a process
 *     killed (SIGKILL) inside the write transaction both leave the previous checkpoints intact;
 *   - the party secret is 32 CSPRNG bytes made once and kept across restarts; mask seeds are an
 *     HMAC-SHA256 of job and party under it (checked against node:crypto's HMAC, computed here).
 */
import { spawnSync } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  type JobSpec,
  JobStore,
  MASK_SEED_SECRET,
  maskKeyFor,
  NodeStore,
  validateJobSpec,
} from '@fedscore/node';
import { afterEach, describe, expect, it } from 'vitest';
import { describeStores } from './store-backends.ts';

const PACKAGE_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '..');

const dirs: string[] = [];
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'fedscore-epoch-cp-'));
  dirs.push(d);
  return d;
}
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const spec = (id: string): JobSpec =>
  ({
    ...validateJobSpec({
      guest: 'bank',
      hosts: ['government'],
      data: { bank: 'loans', government: 'credit' },
    }),
    id,
  }) as JobSpec;

const bytesOf = (epoch: number, attempt = 0): Uint8Array =>
  new TextEncoder().encode(`checkpoint of epoch ${epoch}, attempt ${attempt}`);
const held = (jobs: JobStore, id: string): [number, number, string][] =>
  jobs.epochCheckpoints(id, 'train').map((r) => [r.epoch, r.attempt, new TextDecoder().decode(r.bytes)]);

describeStores('per-epoch checkpoints in the job store', (backend) => {
  it('keeps the last 3 epochs; a resumed run supersedes the epochs above its own', () => {
    const jobs = new JobStore(backend.newStore());
    jobs.put(spec('j1'), 'bank');
    for (let e = 1; e <= 5; e++) jobs.saveEpochCheckpoint('j1', 'train', 0, e, bytesOf(e));
    expect(held(jobs, 'j1').map(([e]) => e)).toEqual([3, 4, 5]);
    // Attempt 1 resumed from epoch 3 and writes epoch 4: its 4 replaces attempt 0's 4, and 5 goes.
    jobs.saveEpochCheckpoint('j1', 'train', 1, 4, bytesOf(4, 1));
    expect(held(jobs, 'j1')).toEqual([
      [3, 0, 'checkpoint of epoch 3, attempt 0'],
      [4, 1, 'checkpoint of epoch 4, attempt 1'],
    ]);
    // One event per write, naming the epoch.
    const events = jobs.events('j1').filter((e) => e.kind === 'epoch_checkpoint');
    expect(events.map((e) => [e.attempt, e.detail])).toEqual([
      [0, 'epoch=1'],
      [0, 'epoch=2'],
      [0, 'epoch=3'],
      [0, 'epoch=4'],
      [0, 'epoch=5'],
      [1, 'epoch=4'],
    ]);
    // Another job's checkpoints are its own.
    jobs.put(spec('j2'), 'bank');
    jobs.saveEpochCheckpoint('j2', 'train', 0, 1, bytesOf(1));
    expect(held(jobs, 'j1').map(([e]) => e)).toEqual([3, 4]);
    jobs.dropEpochCheckpoint('j1', 'train', 3);
    expect(held(jobs, 'j1').map(([e]) => e)).toEqual([4]);
    // The job's end drops its checkpoints (the train stage checkpoint holds the model).
    jobs.finish('j1');
    expect(held(jobs, 'j1')).toEqual([]);
    expect(held(jobs, 'j2').map(([e]) => e)).toEqual([1]);
  });

  it('refuses bad arguments naming the field', () => {
    const jobs = new JobStore(backend.newStore());
    jobs.put(spec('j1'), 'bank');
    const field = (f: () => unknown): unknown => {
      try {
        f();
      } catch (e) {
        return (e as { field?: string }).field;
      }
      return 'accepted';
    };
    expect(field(() => jobs.saveEpochCheckpoint('j1', 'train', 0, 0, bytesOf(0)))).toBe('epoch');
    expect(field(() => jobs.saveEpochCheckpoint('j1', 'train', 0, 1.5, bytesOf(1)))).toBe('epoch');
    expect(field(() => jobs.saveEpochCheckpoint('j1', 'train', 0, 1, new Uint8Array(0)))).toBe('bytes');
    expect(field(() => jobs.saveEpochCheckpoint('j1', 'train', 0, 1, bytesOf(1), 0))).toBe('keep');
    expect(field(() => jobs.partySecret('Bad Name'))).toBe('name');
    // An unknown job is refused by the store (foreign key), with nothing written.
    expect(() => jobs.saveEpochCheckpoint('nope', 'train', 0, 1, bytesOf(1))).toThrow(
      expect.objectContaining({ code: 'store' }),
    );
    expect(held(jobs, 'nope')).toEqual([]);
  });

  it('a write that fails half-way leaves the previous checkpoints intact', () => {
    const store = backend.newStore();
    const jobs = new JobStore(store);
    jobs.put(spec('j1'), 'bank');
    for (let e = 2; e <= 4; e++) jobs.saveEpochCheckpoint('j1', 'train', 0, e, bytesOf(e));
    // The insert fails after the write has already dropped epochs >= 3 (as a full disk would).
    store.exec(
      store.dialect === 'postgres'
        ? `CREATE FUNCTION fail_epoch() RETURNS trigger LANGUAGE plpgsql
             AS 'BEGIN RAISE EXCEPTION ''simulated write failure''; END';
           CREATE TRIGGER fail_epoch_3 BEFORE INSERT ON job_epoch_checkpoints
             FOR EACH ROW WHEN (NEW.epoch = 3) EXECUTE FUNCTION fail_epoch();`
        : `CREATE TRIGGER fail_epoch_3 BEFORE INSERT ON job_epoch_checkpoints WHEN NEW.epoch = 3
             BEGIN SELECT RAISE(ABORT, 'simulated write failure'); END`,
    );
    expect(() => jobs.saveEpochCheckpoint('j1', 'train', 1, 3, bytesOf(3, 1))).toThrow(
      expect.objectContaining({ code: 'store' }),
    );
    expect(held(jobs, 'j1')).toEqual([
      [2, 0, 'checkpoint of epoch 2, attempt 0'],
      [3, 0, 'checkpoint of epoch 3, attempt 0'],
      [4, 0, 'checkpoint of epoch 4, attempt 0'],
    ]);
    expect(jobs.events('j1').filter((e) => e.kind === 'epoch_checkpoint')).toHaveLength(3);
  });
});

describe('per-epoch checkpoints in the SQLite file', () => {
  it('a process killed inside the write transaction leaves the previous checkpoints intact', () => {
    const dir = tempDir();
    const store = NodeStore.open(dir);
    const jobs = new JobStore(store);
    jobs.put(spec('j1'), 'bank');
    for (let e = 1; e <= 3; e++) jobs.saveEpochCheckpoint('j1', 'train', 0, e, bytesOf(e));
    const before = held(jobs, 'j1');
    store.close();
    // A second process writes epoch 2 (dropping 2 and 3 first) and is killed before the commit.
    const child = spawnSync(
      process.execPath,
      [
        '--disable-warning=ExperimentalWarning',
        '--input-type=module',
        '-e',
        `import { JobStore, NodeStore } from '@fedscore/node';
         const store = NodeStore.open(${JSON.stringify(dir)});
         const jobs = new JobStore(store);
         store.transaction(() => {
           jobs.saveEpochCheckpoint('j1', 'train', 1, 2, new TextEncoder().encode('torn'));
           process.kill(process.pid, 'SIGKILL');
         });`,
      ],
      { cwd: PACKAGE_DIR, encoding: 'utf8', timeout: 30_000 },
    );
    expect(child.signal, child.stderr).toBe('SIGKILL');
    const again = NodeStore.open(dir);
    try {
      expect(held(new JobStore(again), 'j1')).toEqual(before);
      expect(again.integrityCheck()).toEqual([]);
    } finally {
      again.close();
    }
  });
});

describe('the party secret behind the mask keys', () => {
  it('is 32 random bytes (256 bits) made once, kept across restarts, different per node', () => {
    const dir = tempDir();
    const a = NodeStore.open(dir);
    const s1 = Uint8Array.from(new JobStore(a).partySecret(MASK_SEED_SECRET));
    expect(s1).toHaveLength(32);
    expect(new JobStore(a).partySecret(MASK_SEED_SECRET)).toEqual(s1);
    a.close();
    const b = NodeStore.open(dir);
    expect(new JobStore(b).partySecret(MASK_SEED_SECRET)).toEqual(s1);
    b.close();
    const other = new JobStore(NodeStore.inMemory()).partySecret(MASK_SEED_SECRET);
    expect(Buffer.from(other).equals(Buffer.from(s1))).toBe(false);
  });

  it('mask keys: 256-bit HMAC-SHA256 of job and party under the 256-bit secret, distinct per job and party', async () => {
    const secret = Uint8Array.from({ length: 32 }, (_, i) => i);
    const reference = createHmac('sha256', Buffer.from(secret))
      .update('fedscore/hetero-lr/mask-key/2\u0000job-a\u0000bank')
      .digest('hex');
    const key = maskKeyFor(secret, 'job-a', 'bank');
    expect(key).toBeInstanceOf(Uint8Array);
    expect(key.length).toBe(32);
    expect(Buffer.from(key).toString('hex')).toBe(reference);
    const hex = (k: Uint8Array) => Buffer.from(k).toString('hex');
    const keys = new Set([
      hex(maskKeyFor(secret, 'job-a', 'bank')),
      hex(maskKeyFor(secret, 'job-b', 'bank')),
      hex(maskKeyFor(secret, 'job-a', 'government')),
      hex(
        maskKeyFor(
          Uint8Array.from(secret, (v) => v ^ 1),
          'job-a',
          'bank',
        ),
      ),
    ]);
    expect(keys.size).toBe(4);
    for (const short of [new Uint8Array(16), new Uint8Array(31), new Uint8Array(64)]) {
      expect(() => maskKeyFor(short, 'job-a', 'bank')).toThrow(
        expect.objectContaining({ code: 'invalid_argument', field: 'secret' }),
      );
    }
  });
});
