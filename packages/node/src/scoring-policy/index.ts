export type { RequestWindow, ScoringPolicyConfig } from './scoring-policy.ts';
export {
  DEFAULT_SCORING_POLICY,
  governmentOnlineScoring,
  SCORING_QUOTA_MIGRATIONS,
  ScoringQuota,
} from './scoring-policy.ts';
