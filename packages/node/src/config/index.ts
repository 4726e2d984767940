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
  DEFAULT_LEASE_MS,
  DEFAULT_LEASE_RENEW_MS,
  DEFAULT_MAX_SUBMITTED_IDS,
  DEFAULT_MAX_SUBMITTED_RATIO,
  loadNodeConfig,
  nodeConfigSchema,
  queueUrl,
  readTlsFiles,
  storeUrl,
  validateNodeConfig,
} from './config.ts';
