export type { DataSource, NodeConfig, NodeConfigInput, ScoringApiConfig } from './config.ts';
export { loadNodeConfig, nodeConfigSchema, readTlsFiles, validateNodeConfig } from './config.ts';
