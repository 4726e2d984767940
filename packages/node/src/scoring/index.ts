export type {
  ScoreBatchRequestBody,
  ScoreBatchResponseBody,
  ScoreRequestBody,
  ScoreResponseBody,
  ScoringApiErrorBody,
  ScoringApiErrorCode,
} from './api-schema.ts';
export {
  errorSchema,
  reasonSchema,
  SCORE_BATCH_MAX_APPLICANTS,
  SCORING_API_ERRORS,
  scoreBatchRequestSchema,
  scoreBatchResponseSchema,
  scoreRequestSchema,
  scoreResponseSchema,
  usccSchema,
} from './api-schema.ts';
export type { ScoringClientOptions } from './bank.ts';
export { ScoringClient, ScoringRefusal } from './bank.ts';
export type { ScoringEndpointOptions } from './government.ts';
export { SCORE_SESSION_PREFIX, ScoringEndpoint, TREE_SESSION_PREFIX } from './government.ts';
export type { ApiTokenEntry } from './tokens.ts';
export { API_TOKEN_PREFIX, ApiTokens, apiTokenHash, createApiToken } from './tokens.ts';
