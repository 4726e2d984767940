export type { OpenStoreOptions, RunResult, SqlRow, SqlValue, StoreMigrations } from './store.ts';
export { NodeStore, STORE_FILE, sha256Hex } from './store.ts';
