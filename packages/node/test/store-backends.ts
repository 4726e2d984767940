/**
 * The two store backends for parametrised tests: the embedded SQLite store (in memory) and a PostgreSQL
 * store on a throwaway cluster (the queue tests' pg-cluster.ts: initdb + pg_ctl on loopback), one fresh
 * schema per store so tests never see each other's rows. `describeStores(name, fn)` runs `fn` once per
 * backend; the PostgreSQL run is skipped with the reason printed when no PostgreSQL binaries exist, and
 * fails under CI=true (postgresUnavailable throws there).
 */
import { randomBytes } from 'node:crypto';
import { NodeStore } from '@fedscore/node';
import { type PgCluster, postgresUnavailable, startPgCluster } from '@fedscore/queue/testing';
import { afterAll, afterEach, beforeAll, describe } from 'vitest';

export interface StoreBackend {
  readonly name: 'sqlite' | 'postgres';
  /** A new, empty store. */
  newStore(): NodeStore;
  /** A second store on the same database as `store` (another replica); sqlite: unsupported. */
  replicaOf(store: NodeStore): NodeStore;
  /** The database URL (postgres only). */
  url(): string;
}

const sqlite: StoreBackend = {
  name: 'sqlite',
  newStore: () => NodeStore.inMemory(),
  replicaOf: () => {
    throw new Error('an in-memory SQLite store has no replicas');
  },
  url: () => {
    throw new Error('no URL for SQLite');
  },
};

/** The PostgreSQL backend of one test file: the cluster starts in beforeAll, stops in afterAll. */
function postgresBackend(): StoreBackend {
  let cluster: PgCluster | undefined;
  const open: NodeStore[] = [];
  const schemas = new WeakMap<NodeStore, string>();
  beforeAll(async () => {
    cluster = await startPgCluster();
  });
  afterEach(() => {
    for (const s of open.splice(0)) s.close();
  });
  afterAll(() => {
    for (const s of open.splice(0)) s.close();
    cluster?.stop();
  });
  const url = (): string => {
    if (cluster === undefined) throw new Error('the PostgreSQL cluster did not start');
    return cluster.url;
  };
  const openOn = (schema: string): NodeStore => {
    const s = NodeStore.postgres(url(), { schema });
    schemas.set(s, schema);
    open.push(s);
    return s;
  };
  return {
    name: 'postgres',
    newStore: () => openOn(`t_${randomBytes(6).toString('hex')}`),
    replicaOf: (store) => {
      const schema = schemas.get(store);
      if (schema === undefined) throw new Error('not a store of this backend');
      return openOn(schema);
    },
    url,
  };
}

/** `describe(name)` once per store backend (`name [sqlite]`, `name [postgres]`). */
export function describeStores(name: string, fn: (backend: StoreBackend) => void): void {
  describe(`${name} [sqlite]`, () => fn(sqlite));
  const why = postgresUnavailable();
  if (why !== undefined) {
    console.log(`skipping ${name} [postgres]: ${why}`);
    describe.skip(`${name} [postgres]`, () => {});
    return;
  }
  describe(`${name} [postgres]`, () => fn(postgresBackend()));
}
