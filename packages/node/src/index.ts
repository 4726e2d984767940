export type { OpenStoreOptions, RunResult, SqlRow, SqlValue, StoreMigrations } from './store/index.ts';
export { NodeStore, STORE_FILE, sha256Hex } from './store/index.ts';
