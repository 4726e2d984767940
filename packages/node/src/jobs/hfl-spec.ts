/**
 * The settings of an 'hfl' job kind in a job spec (spec.ts): a module of its own so that spec.ts, the
 * runner and hfl.ts import it without importing one another.
 */
import { HFL_DEFAULTS } from '@fedscore/pipeline';
import { z } from 'zod';

export const HFL_JOB_KIND = 'hfl';

/** An 'hfl' job's settings (defaults: `fedscore train fedavg`'s, with secure aggregation on). */
export const hflJobSchema = z
  .object({
    /** The feature columns (absent: all of the guest's test dataset's). */
    columns: z.array(z.string().min(1)).min(1).optional(),
    model: z.enum(['lr', 'mlp']).default(HFL_DEFAULTS.model),
    rounds: z.number().int().min(1).max(1000).default(HFL_DEFAULTS.rounds),
    localEpochs: z.number().int().min(1).max(100).default(HFL_DEFAULTS.localEpochs),
    learningRate: z.number().positive().default(HFL_DEFAULTS.learningRate),
    /** Inverse-time decay of the learning rate over rounds: round r uses learningRate / (1 + decay · (r − 1)). */
    learningRateDecay: z.number().min(0).optional(),
    batchSize: z.number().int().min(1).default(HFL_DEFAULTS.batchSize),
    proximalMu: z.number().min(0).default(HFL_DEFAULTS.proximalMu),
    secureAgg: z.boolean().default(HFL_DEFAULTS.secureAgg),
    /** SecAgg+ neighbours per bank (absent: all, the original SecAgg). */
    neighbours: z.number().int().min(1).optional(),
    /**
     * Deadline (ms) of each phase of a round's secure aggregation. With it a bank that misses a deadline,
     * or that fails or stops answering mid-round, drops out: the round completes with the others and
     * later rounds go on without it (runner.ts). Without it any bank's failure fails the attempt.
     */
    phaseDeadlineMs: z.number().int().min(1).optional(),
    /** Deadline (ms) of a round's first phase, which covers local training (default: phaseDeadlineMs). */
    fitDeadlineMs: z.number().int().min(1).optional(),
    dp: z
      .object({
        epsilon: z.number().positive(),
        delta: z.number().gt(0).lt(1).default(HFL_DEFAULTS.dpDelta),
        clipNorm: z.number().positive().default(HFL_DEFAULTS.clipNorm),
      })
      .strict()
      .optional(),
  })
  .strict();
