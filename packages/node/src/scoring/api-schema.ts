/**
 * The scoring API's request, response and error bodies as zod schemas, and its routes
 * (`SCORING_ROUTES`): the Hono app of server/scoring-api.ts validates with them, and the node's OpenAPI
 * 3.1 document (`openApiDocument`, server/openapi.ts: served at `/v1/openapi.json`, committed as
 * docs/api/openapi.json) is generated from the same declarations with zod 4's `z.toJSONSchema`, so the
 * document cannot drift from what the node accepts and answers.
 *
 * The request holds the applicant's USCC (checksum verified) and the bank's own feature values, named
 * as the registered model names them; the features are checked against the model when it is known (in
 * `ScoringClient`), every missing, extra or non-finite value named by its field. Scores, features and
 * figures are never logged or audited.
 */
import { isValidUscc, normalizeUscc } from '@fedscore/core';
import { z } from 'zod';
import { defineRoute } from '../server/api-route.ts';

/** The API's error codes and the HTTP status each maps to. */
export const SCORING_API_ERRORS = {
  /** The body is not JSON or a field is wrong (`field` names it). */
  invalid_request: 400,
  /** No or an unknown bearer token. */
  unauthenticated: 401,
  /** The enterprise has not authorized this bank's scoring use at the government. */
  consent_missing: 403,
  /**
   * The government's policy does not serve this node's scoring mode (exact mode without its
   * `allowExactMode`) or its number of band thresholds (above its `maxThresholds`): a configuration
   * mismatch between the two nodes, not a property of the applicant.
   */
  policy_refused: 403,
  /** The government holds no record of the applicant. */
  no_record: 404,
  /**
   * Tree models: the government holds a record of the applicant that its part of the model cannot
   * place (a value missing where training had none); the answer names no feature or value.
   */
  unusable_record: 422,
  /** Wrong method on a known path. */
  method_not_allowed: 405,
  /** Unknown path. */
  not_found: 404,
  /** The body is larger than the limit. */
  payload_too_large: 413,
  /** The body is not `application/json`. */
  unsupported_media_type: 415,
  /** The bank's quota of scores for this enterprise at the government is used up. */
  quota_exceeded: 429,
  /** The bank asks the government too often (for this enterprise or overall); retry later. */
  rate_limited: 429,
  /** A bug in the node (the request id locates it in the node's log). */
  internal: 500,
  /** The government node cannot be reached or did not answer in time, or the model cannot be served. */
  upstream_unavailable: 503,
  /** Too many requests waiting for a session with the government. */
  overloaded: 503,
} as const;
export type ScoringApiErrorCode = keyof typeof SCORING_API_ERRORS;

const finiteNumber = z
  .number()
  .refine(Number.isFinite, 'must be a finite number (JSON overflow such as 1e400 is not)');

export const usccSchema = z
  .string()
  .min(1, 'the applicant USCC is required')
  .max(64, 'too long for a USCC')
  .refine((v) => isValidUscc(normalizeUscc(v)), 'not a valid Unified Social Credit Code (GB 32100 checksum)')
  .meta({
    description:
      "The applicant's 18-character Unified Social Credit Code (GB 32100-2015); lower case and surrounding spaces are normalized, the check characters are verified.",
    examples: ['91350100M000100Y43'],
  });

export const scoreRequestSchema = z
  .object({
    applicant: usccSchema,
    features: z.record(z.string().min(1).max(256), finiteNumber.nullable()).meta({
      description:
        "The bank's own feature values of the applicant, named exactly as the registered model's bank part names them (categorical levels one-hot as `name=level`). Every model feature must be present and no other may be; a value is a finite number, or null for a value the bank does not have (imputed with the training mean, as in training).",
      examples: [{ revenue: 1250000, debt_ratio: 0.42, 'industry=retail': 1 }],
    }),
    figures: z.record(z.string().min(1).max(256), finiteNumber.nullable()).optional().meta({
      description:
        "Figures the credit rules read for the pre-approved line (e.g. revenue, tax paid, debt), named as the rules name them; a figure that is also a model feature may be omitted here. A missing figure is treated as the rules' `missingFigure` says.",
    }),
  })
  .strict()
  .meta({ description: 'One applicant to score.' });
export type ScoreRequestBody = z.infer<typeof scoreRequestSchema>;

export const reasonSchema = z
  .object({
    code: z.string().meta({
      description:
        "`bank:<feature>` for one of the bank's features, `government` for the government's whole part (one opaque contribution), `base` for the intercept. For a tree model: `bank:<feature>` is what the bank's own splits on that feature move the trees' value (the government's sides counted as equally likely), `base` the base score plus the trees' reference value, `government` the rest (what the government's splits did given the bank's: one opaque contribution, derived from the score; never an outcome of one of its splits).",
    }),
    source: z.enum(['bank', 'government', 'base']),
    feature: z
      .string()
      .nullable()
      .meta({ description: "The bank's feature name; null for government and base." }),
    points: z.number().meta({
      description:
        'Contribution to the score in points (negative lowers the score). The contributions add up to the score.',
    }),
  })
  .strict()
  .meta({ description: 'One contribution to the score.' });

export const scoreResponseSchema = z
  .object({
    requestId: z.string().meta({ description: 'This call, as both nodes audit it and the node logs it.' }),
    applicant: z.string().meta({ description: 'The normalized USCC.' }),
    model: z
      .object({
        ref: z
          .string()
          .meta({ description: 'Registry reference of the version used, e.g. `sme-credit-line@3`.' }),
        name: z.string(),
        version: z.number().int(),
        modelId: z.string().meta({ description: 'The training run (joint model) id both parties know.' }),
        algorithm: z.string().optional().meta({
          description:
            '`hetero-lr` (a scorecard: scored with protocol scoring.online) or `secureboost` (boosted trees: protocol scoring.tree, each party evaluating only its own splits; exact or band mode).',
        }),
      })
      .strict(),
    mode: z.enum(['exact', 'band']).meta({
      description:
        '`exact`: the joint score is known to the bank; `band`: only the rating band is (score, probability and the government contribution are null).',
    }),
    score: z.number().nullable().meta({
      description: 'Scorecard points: offset - factor x logit(probability of default); higher is better.',
    }),
    probabilityOfDefault: z.number().min(0).max(1).nullable(),
    band: z
      .object({
        name: z.string().nullable().meta({ description: 'Null when the score is below every band.' }),
        index: z.number().int().meta({ description: '0 = the highest band; -1 below every band.' }),
      })
      .strict()
      .nullable()
      .meta({ description: 'Null when the node has no credit rules.' }),
    decision: z
      .object({
        approved: z.boolean(),
        creditLine: z.number().min(0).meta({ description: 'Pre-approved line, 0 when declined.' }),
        currency: z.string(),
        bindingCap: z.enum(['revenue', 'taxPaid', 'leverage', 'maxLine']).nullable(),
        rateBp: z.number().meta({ description: 'Annual rate in basis points after the band discount.' }),
      })
      .strict()
      .nullable()
      .meta({ description: 'Null when the node has no credit rules.' }),
    reasons: z.array(reasonSchema).meta({
      description:
        "Contributions, most negative first: every bank feature, the base, and the government's part as one entry (exact mode only).",
    }),
  })
  .strict()
  .meta({ description: 'The score, band, pre-approved line and reason codes of one applicant.' });
export type ScoreResponseBody = z.infer<typeof scoreResponseSchema>;

/** Applicants of one POST /v1/score/batch (the body limit is `maxBodyBytes` x 16 for this route). */
export const SCORE_BATCH_MAX_APPLICANTS = 256;

export const scoreBatchRequestSchema = z
  .object({
    applicants: z
      .array(scoreRequestSchema)
      .min(1)
      .max(SCORE_BATCH_MAX_APPLICANTS)
      .meta({
        description: `Up to ${SCORE_BATCH_MAX_APPLICANTS} applicants, each as POST /v1/score takes one. A wrong one refuses the whole batch (400, \`field\` e.g. \`applicants[3].features.revenue\`) before the government is asked anything.`,
      }),
  })
  .strict()
  .meta({ description: 'Applicants to score with the served model, scorecard or trees.' });
export type ScoreBatchRequestBody = z.infer<typeof scoreBatchRequestSchema>;

export const scoreBatchResultSchema = z
  .object({
    index: z.number().int().min(0).meta({ description: "The applicant's position in the request." }),
    status: z.number().int().meta({
      description:
        "The HTTP status POST /v1/score would have answered for this applicant alone: 200, or the refusal's (403, 404, 422, 429, 503).",
    }),
    score: scoreResponseSchema.optional().meta({ description: "Status 200: the applicant's answer." }),
    error: z
      .object({
        code: z.enum([
          'consent_missing',
          'policy_refused',
          'no_record',
          'unusable_record',
          'quota_exceeded',
          'rate_limited',
          'upstream_unavailable',
          'overloaded',
        ]),
        message: z.string(),
        requestId: z.string(),
      })
      .strict()
      .optional()
      .meta({ description: 'Any other status: the refusal for this applicant.' }),
  })
  .strict();

export const scoreBatchResponseSchema = z
  .object({
    requestId: z.string().meta({
      description: 'This call; applicant i is audited on both nodes as `<requestId>:<i>`.',
    }),
    results: z.array(scoreBatchResultSchema).meta({ description: 'One per applicant, in request order.' }),
  })
  .strict()
  .meta({ description: "Each applicant's score or refusal." });
export type ScoreBatchResponseBody = z.infer<typeof scoreBatchResponseSchema>;

export const errorSchema = z
  .object({
    error: z
      .object({
        code: z.enum(Object.keys(SCORING_API_ERRORS) as [ScoringApiErrorCode, ...ScoringApiErrorCode[]]),
        message: z.string(),
        field: z.string().optional().meta({ description: 'The request field that was wrong.' }),
        requestId: z.string().optional(),
      })
      .strict(),
  })
  .strict()
  .meta({ description: 'Every non-2xx answer.' });
export type ScoringApiErrorBody = z.infer<typeof errorSchema>;

const errorResponse = (description: string) => ({ description, schema: errorSchema });

/** The scoring API's routes: validated by server/scoring-api.ts, documented by server/openapi.ts. */
export const SCORING_ROUTES = {
  score: defineRoute({
    method: 'post',
    path: '/v1/score',
    operationId: 'score',
    summary: 'Score one applicant',
    tags: ['scoring'],
    security: [{ bearerToken: [] }],
    body: scoreRequestSchema,
    responses: {
      '200': {
        description: 'Scored.',
        headers: { 'x-request-id': { schema: { type: 'string' } } },
        schema: scoreResponseSchema,
      },
      '400': errorResponse('invalid_request: `field` names the wrong field.'),
      '401': errorResponse('unauthenticated: no or an unknown bearer token.'),
      '403': errorResponse(
        "consent_missing: the enterprise has not authorized this bank's scoring use; policy_refused: the government's policy does not serve this node's scoring mode or band count.",
      ),
      '404': errorResponse('no_record: the government holds no record of the applicant.'),
      '422': errorResponse(
        'unusable_record (tree models): the government holds a record of the applicant that its part of the model cannot place (a value missing where training had none).',
      ),
      '413': errorResponse('payload_too_large.'),
      '415': errorResponse('unsupported_media_type: send application/json.'),
      '429': errorResponse(
        "quota_exceeded or rate_limited (the government's per (bank, enterprise) quota or rate refused, before it looked the applicant up); `retry-after` (seconds) is set.",
      ),
      '500': errorResponse('internal.'),
      '503': errorResponse(
        'upstream_unavailable (the government node is unreachable or slow, or the model cannot be served) or overloaded.',
      ),
    },
  }),
  scoreBatch: defineRoute({
    method: 'post',
    path: '/v1/score/batch',
    operationId: 'scoreBatch',
    summary: 'Score several applicants in one call',
    tags: ['scoring'],
    security: [{ bearerToken: [] }],
    body: scoreBatchRequestSchema,
    responses: {
      '200': {
        description: 'Every applicant answered (each with its own status: scored or refused).',
        headers: { 'x-request-id': { schema: { type: 'string' } } },
        schema: scoreBatchResponseSchema,
      },
      '400': errorResponse(
        'invalid_request: `field` names the wrong field, under `applicants[i]`; no applicant was scored.',
      ),
      '401': errorResponse('unauthenticated: no or an unknown bearer token.'),
      '413': errorResponse('payload_too_large.'),
      '415': errorResponse('unsupported_media_type: send application/json.'),
      '500': errorResponse('internal.'),
      '503': errorResponse('upstream_unavailable: the model cannot be served (no applicant was scored).'),
    },
  }),
  openapi: defineRoute({
    method: 'get',
    path: '/v1/openapi.json',
    operationId: 'openapi',
    summary: "The node's OpenAPI document (this one)",
    tags: ['scoring'],
    security: [],
    responses: { '200': { description: 'The OpenAPI document.' } },
  }),
} as const;
