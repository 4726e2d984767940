export type { OpenStoreOptions, RunResult, SqlRow, SqlValue, StoreMigrations } from './store.ts';
export { NodeStore, STORE_FILE, STORE_MARKER, sha256Hex } from './store.ts';
