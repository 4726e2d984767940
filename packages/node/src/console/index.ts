export type { ConsoleAccess, ConsolePage } from './access.ts';
export { CONSOLE_PAGES, jobBank, modelBank, ROLE_ACCESS } from './access.ts';
export type {
  ConsoleAccount,
  ConsoleAccountsOptions,
  ConsoleRole,
  ConsoleSession,
  LoginResult,
  ScryptCost,
} from './accounts.ts';
export {
  CONSOLE_MIGRATIONS,
  CONSOLE_ROLES,
  ConsoleAccounts,
  DEFAULT_SCRYPT_COST,
  hashPassword,
  verifyPassword,
} from './accounts.ts';
export type {
  AlertCounts,
  AlertDelivery,
  AlertFilter,
  AlertSeverity,
  ConsoleAlert,
  ConsoleAlertSource,
} from './alerts.ts';
export {
  ALERT_ACK_MIGRATIONS,
  ALERT_SEVERITIES,
  AlertBook,
  alertDeliveries,
  countAlerts,
  parseAlertFilter,
} from './alerts.ts';
export type { ConsoleApiErrorCode } from './api-schema.ts';
export {
  CONSOLE_API_ERRORS,
  consoleAlertListSchema,
  consoleAuditEntrySchema,
  consoleAuditSchema,
  consoleCatalogueSchema,
  consoleConsentListSchema,
  consoleErrorSchema,
  consoleJobListSchema,
  consoleJobSchema,
  consoleModelListSchema,
  consoleModelSchema,
  consoleProductDetailSchema,
  consoleProductListSchema,
  consoleProductSchema,
  consolePublishedProfileSchema,
  consoleSamplesSchema,
  consoleSessionSchema,
  consoleUsageSchema,
} from './api-schema.ts';
export type {
  ConsoleOidcConfig,
  ConsoleOidcOptions,
  OidcFetch,
  OidcIdentity,
  OidcOutcome,
} from './oidc.ts';
export { ConsoleOidc, mapOidcClaims, readOidcClientSecret } from './oidc.ts';
export type {
  AlignedProfile,
  ConsoleChartAssets,
  ConsoleSource,
  DatasetProfile,
  PolicyUsage,
  ScoringUsage,
} from './pages.ts';
export { chartData } from './pages.ts';
export type {
  LoanProduct,
  Preapproval,
  ProductMatch,
  ProductQuery,
  ProductSort,
} from './products.ts';
export { PRODUCT_MIGRATIONS, ProductPool, validateProduct } from './products.ts';
export type { SelfEstimatePageHandler, SelfEstimatePageOptions } from './self-estimate.ts';
export {
  createSelfEstimatePageHandler,
  ESTIMATE_BANK,
  ESTIMATE_BASE,
  ESTIMATE_CLIENT,
  ESTIMATE_CONTENT_SECURITY_POLICY,
  ESTIMATE_SESSION,
} from './self-estimate.ts';
export type { ConsoleHandler, ConsoleOptions } from './server.ts';
export {
  CONTENT_SECURITY_POLICY,
  createConsoleHandler,
  LOGIN_COOKIE,
  OIDC_COOKIE,
  SESSION_COOKIE,
} from './server.ts';
export { profileAlignedSets, profileDatasets, scoringPolicyUsage, scoringUsage } from './usage.ts';
