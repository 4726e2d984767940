/** The model kind of a portfolio scoring job with a SecureBoost model (stages/tree-score.ts). */
export const TREE_SCORE_KIND = 'secureboost-score';
