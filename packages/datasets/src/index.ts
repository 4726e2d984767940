export type { BaselineOptions, BaselineResult, BaselineScore } from './population/baseline.ts';
export { centralizedLrBaseline } from './population/baseline.ts';
export type {
  BankBlock,
  ExtraFeatureSpec,
  ExtraTransform,
  LatentFactor,
  PartyBlock,
  PopulationBlock,
  PopulationCursor,
  PopulationPlan,
} from './population/engine.ts';
export { EXTRA_MISSING_RATE, PILOT_ROWS, startPopulation } from './population/engine.ts';
export type { GenerateOptions, Population, PopulationTruth } from './population/generate.ts';
export { generatePopulation } from './population/generate.ts';
export type {
  HorizontalBank,
  HorizontalSegment,
  HorizontalSplit,
  HorizontalSplitOptions,
} from './population/horizontal.ts';
export { splitHorizontal } from './population/horizontal.ts';
export type { FeatureKind, FeatureOwner, FeatureSpec, IndustrySpec, RegionSpec } from './population/model.ts';
export {
  BANK_FEATURES,
  DEFAULT_LABEL_COLUMN,
  DEFAULT_MODEL,
  FACTOR_LOADING,
  GOVERNMENT_FEATURES,
  ID_COLUMN,
  INDUSTRIES,
  LABEL_DESCRIPTION,
  REGIONS,
} from './population/model.ts';
export type { PopulationOptions, ResolvedPopulationOptions } from './population/options.ts';
export {
  MAX_ENTERPRISES,
  MAX_EXTRA_FEATURES,
  POPULATION_DEFAULTS,
  resolvePopulationOptions,
} from './population/options.ts';
export type {
  ManifestFeature,
  PopulationManifest,
  WriteOptions,
  WrittenFile,
  WrittenPopulation,
} from './population/write.ts';
export {
  BANK_FILE,
  featureDictionary,
  GOVERNMENT_FILE,
  MANIFEST_FILE,
  MANIFEST_FORMAT,
  writePopulation,
} from './population/write.ts';
export type { ConvertedDataset, ConvertedTable } from './public/convert.ts';
export {
  convertDefaultCredit,
  convertGerman,
  DEFAULT_CREDIT_GUEST,
  DEFAULT_CREDIT_HOST,
  GERMAN_ATTRIBUTES,
} from './public/convert.ts';
export type { FetchedDataset, FetchedFile, FetchOptions } from './public/fetch.ts';
export { fetchPublicDataset, publicDatasetSource } from './public/fetch.ts';
export type { PublicDatasetSource } from './public/sources.ts';
export { PUBLIC_DATASETS, publicDatasetNames } from './public/sources.ts';
