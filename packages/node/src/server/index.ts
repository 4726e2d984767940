export type { HealthReport, HttpEndpoint, HttpEndpointOptions, MetricSample } from './http.ts';
export { renderMetrics, startHttpEndpoint } from './http.ts';
export { openApiDocument } from './openapi.ts';
export type { QueuePruneReport } from './queue.ts';
export type { ScoringApi, ScoringApiOptions } from './scoring-api.ts';
export { startScoringApi } from './scoring-api.ts';
