export type { Uint64Value } from './bytes.ts';
export { bytesToHex, concatBytes, hexToBytes, lengthPrefixed, safeUint64 } from './bytes.ts';
export type {
  CapturedMessage,
  Channel,
  ChannelStats,
  Envelope,
  EnvelopeCodec,
  InMemoryNetwork,
  InMemoryNetworkOptions,
  PartyId,
  SessionSpec,
  StepDef,
} from './channel.ts';
export { createInMemoryNetwork, defineStep, ProtocolSession, runParties } from './channel.ts';
export type {
  CsvCell,
  CsvParseResult,
  CsvReadOptions,
  CsvSource,
  CsvSourceHints,
  CsvWriteOptions,
  DuplicateId,
} from './csv.ts';
export {
  DEFAULT_MISSING_TOKENS,
  formatCsv,
  formatCsvRows,
  INFER_DICTIONARY_LIMIT,
  parseCsv,
  parseCsvDetailed,
  parseCsvReadOptions,
  parseDecimal,
} from './csv.ts';
export type { ErrorCode, ErrorLocation, FedscoreErrorOptions } from './errors.ts';
export { ERROR_CODES, FedscoreError, isFedscoreError } from './errors.ts';
export type { RngContext, RngKey } from './keyed-rng.ts';
export { keyedRngReady, loadRngKey, RNG_KEY_BYTES } from './keyed-rng.ts';
export type { LogFields, Logger, LogLevel, LogRecord, ProgressCallback, ProgressEvent } from './logger.ts';
export { atLevel, createLogger, memoryLogger, noopLogger, noProgress } from './logger.ts';
export type { LogisticModel, LogisticRegressionOptions, Standardizer } from './logistic.ts';
export {
  applyStandardizer,
  decisionFunction,
  fitLogisticRegression,
  fitStandardizer,
  predictProba,
  standardize,
} from './logistic.ts';
export type {
  BinarySummary,
  CalibrationBins,
  CalibrationOptions,
  CalibrationStrategy,
  ConfusionAt,
  KsCurve,
  KsResult,
  LiftRow,
  PsiBand,
  PsiBin,
  PsiOptions,
  PsiResult,
  PsiStrategy,
  RocCurve,
  SampleWeightOptions,
} from './metrics.ts';
export {
  auc,
  brier,
  calibrationBins,
  confusionAt,
  gini,
  ks,
  ksCurve,
  liftTable,
  nearestRankPercentile,
  PSI_SHIFTED_ABOVE,
  PSI_STABLE_BELOW,
  populationStabilityIndex,
  psiBand,
  rocCurve,
  summarizeBinary,
} from './metrics.ts';
export type { CryptoRng, Rng, SeededRng } from './rng.ts';
export {
  cryptoRng,
  deriveSeed,
  isCryptoRng,
  normal,
  permutation,
  requireCryptoRng,
  seededRng,
  shuffleInPlace,
  stratifiedHoldout,
  uniform,
  uniformInt,
} from './rng.ts';
export {
  assertSupportedNode,
  MIN_NODE_VERSION,
  nodeVersionProblem,
  siblingModuleUrl,
} from './runtime.ts';
export type {
  CategoricalColumn,
  Column,
  ColumnRole,
  FeatureColumns,
  FittedImputation,
  Imputation,
  ImputePolicy,
  ImputeResult,
  ImputeSpec,
  NumericColumn,
  NumericMatrix,
  NumericMatrixOptions,
  Table,
} from './table.ts';
export {
  alignByIds,
  applyImputation,
  categoricalColumn,
  column,
  createTable,
  featureColumns,
  imputeColumns,
  numericColumn,
  numericMatrix,
  selectRows,
} from './table.ts';
export type {
  GenerateUsccOptions,
  UsccInvalidReason,
  UsccParts,
  UsccValidateOptions,
  UsccValidation,
} from './uscc.ts';
export {
  assertUscc,
  generateUniqueUsccs,
  generateUscc,
  isValidUscc,
  normalizeUscc,
  parseUscc,
  USCC_ALPHABET,
  USCC_LENGTH,
  USCC_REGIONS,
  validateUscc,
} from './uscc.ts';
export {
  assertBytes,
  assertFiniteNumber,
  assertInteger,
  assertNonEmptyString,
  assertOneOf,
  describe,
} from './validate.ts';
