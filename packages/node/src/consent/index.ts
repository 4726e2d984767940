export type {
  ConsentExclusions,
  ConsentFilterResult,
  ConsentGrant,
  ConsentPurpose,
  ConsentQuery,
  ConsentRecord,
  ConsentRegistryOptions,
  ConsentStatus,
} from './consent-registry.ts';
export { ALL_CATEGORIES, CONSENT_MIGRATIONS, CONSENT_PURPOSES, ConsentRegistry } from './consent-registry.ts';
