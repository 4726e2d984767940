export type {
  AlertBatch,
  CreditEvent,
  CreditEventInput,
  MonitoringServiceOptions,
  RescoreRecord,
  StoredAlert,
} from './monitoring.ts';
export {
  AlertInbox,
  CreditEventFeed,
  consentGatedPartialScore,
  MONITORING_BANK_MIGRATIONS,
  MONITORING_GOV_MIGRATIONS,
  MonitoringService,
  rescoreAlerted,
} from './monitoring.ts';
export type { MonitoringClientOptions, MonitoringEndpointOptions } from './remote.ts';
export {
  MONITOR_SESSION_PREFIX,
  MONITORING_WATCH_MIGRATIONS,
  MonitoringClient,
  MonitoringEndpoint,
  queueWatchChanges,
} from './remote.ts';
export type {
  Alert,
  CreditEventKind,
  MonitorAlerts,
  MonitorRequest,
  WatchAddition,
  WatchRefusals,
} from './steps.ts';
export {
  CREDIT_EVENT_KINDS,
  CREDIT_EVENT_SEVERITY,
  checkMonitorAlerts,
  checkMonitorRequest,
  MAX_ALERTS_PER_REPLY,
  MAX_WATCH_CHANGES,
  MONITOR_ALERTS,
  MONITOR_REQUEST,
  MONITORING_PROTOCOL,
  MONITORING_VERSION,
} from './steps.ts';
