export type { StoreDialect } from './dialect.ts';
export type {
  OpenPostgresOptions,
  OpenStoreOptions,
  RunResult,
  SqlRow,
  SqlValue,
  StoreMigrations,
} from './store.ts';
export { NodeStore, STORE_FILE, STORE_MARKER, sha256Hex } from './store.ts';
