/**
 * Hetero-LR, arbiter role (arbiter mode only): the coordinator of Hardy et al. 2017 / FATE's coordinated
 * LR. It makes the HE key set, publishes the public context (with only the Galois keys the packed
 * gradient needs) and decrypts, for each party, that party's masked gradient -- and for the guest the
 * masked sum of the hosts' validation scores.
 *
 * Messages, in order: <- train-plan (guest); -> public-context (guest, hosts); -> resume-offer (guest),
 * <- resume-from (guest); per epoch:
 * <- epoch-control (guest); per batch, for the guest then each host: <- masked-gradient,
 * -> released-gradient; after a validated epoch: <- validation-masked (guest), -> validation-released;
 * finally <- epoch-control (stop).
 * What the arbiter learns: the plan (row counts, hyperparameters, validation row positions) and values
 * masked by uniform masks of 2^mask_bits (CKKS: statistical distance |g| / 2^(mask_bits+1) per value)
 * or uniform modulo n (Paillier: released as residues, perfect hiding) -- gradients + masks, validation
 * sums + masks. Its CKKS releases are flooded (30-bit statistical security, a budget per fresh key). It never
 * receives features, labels, weights or residuals, even encrypted.
 * Threat model: semi-honest, and it must not collude with a party (it holds the key to everything the
 * others exchange).
 */
import { FedscoreError, type Logger, noopLogger, type PartyId, type ProtocolSession } from '@fedscore/core';
import { checkHeldCheckpoints, checkpointFor, offeredEpochs, planDigest } from './checkpoint.ts';
import {
  CHECKPOINT_FORMAT,
  CHECKPOINT_VERSION,
  type CheckpointCallback,
  type HeteroLrCheckpoint,
} from './checkpoint-state.ts';
import type { LrCipherProvider } from './cipher.ts';
import { contextMessage, releaseMasked, withAbort } from './exchange.ts';
import {
  checkBatchFloor,
  epochBatches,
  type HeteroLrScheme,
  learningRateAt,
  trainingRows,
  validatesAfter,
} from './options.ts';
import { maskSource, planFromWire, plannedReleases } from './plan.ts';
import {
  EPOCH_CONTROL,
  GRADIENT_RELEASE,
  MASKED_GRADIENT,
  PUBLIC_CONTEXT,
  RESUME_FROM,
  RESUME_OFFER,
  TRAIN_PLAN,
  VALIDATION_MASKED,
  VALIDATION_RELEASE,
} from './steps.ts';

export interface HeteroLrArbiterOptions {
  readonly session: ProtocolSession;
  readonly guest: PartyId;
  readonly ciphers: (scheme: HeteroLrScheme) => LrCipherProvider;
  /** Accept the plaintext debug scheme `none`. Default false. */
  readonly allowPlaintextScheme?: boolean;
  /** @deprecated The old name of `allowPlaintextScheme`. */
  readonly allowInsecure?: boolean;
  /**
   * Called at the end of every epoch with the arbiter's checkpoint (epoch and release count: it holds no
   * weights; its keys are made afresh on every start and never written).
   */
  readonly onCheckpoint?: CheckpointCallback;
  /** The checkpoints the arbiter holds (its last few); see HeteroLrGuestOptions.resumeFrom. */
  readonly resumeFrom?: readonly HeteroLrCheckpoint[];
  /**
   * A 256-bit secret (32 bytes from a CSPRNG, never sent; node jobs: `maskKeyFor`) to derive the CKKS
   * flooding noise of each release from: one ChaCha20 stream per release bound to the run, this party,
   * the plan, epoch, batch and recipient (plan.ts `maskSource`, `forFlooding`). A resumed run that
   * repeats an epoch releases what the uninterrupted run released, bit for bit (given the same CKKS
   * decryptions, which the grid absorbs but for a rare boundary case: docs/protocols/hetero-lr.md).
   * Default: fresh noise from the platform CSPRNG on every release.
   */
  readonly floodingKey?: Uint8Array;
  /** Skip the batch-size floor. Only for the attack test (see HeteroLrGuestOptions). */
  readonly unsafeAllowSmallBatches?: boolean;
  readonly logger?: Logger;
}

export interface HeteroLrArbiterResult {
  readonly epochs: number;
  /** Masked vectors decrypted for other parties. */
  readonly releases: number;
  readonly insecure: boolean;
  /** The epoch the run resumed from (0: a fresh start). */
  readonly resumedFrom: number;
}

export class HeteroLrArbiter {
  readonly #o: HeteroLrArbiterOptions;

  constructor(options: HeteroLrArbiterOptions) {
    this.#o = options;
  }

  /** Run the protocol; on a local failure the peers are sent an abort (best effort) before the rethrow. */
  async run(): Promise<HeteroLrArbiterResult> {
    const o = this.#o;
    const peers: PartyId[] = [o.guest];
    return withAbort(o.session, peers, () =>
      this.#run((hosts) => {
        peers.push(...hosts);
      }),
    );
  }

  async #run(onPlan: (hosts: readonly PartyId[]) => void): Promise<HeteroLrArbiterResult> {
    const o = this.#o;
    const s = o.session;
    const log = (o.logger ?? noopLogger).child({ party: s.party, role: 'arbiter' });
    const plan = planFromWire(await s.receive(o.guest, TRAIN_PLAN));
    onPlan(plan.hosts);
    if (plan.mode !== 'arbiter') {
      throw new FedscoreError('protocol_step', 'an arbiter was asked to join a two-party run', {
        field: 'mode',
      });
    }
    if (plan.scheme === 'none' && o.allowPlaintextScheme !== true && o.allowInsecure !== true) {
      throw new FedscoreError('he_insecure_params', "the guest asks for scheme 'none' (no encryption)", {
        field: 'scheme',
      });
    }
    if (plan.maxColumns < 1) {
      throw new FedscoreError('protocol_step', 'plan without max_columns', { field: 'max_columns' });
    }
    const largestBatch = checkBatchFloor(
      trainingRows(plan.rows, plan.validationRows).length,
      plan.batchSize,
      plan.maxColumns,
      o.unsafeAllowSmallBatches === true,
    );
    // A fresh key per run (and per attempt), its flooding sized for every release the plan makes.
    const sk = await o.ciphers(plan.scheme).create({
      batchSize: largestBatch,
      columns: plan.maxColumns,
      releases: plannedReleases(plan, 1 + plan.hosts.length, true),
    });
    const parties = [o.guest, ...plan.hosts];
    let releases = 0;
    let epochs = 0;
    let resumedFrom = 0;
    try {
      const ctx = contextMessage(sk, plan.scheme);
      for (const p of parties) await s.send(p, PUBLIC_CONTEXT, ctx);
      const digest = planDigest(plan);
      // The arbiter holds no data (data digest ''); its key drives only the flooding of its releases.
      const noise = await maskSource(o.floodingKey, undefined, {
        job: plan.modelId,
        party: s.party,
        planDigest: digest,
        dataDigest: '',
      });
      const held = checkHeldCheckpoints(o.resumeFrom, {
        role: 'arbiter',
        party: s.party,
        modelId: plan.modelId,
        planDigest: digest,
        dataDigest: '',
        weights: 0,
        maxEpochs: plan.maxEpochs,
        masks: noise.stream,
      });
      await s.send(o.guest, RESUME_OFFER, offeredEpochs(held));
      resumedFrom = (await s.receive(o.guest, RESUME_FROM))[0]!;
      releases = checkpointFor(held, resumedFrom)?.releases ?? 0;
      let nextEpoch = resumedFrom;
      log.info('hetero-lr arbiter ready', { scheme: plan.scheme, description: sk.description, resumedFrom });
      const train = trainingRows(plan.rows, plan.validationRows);
      const batchesPerEpoch = epochBatches(train, plan.batchSize, plan.shuffleSeed, 0).length;
      for (;;) {
        const ctl = await s.receive(o.guest, EPOCH_CONTROL);
        if (ctl.stop) {
          epochs = ctl.epoch;
          break;
        }
        if (ctl.epoch !== nextEpoch) {
          throw new FedscoreError(
            'protocol_step',
            `guest starts epoch ${ctl.epoch}, arbiter expects ${nextEpoch}`,
            {
              field: 'epoch',
            },
          );
        }
        nextEpoch++;
        for (let b = 0; b < batchesPerEpoch; b++) {
          for (const p of parties) {
            const batch = await s.receive(p, MASKED_GRADIENT);
            if (batch.valueCount < 1 || batch.valueCount > plan.maxColumns) {
              throw new FedscoreError('protocol_step', `a gradient of ${batch.valueCount} values`, {
                field: 'masked-gradient',
              });
            }
            const v = sk.fromBatch(batch, batch.valueCount, 'masked-gradient', 'product');
            const flooding = noise.forFlooding(ctl.epoch, b, `gradient/${p}`);
            await releaseMasked(s, p, sk, v, GRADIENT_RELEASE, flooding);
            releases++;
          }
        }
        if (validatesAfter(ctl.epoch, plan.maxEpochs, plan.validationEvery, plan.validationRows.length > 0)) {
          const v = sk.fromBatch(
            await s.receive(o.guest, VALIDATION_MASKED),
            plan.validationRows.length,
            'validation-masked',
          );
          const flooding = noise.forFlooding(ctl.epoch, batchesPerEpoch, 'validation');
          await releaseMasked(s, o.guest, sk, v, VALIDATION_RELEASE, flooding);
          releases++;
        }
        await o.onCheckpoint?.({
          format: CHECKPOINT_FORMAT,
          version: CHECKPOINT_VERSION,
          role: 'arbiter',
          party: s.party,
          modelId: plan.modelId,
          planDigest: digest,
          dataDigest: '',
          epoch: ctl.epoch + 1,
          nextLearningRate: learningRateAt(plan.learningRate, plan.lrSchedule, plan.lrDecay, ctl.epoch + 1),
          weights: [],
          kept: [],
          keptEpoch: 0,
          masks: noise.stream,
          releases,
        });
      }
    } finally {
      sk.dispose();
    }
    log.info('hetero-lr arbiter done', { epochs, releases });
    return { epochs, releases, insecure: sk.insecure, resumedFrom };
  }
}
