export type { HealthReport, HttpEndpoint, HttpEndpointOptions, MetricSample } from './http.ts';
export { renderMetrics, startHttpEndpoint } from './http.ts';
