export type {
  ConsoleConfig,
  DataSource,
  NodeConfig,
  NodeConfigInput,
  QueueConfig,
  ScoringApiConfig,
} from './config.ts';
export {
  consoleEnabled,
  DEFAULT_MAX_SUBMITTED_IDS,
  DEFAULT_MAX_SUBMITTED_RATIO,
  loadNodeConfig,
  nodeConfigSchema,
  readTlsFiles,
  validateNodeConfig,
} from './config.ts';
