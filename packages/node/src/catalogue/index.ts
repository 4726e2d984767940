export type { CatalogueServiceOptions, PublicationResult, StoredProfile } from './catalogue.ts';
export {
  CATALOGUE_MIGRATIONS,
  CATALOGUE_SESSION_PREFIX,
  CatalogueService,
  FeatureCatalogue,
} from './catalogue.ts';
export type { FeatureProfileSet, FeatureType, PublishedDataset, PublishedFeature } from './profile.ts';
export {
  BASIS_POINTS,
  MIN_PROFILE_ROWS,
  profileDataset,
  profileOwnDatasets,
  RATE_STEPS_BP,
  ROWS_ROUNDING,
  rateStepBp,
  roundShare,
} from './profile.ts';
export {
  CATALOGUE_PROTOCOL,
  CATALOGUE_VERSION,
  checkFeatureProfileSet,
  FEATURE_CATALOGUE,
  FEATURE_PROFILES,
  featureProfileSetSchema,
  MAX_CATALOGUE_PROFILES,
  MAX_DATASET_FEATURES,
  MAX_PROFILE_DATASETS,
} from './steps.ts';
