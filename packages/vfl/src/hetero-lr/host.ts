/**
 * Hetero-LR, host role: a party with features for the aligned rows and no labels (e.g. the government
 * credit node). Follows Hardy et al. 2017 ("Private federated learning on vertically partitioned data
 * via entity resolution and additively homomorphic encryption") and FATE's coordinated LR.
 *
 * Parties: guest (labels), hosts (this role, one or more), arbiter (arbiter mode only, holds the key).
 * Messages this role handles, in order (per batch; see docs/protocols/hetero-lr.md):
 *   <- train-plan (guest); -> host-hello (guest)
 *   arbiter mode: <- public-context (arbiter)
 *   two-party:    -> public-context (guest, own key); <- public-context (guest)
 *   -> resume-offer (guest: epochs of the checkpoints it holds); <- resume-from (guest)
 *   per epoch: <- epoch-control; per batch:
 *     arbiter:   -> host-forward [[u/4]]; <- residual [[d]]; -> masked-gradient [[X^T d/B + r]] (arbiter);
 *                <- released-gradient (arbiter)
 *     two-party: -> host-forward [[u/4]]_H; [<- class-weights [[c]]_G]; [-> peer-forward to other hosts];
 *                <- residual [[q]]_G; [<- peer-forward]; -> masked-gradient [[X^T d/B + r]]_G;
 *                <- masked-gradient [[guest part + m]]_H; -> released-gradient; <- released-gradient
 *   after a validated epoch: -> validation-forward [[X_v w]] (arbiter) | validation-partial X_v w
 *     (two-party); <- validation-result
 *   <- epoch-control (stop)
 * What the host learns: its own gradient per batch (X_h^T d / B, which depends on the labels only
 * through that product), whether an epoch improved validation, the plan (row counts, validation row
 * positions, hyperparameters). Never labels, residuals, guest features or weights: everything else it
 * receives is a ciphertext under a key it does not hold.
 * Threat model: semi-honest parties, no collusion between a key holder and the party whose values it
 * decrypts; masks (from a cryptographic, key-derived generator) hide released values within statistical
 * distance |g| / 2^(maskBits+1) per coordinate under CKKS and none (2^-40 by default; this host refuses
 * plans below its `minMaskBits`) and perfectly under Paillier (uniform modulo n, released as residues);
 * CKKS releases are flooded for 30-bit statistical security -- see docs/protocols/hetero-lr.md.
 */
import { availableParallelism } from 'node:os';
import {
  assertInteger,
  FedscoreError,
  noopLogger,
  noProgress,
  type PartyId,
  type ProtocolSession,
} from '@fedscore/core';
import { checkHeldCheckpoints, checkpointFor, dataDigest, offeredEpochs, planDigest } from './checkpoint.ts';
import { CHECKPOINT_FORMAT, CHECKPOINT_VERSION } from './checkpoint-state.ts';
import type { EncVector, LrCipherProvider, LrCipherPublic, LrCipherSecret } from './cipher.ts';
import {
  consume,
  consumeAsync,
  contextMessage,
  loadContext,
  maskForRelease,
  releaseMasked,
  sendEncrypted,
  withAbort,
} from './exchange.ts';
import {
  checkFeatures,
  contiguousPredictor,
  fitStandardization,
  type PartyFeatures,
  scaledColumns,
  standardizedRowSets,
} from './features.ts';
import { MODEL_FORMAT_VERSION, PARTY_MODEL_FORMAT, type PartyModel } from './model.ts';
import {
  batchOrder,
  checkBatchFloor,
  DEFAULT_MASK_BITS,
  fixedBatches,
  type HeteroLrDataPartyOptions,
  type HeteroLrScheme,
  learningRateAt,
  resolveWorkers,
  trainingRows,
  validatesAfter,
} from './options.ts';
import {
  checkFiniteValues,
  checkMaskCapacity,
  encryptingDerived,
  gradientStep,
  maskSource,
  type Plan,
  planFromWire,
  plannedReleases,
} from './plan.ts';
import {
  CLASS_WEIGHTS,
  EPOCH_CONTROL,
  GRADIENT_RELEASE,
  HOST_FORWARD,
  HOST_HELLO,
  MASKED_GRADIENT,
  PEER_FORWARD,
  PUBLIC_CONTEXT,
  RESIDUAL,
  RESUME_FROM,
  RESUME_OFFER,
  TRAIN_PLAN,
  VALIDATION_FORWARD,
  VALIDATION_PARTIAL,
  VALIDATION_RESULT,
} from './steps.ts';

export interface HeteroLrHostOptions extends HeteroLrDataPartyOptions {
  readonly session: ProtocolSession;
  readonly guest: PartyId;
  /** Required when the guest plans arbiter mode. */
  readonly arbiter?: PartyId;
  readonly features: PartyFeatures;
  /** The HE backend for the scheme the guest plans. */
  readonly ciphers: (scheme: HeteroLrScheme) => LrCipherProvider;
  /** Accept the plaintext debug scheme `none` (default false: refused). */
  readonly allowPlaintextScheme?: boolean;
  /** @deprecated The old name of `allowPlaintextScheme`. */
  readonly allowInsecure?: boolean;
  /** Names to publish in the joint descriptor (default: the real names). */
  readonly publishedNames?: readonly string[];
  /** Skip the batch-size floor. Only for the attack test (see HeteroLrGuestOptions). */
  readonly unsafeAllowSmallBatches?: boolean;
}

export interface HeteroLrHostResult {
  readonly model: PartyModel;
  readonly epochs: number;
  readonly keptEpoch: number;
  readonly insecure: boolean;
  /** The epoch the run resumed from (0: a fresh start). */
  readonly resumedFrom: number;
}

export class HeteroLrHost {
  readonly #o: HeteroLrHostOptions;

  constructor(options: HeteroLrHostOptions) {
    this.#o = options;
  }

  /** Run the protocol; on a local failure the peers are sent an abort (best effort) before the rethrow. */
  async run(): Promise<HeteroLrHostResult> {
    const o = this.#o;
    const peers = [o.guest, ...(o.arbiter !== undefined ? [o.arbiter] : [])];
    return withAbort(o.session, peers, () => this.#run());
  }

  async #run(): Promise<HeteroLrHostResult> {
    const o = this.#o;
    const s = o.session;
    const log = (o.logger ?? noopLogger).child({ party: s.party, role: 'host' });
    const progress = o.onProgress ?? noProgress;
    const rows = checkFeatures(o.features, 'features');
    const p = o.features.columns.length;

    const plan = planFromWire(await s.receive(o.guest, TRAIN_PLAN));
    checkPlan(plan, s.party, rows, o);
    const train = trainingRows(rows, plan.validationRows);
    // Checked here, not trusted from the guest: the widest gradient this host knows of is its own or
    // the guest's (other hosts' widths are checked by the guest and the arbiter).
    const largestBatch = checkBatchFloor(
      train.length,
      plan.batchSize,
      Math.max(p, plan.guestColumns),
      o.unsafeAllowSmallBatches === true,
    );
    const std = fitStandardization(o.features.columns, train, o.features.names);
    const names = o.publishedNames ?? o.features.names;
    if (names.length !== p) {
      throw new FedscoreError('invalid_argument', `expected ${p} names`, { field: 'publishedNames' });
    }
    await s.send(o.guest, HOST_HELLO, { rows, features: p, featureNames: [...names] } as never);

    const provider = o.ciphers(plan.scheme);
    const runtime = {
      workers: resolveWorkers(o.runtime, train.length, p, plan.maxEpochs, availableParallelism()),
      ...(o.runtime?.diagonalCacheMiB !== undefined && { diagonalCacheMiB: o.runtime.diagonalCacheMiB }),
      ...(o.runtime?.offload !== undefined && { offload: o.runtime.offload }),
    };
    let pk: LrCipherPublic;
    let own: LrCipherSecret | undefined;
    if (plan.mode === 'arbiter') {
      pk = await loadContext(provider, await s.receive(o.arbiter!, PUBLIC_CONTEXT), plan.scheme, runtime);
    } else {
      own = await provider.create({
        batchSize: largestBatch,
        columns: plan.guestColumns,
        releases: plannedReleases(plan, 1, false),
      });
      await s.send(o.guest, PUBLIC_CONTEXT, contextMessage(own, plan.scheme));
      pk = await loadContext(provider, await s.receive(o.guest, PUBLIC_CONTEXT), plan.scheme, runtime);
    }
    const insecure = pk.insecure || (own?.insecure ?? false);
    checkMaskCapacity(plan.maskBits, pk);

    const digest = planDigest(plan);
    const myData = dataDigest(o.features);
    const masks = await maskSource(o.maskKey, o.maskRng, {
      job: plan.modelId,
      party: s.party,
      planDigest: digest,
      dataDigest: myData,
    });
    const held = checkHeldCheckpoints(o.resumeFrom, {
      role: 'host',
      party: s.party,
      modelId: plan.modelId,
      planDigest: digest,
      dataDigest: myData,
      weights: p,
      maxEpochs: plan.maxEpochs,
      masks: masks.stream,
    });
    await s.send(o.guest, RESUME_OFFER, offeredEpochs(held));
    const resumedFrom = (await s.receive(o.guest, RESUME_FROM))[0]!;
    const restored = checkpointFor(held, resumedFrom);
    log.info('hetero-lr host ready', {
      mode: plan.mode,
      scheme: plan.scheme,
      rows,
      features: p,
      insecure,
      resumedFrom,
    });

    const others = plan.hosts.filter((h) => h !== s.party);
    const fixed = fixedBatches(train, plan.batchSize, plan.shuffleSeed);
    // Each batch's standardized rows, and the validation rows', gathered once (batch membership is fixed).
    const [validationX, ...batchX] = standardizedRowSets(o.features.columns, std, [
      plan.validationRows,
      ...fixed,
    ]);
    const w = new Float64Array(p);
    let kept = Float64Array.from(w);
    let keptEpoch = 0;
    let epochs = 0;
    if (restored !== undefined) {
      w.set(restored.weights);
      kept = Float64Array.from(restored.kept);
      keptEpoch = restored.keptEpoch;
    }
    let nextEpoch = resumedFrom;
    const hasValidation = plan.validationRows.length > 0;
    try {
      for (;;) {
        const ctl = await s.receive(o.guest, EPOCH_CONTROL);
        if (ctl.stop) {
          epochs = ctl.epoch;
          if (!hasValidation) {
            kept = Float64Array.from(w);
            keptEpoch = epochs;
          } else if (ctl.keepEpoch !== keptEpoch) {
            throw new FedscoreError(
              'protocol_step',
              `guest keeps epoch ${ctl.keepEpoch}, host has ${keptEpoch}`,
              {
                field: 'keep_epoch',
              },
            );
          }
          break;
        }
        const e = ctl.epoch;
        if (e !== nextEpoch) {
          throw new FedscoreError('protocol_step', `guest starts epoch ${e}, host expects ${nextEpoch}`, {
            field: 'epoch',
          });
        }
        nextEpoch++;
        const lr = learningRateAt(plan.learningRate, plan.lrSchedule, plan.lrDecay, e);
        const order = batchOrder(fixed.length, plan.shuffleSeed, e);
        for (let bi = 0; bi < order.length; bi++) {
          const batchId = order[bi]!;
          const b = fixed[batchId]!;
          const cacheKey = `batch-${batchId}`;
          const B = b.length;
          const Xb = batchX[batchId]!;
          const u4 = contiguousPredictor(Xb, w, B).map((v) => 0.25 * v);
          checkFiniteValues(u4, e + 1, 'partial predictions');
          const cols = scaledColumns(Xb, 1 / B);
          const rng = masks.forRelease(e, bi, 'gradient');
          let released: Float64Array;
          if (plan.mode === 'arbiter') {
            const fwd = encryptingDerived(e + 1, 'partial predictions', () => pk.encrypt(u4));
            await sendEncrypted(s, o.guest, HOST_FORWARD, pk, fwd);
            const d = pk.fromBatch(await s.receive(o.guest, RESIDUAL), B, 'residual');
            const g = await consumeAsync(d, () => pk.matVecTAsync(d, cols, cacheKey));
            const m = maskForRelease(pk, g, rng, plan.maskBits, GRADIENT_RELEASE, 'released-gradient');
            await sendEncrypted(s, o.arbiter!, MASKED_GRADIENT, pk, m.masked);
            released = await m.read(s, o.arbiter!);
          } else {
            const me = own!;
            const fwd = encryptingDerived(e + 1, 'partial predictions', () => me.encrypt(u4));
            await sendEncrypted(s, o.guest, HOST_FORWARD, me, fwd);
            let mine: EncVector | undefined;
            if (plan.classWeighted) {
              const cw = pk.fromBatch(await s.receive(o.guest, CLASS_WEIGHTS), B, 'class-weights');
              mine = consume(cw, () => pk.mulPlain(cw, u4));
            }
            if (others.length > 0) {
              const peer = mine ?? pk.encrypt(u4);
              const batch = pk.toBatch(peer);
              for (const h of others) await s.send(h, PEER_FORWARD, batch);
              if (mine === undefined) peer.dispose();
            }
            const q = pk.fromBatch(await s.receive(o.guest, RESIDUAL), B, 'residual');
            let d = consume(q, () => (mine === undefined ? pk.addPlain(q, u4) : pk.add(q, mine)));
            mine?.dispose();
            for (const h of others) {
              const v = pk.fromBatch(await s.receive(h, PEER_FORWARD), B, 'peer-forward');
              const prev = d;
              d = pk.add(prev, v);
              prev.dispose();
              v.dispose();
            }
            const dd = d;
            const g = await consumeAsync(dd, () => pk.matVecTAsync(dd, cols, cacheKey));
            const m = maskForRelease(pk, g, rng, plan.maskBits, GRADIENT_RELEASE, 'released-gradient');
            await sendEncrypted(s, o.guest, MASKED_GRADIENT, pk, m.masked);
            // Decrypt the guest's masked part (under this host's key) for the guest.
            const theirs = me.fromBatch(
              await s.receive(o.guest, MASKED_GRADIENT),
              plan.guestColumns,
              'masked-gradient',
              'product',
            );
            await releaseMasked(
              s,
              o.guest,
              me,
              theirs,
              GRADIENT_RELEASE,
              masks.forFlooding(e, bi, 'gradient'),
            );
            released = await m.read(s, o.guest);
          }
          gradientStep(w, released, lr, plan.l2);
          checkFiniteValues(w, e + 1, 'weights');
          progress({ stage: 'hetero-lr host batch', done: bi + 1, total: order.length, unit: 'batch' });
        }
        if (validatesAfter(e, plan.maxEpochs, plan.validationEvery, hasValidation)) {
          const uv = contiguousPredictor(validationX!, w, plan.validationRows.length);
          if (plan.mode === 'arbiter')
            await sendEncrypted(s, o.guest, VALIDATION_FORWARD, pk, pk.encrypt(uv));
          else await s.send(o.guest, VALIDATION_PARTIAL, uv);
          const res = await s.receive(o.guest, VALIDATION_RESULT);
          if (res.epoch !== e + 1) {
            throw new FedscoreError('protocol_step', `validation result for epoch ${res.epoch}`, {
              field: 'epoch',
            });
          }
          if (res.improved) {
            kept = Float64Array.from(w);
            keptEpoch = e + 1;
          }
        }
        await o.onCheckpoint?.({
          format: CHECKPOINT_FORMAT,
          version: CHECKPOINT_VERSION,
          role: 'host',
          party: s.party,
          modelId: plan.modelId,
          planDigest: digest,
          dataDigest: myData,
          epoch: e + 1,
          nextLearningRate: learningRateAt(plan.learningRate, plan.lrSchedule, plan.lrDecay, e + 1),
          weights: Array.from(w),
          kept: Array.from(kept),
          keptEpoch,
          masks: masks.stream,
        });
      }
    } finally {
      pk.dispose();
      own?.dispose();
    }
    log.info('hetero-lr host done', { epochs, keptEpoch });
    return {
      model: {
        format: PARTY_MODEL_FORMAT,
        version: MODEL_FORMAT_VERSION,
        modelId: plan.modelId,
        party: s.party,
        role: 'host',
        featureNames: [...o.features.names],
        standardization: std,
        weights: Array.from(kept),
        intercept: 0,
      },
      epochs,
      keptEpoch,
      insecure,
      resumedFrom,
    };
  }
}

function checkPlan(plan: Plan, me: string, rows: number, o: HeteroLrHostOptions): void {
  if (!plan.hosts.includes(me)) {
    throw new FedscoreError('protocol_step', `the plan does not list host '${me}'`, { field: 'hosts' });
  }
  if (plan.rows !== rows) {
    throw new FedscoreError(
      'invalid_argument',
      `the guest has ${plan.rows} aligned rows, this host ${rows}`,
      {
        field: 'rows',
      },
    );
  }
  if (plan.scheme === 'none' && o.allowPlaintextScheme !== true && o.allowInsecure !== true) {
    throw new FedscoreError('he_insecure_params', "the guest asks for scheme 'none' (no encryption)", {
      field: 'scheme',
    });
  }
  if (plan.mode === 'arbiter' && o.arbiter === undefined) {
    throw new FedscoreError('invalid_config', 'arbiter mode needs the arbiter party id', {
      field: 'arbiter',
    });
  }
  const floor = assertInteger(o.minMaskBits ?? DEFAULT_MASK_BITS, 'minMaskBits', 0, 40);
  if (plan.maskBits < floor) {
    throw new FedscoreError(
      'privacy_floor',
      `the guest plans masks of 2^${plan.maskBits}; this host requires at least 2^${floor}`,
      { field: 'mask_bits', details: { planned: plan.maskBits, floor } },
    );
  }
  if (plan.mode === 'two-party' && plan.guestColumns < 1) {
    throw new FedscoreError('protocol_step', 'two-party plan without guest_columns', {
      field: 'guest_columns',
    });
  }
}
