export type {
  ConsoleConfig,
  DataSource,
  NodeConfig,
  NodeConfigInput,
  PostgresStoreConfig,
  QueueConfig,
  ScoringApiConfig,
  StoreConfig,
} from './config.ts';
export {
  catalogueServes,
  consoleEnabled,
  DEFAULT_MAX_SUBMITTED_IDS,
  DEFAULT_MAX_SUBMITTED_RATIO,
  loadNodeConfig,
  nodeConfigSchema,
  readTlsFiles,
  storeUrl,
  validateNodeConfig,
} from './config.ts';
