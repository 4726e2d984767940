export type { DataSource, NodeConfig, NodeConfigInput } from './config.ts';
export { loadNodeConfig, nodeConfigSchema, readTlsFiles, validateNodeConfig } from './config.ts';
