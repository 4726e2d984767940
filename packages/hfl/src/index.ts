export type { LocalRows } from './local-lr.ts';
export { fitLocalLogistic, logisticScores } from './local-lr.ts';
export type {
  AggregateResult,
  FedAvgOptions,
  FedProxOptions,
  FitInstruction,
  FitReply,
  LocalTrainingConfig,
  RoundRecord,
  RunOptions,
  RunResult,
  SamplingOptions,
  Strategy,
  WeightedSum,
} from './strategy.ts';
export {
  collectByDeadline,
  FedAvg,
  FedProx,
  fitClientCount,
  fromWeightedSum,
  runFederatedRounds,
  sampleClients,
  weightedAverage,
} from './strategy.ts';
