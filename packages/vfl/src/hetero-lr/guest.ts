/**
 * Hetero-LR, guest role: the label holder (a bank). It leads the run: it plans, holds the labels, the
 * intercept and the validation split, and decides when to stop. Follows Hardy et al. 2017 and FATE's
 * coordinated LR; the sigmoid is its first-order Taylor expansion 0.5 + z/4 (the loss is the matching
 * second-order expansion of the log-loss, as in Hardy et al.).
 *
 * Messages this role handles, in order (see docs/protocols/hetero-lr.md for the full table):
 *   -> train-plan (hosts); <- host-hello (hosts); arbiter: -> train-plan (arbiter), <- public-context
 *   two-party: -> public-context (hosts, own key), <- public-context (each host's key)
 *   <- resume-offer (hosts, arbiter); -> resume-from (hosts, arbiter): the latest epoch all hold
 *   per epoch: -> epoch-control; per batch:
 *     arbiter:   <- host-forward [[u_h/4]]; -> residual [[d]] = c (sum [[u_h/4]] + u_g/4 + 1/2 - y);
 *                -> masked-gradient [[X_g^T d/B + r]] (arbiter); <- released-gradient
 *     two-party: [-> class-weights [[c]]_G]; -> residual [[q]]_G, q = c (u_g/4 + 1/2 - y);
 *                <- host-forward [[u_h/4]]_H; -> masked-gradient [[X_g^T (c u_h/4)/B + m]]_H;
 *                <- masked-gradient [[X_h^T d/B + r]]_G; -> released-gradient; <- released-gradient
 *   after a validated epoch: <- validation-forward / validation-partial; arbiter: -> validation-masked,
 *     <- validation-released; -> validation-result (hosts)
 *   -> epoch-control (stop, kept epoch)
 * What the guest learns: its own gradient per batch (X_g^T d / B, hence X_g^T (sum_h u_h) / B); in
 * two-party mode the same per host; the joint validation scores (sum of partial scores -- what joint
 * scoring gives it anyway; with one host that is the host's partial score on validation rows). Never
 * host features or weights: host-forward and masked values arrive under keys it does not hold.
 * Threat model: semi-honest, no collusion with the arbiter.
 */
import { availableParallelism } from 'node:os';
import {
  auc,
  type CryptoRng,
  FedscoreError,
  noopLogger,
  noProgress,
  type PartyId,
  type ProtocolSession,
  seededRng,
  stratifiedHoldout,
} from '@fedscore/core';
import {
  checkHeldCheckpoints,
  checkpointFor,
  commonResumeEpoch,
  dataDigest,
  offeredEpochs,
  planDigest,
} from './checkpoint.ts';
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
import {
  JOINT_MODEL_FORMAT,
  type JointModelDescriptor,
  MODEL_FORMAT_VERSION,
  PARTY_MODEL_FORMAT,
  type PartyModel,
} from './model.ts';
import {
  batchOrder,
  checkBatchFloor,
  fixedBatches,
  type HeteroLrDataPartyOptions,
  type HeteroLrHyperparams,
  type HeteroLrMode,
  type HeteroLrScheme,
  learningRateAt,
  type ResolvedHyperparams,
  resolveHyperparams,
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
  plannedReleases,
  planToWire,
} from './plan.ts';
import {
  CLASS_WEIGHTS,
  EPOCH_CONTROL,
  GRADIENT_RELEASE,
  HOST_FORWARD,
  HOST_HELLO,
  MASKED_GRADIENT,
  PUBLIC_CONTEXT,
  RESIDUAL,
  RESUME_FROM,
  RESUME_OFFER,
  TRAIN_PLAN,
  VALIDATION_FORWARD,
  VALIDATION_MASKED,
  VALIDATION_PARTIAL,
  VALIDATION_RELEASE,
  VALIDATION_RESULT,
} from './steps.ts';

export interface HeteroLrGuestOptions extends HeteroLrDataPartyOptions {
  readonly session: ProtocolSession;
  readonly hosts: readonly PartyId[];
  /** Required in arbiter mode. */
  readonly arbiter?: PartyId;
  readonly mode: HeteroLrMode;
  readonly scheme: HeteroLrScheme;
  readonly features: PartyFeatures;
  /** 0/1 per aligned row (1 = the event, e.g. default). */
  readonly labels: ArrayLike<number>;
  readonly hyperparams?: HeteroLrHyperparams;
  readonly ciphers: (scheme: HeteroLrScheme) => LrCipherProvider;
  /** Default: derived from the session id. */
  readonly modelId?: string;
  /**
   * Skip the batch-size floor (`checkBatchFloor`). Only for the attack test that shows what the floor
   * prevents: with it, a host solves the labels of a small batch from its own gradient.
   */
  readonly unsafeAllowSmallBatches?: boolean;
}

/** One epoch of the run, as the guest saw it. */
export interface EpochRecord {
  readonly epoch: number;
  readonly learningRate: number;
  readonly seconds: number;
  /** Validation AUC after this epoch, when validated. */
  readonly validationAuc?: number;
}

export interface HeteroLrGuestResult {
  readonly model: PartyModel;
  readonly descriptor: JointModelDescriptor;
  readonly history: readonly EpochRecord[];
  readonly epochs: number;
  readonly keptEpoch: number;
  readonly insecure: boolean;
  /** The epoch the run resumed from (0: a fresh start). */
  readonly resumedFrom: number;
}

export class HeteroLrGuest {
  readonly #o: HeteroLrGuestOptions;

  constructor(options: HeteroLrGuestOptions) {
    this.#o = options;
  }

  /** Run the protocol; on a local failure every peer is sent an abort (best effort) before the rethrow. */
  async run(): Promise<HeteroLrGuestResult> {
    const o = this.#o;
    const peers = [...(o.hosts ?? []), ...(o.arbiter !== undefined ? [o.arbiter] : [])];
    return withAbort(o.session, peers, () => this.#run());
  }

  async #run(): Promise<HeteroLrGuestResult> {
    const o = this.#o;
    const s = o.session;
    const log = (o.logger ?? noopLogger).child({ party: s.party, role: 'guest' });
    const progress = o.onProgress ?? noProgress;
    const h = resolveHyperparams(o.hyperparams);
    const rows = checkFeatures(o.features, 'guest.features');
    const y = checkLabels(o.labels, rows);
    const pg = o.features.columns.length;
    if (o.hosts.length === 0)
      throw new FedscoreError('invalid_argument', 'at least one host', { field: 'hosts' });
    if (o.mode === 'arbiter' && o.arbiter === undefined) {
      throw new FedscoreError('invalid_config', 'arbiter mode needs the arbiter party id', {
        field: 'arbiter',
      });
    }

    const validationRows = stratifiedHoldout(
      y,
      h.validationFraction,
      seededRng(`hetero-lr/validation/${h.seed}`),
    );
    const train = trainingRows(rows, validationRows);
    const unsafeBatches = o.unsafeAllowSmallBatches === true;
    checkBatchFloor(train.length, h.batchSize, pg + 1, unsafeBatches);
    const plan0 = makePlan(o, h, rows, validationRows, pg);
    for (const host of o.hosts) await s.send(host, TRAIN_PLAN, planToWire(plan0));
    const hostNames: string[][] = [];
    for (const host of o.hosts) {
      const hello = await s.receive(host, HOST_HELLO);
      if (hello.rows !== rows) {
        throw new FedscoreError(
          'invalid_argument',
          `host '${host}' has ${hello.rows} aligned rows, guest ${rows}`,
          {
            field: 'rows',
          },
        );
      }
      hostNames.push([...hello.featureNames]);
    }
    const hostColumns = hostNames.map((n) => n.length);
    const plan: Plan = { ...plan0, maxColumns: Math.max(pg + 1, ...hostColumns) };
    const largestBatch = checkBatchFloor(train.length, h.batchSize, plan.maxColumns, unsafeBatches);

    const provider = o.ciphers(o.scheme);
    const runtime = {
      workers: resolveWorkers(o.runtime, train.length, pg + 1, h.maxEpochs, availableParallelism()),
      ...(o.runtime?.diagonalCacheMiB !== undefined && { diagonalCacheMiB: o.runtime.diagonalCacheMiB }),
      ...(o.runtime?.offload !== undefined && { offload: o.runtime.offload }),
    };
    let pk: LrCipherPublic | undefined; // arbiter's key
    let own: LrCipherSecret | undefined; // two-party: the guest's own key
    const hostKeys: LrCipherPublic[] = [];
    if (o.mode === 'arbiter') {
      await s.send(o.arbiter!, TRAIN_PLAN, planToWire(plan));
      pk = await loadContext(provider, await s.receive(o.arbiter!, PUBLIC_CONTEXT), o.scheme, runtime);
    } else {
      own = await provider.create({
        batchSize: largestBatch,
        columns: Math.max(...hostColumns),
        releases: plannedReleases(plan, o.hosts.length, false),
      });
      for (const host of o.hosts) await s.send(host, PUBLIC_CONTEXT, contextMessage(own, o.scheme));
      for (const host of o.hosts)
        hostKeys.push(await loadContext(provider, await s.receive(host, PUBLIC_CONTEXT), o.scheme, runtime));
    }
    const insecure = (pk?.insecure ?? false) || (own?.insecure ?? false) || hostKeys.some((k) => k.insecure);
    for (const key of pk !== undefined ? [pk] : hostKeys) checkMaskCapacity(h.maskBits, key);

    // Resume handshake: the latest epoch every party holds a checkpoint of.
    const digest = planDigest(plan);
    const myData = dataDigest(o.features, y);
    const masks = await maskSource(o.maskKey, o.maskRng, {
      job: plan.modelId,
      party: s.party,
      planDigest: digest,
      dataDigest: myData,
    });
    const held = checkHeldCheckpoints(o.resumeFrom, {
      role: 'guest',
      party: s.party,
      modelId: plan.modelId,
      planDigest: digest,
      dataDigest: myData,
      weights: pg + 1,
      maxEpochs: h.maxEpochs,
      masks: masks.stream,
    });
    const offers: Uint32Array[] = [offeredEpochs(held)];
    for (const p of othersOf(o)) offers.push(await s.receive(p, RESUME_OFFER));
    const resumedFrom = commonResumeEpoch(offers);
    for (const p of othersOf(o)) await s.send(p, RESUME_FROM, Uint32Array.of(resumedFrom));
    const restored = checkpointFor(held, resumedFrom);
    log.info('hetero-lr guest ready', {
      mode: o.mode,
      scheme: o.scheme,
      rows,
      features: pg,
      insecure,
      resumedFrom,
    });

    const std = fitStandardization(o.features.columns, train, o.features.names);
    const weights = classWeights(y, train, h);
    const fixed = fixedBatches(train, h.batchSize, plan.shuffleSeed);
    // Each batch's standardized rows, and the validation rows', gathered once (batch membership is fixed).
    const [validationX, ...batchX] = standardizedRowSets(o.features.columns, std, [validationRows, ...fixed]);
    const others = othersOf(o);
    const yv = Float64Array.from(validationRows, (r) => y[r]!);
    const hasValidation = validationRows.length > 0;

    // w[0..pg-1] features, w[pg] intercept.
    const w = new Float64Array(pg + 1);
    let kept = Float64Array.from(w);
    let keptEpoch = 0;
    let bestAuc = -Infinity;
    let sinceBest = 0;
    const history: EpochRecord[] = [];
    let epochs = 0;
    let stop = false;
    if (restored !== undefined) {
      w.set(restored.weights);
      kept = Float64Array.from(restored.kept);
      keptEpoch = restored.keptEpoch;
      const es = restored.earlyStopping!;
      bestAuc = es.bestAuc ?? -Infinity;
      sinceBest = es.sinceBest;
      stop = es.stop;
      history.push(...restored.history!.map((r) => ({ ...r })));
      epochs = restored.epoch;
    }
    try {
      for (let e = epochs; e < h.maxEpochs && !stop; e++) {
        const t0 = performance.now();
        for (const p of others)
          await s.send(p, EPOCH_CONTROL, { epoch: e, stop: false, keepEpoch: 0 } as never);
        const lr = learningRateAt(h.learningRate, h.lrSchedule, h.lrDecay, e);
        const order = batchOrder(fixed.length, plan.shuffleSeed, e);
        for (let bi = 0; bi < order.length; bi++) {
          const batchId = order[bi]!;
          const b = fixed[batchId]!;
          const cacheKey = `batch-${batchId}`;
          const B = b.length;
          const c = Float64Array.from(b, (r) => weights[r]!);
          const Xb = batchX[batchId]!;
          const ug = contiguousPredictor(Xb, w.subarray(0, pg), B);
          const q = Float64Array.from(b, (r, k) => c[k]! * (0.25 * (ug[k]! + w[pg]!) + 0.5 - y[r]!));
          const cols = scaledColumns(Xb, 1 / B);
          cols.push(new Float64Array(B).fill(1 / B)); // intercept column
          let grad: Float64Array;
          if (o.mode === 'arbiter') {
            const key = pk!;
            let acc: EncVector | undefined;
            for (const host of o.hosts) {
              const f = key.fromBatch(await s.receive(host, HOST_FORWARD), B, 'host-forward');
              if (acc === undefined) acc = f;
              else {
                const prev: EncVector = acc;
                acc = consume(prev, () => key.add(prev, f));
                f.dispose();
              }
            }
            const sum = acc!;
            const weighted = plan.classWeighted ? consume(sum, () => key.mulPlain(sum, c)) : sum;
            checkFiniteValues(q, e + 1, 'residuals');
            const d = consume(weighted, () =>
              encryptingDerived(e + 1, 'residuals', () => key.addPlain(weighted, q)),
            );
            const batch = key.toBatch(d);
            for (const host of o.hosts) await s.send(host, RESIDUAL, batch);
            const g = await consumeAsync(d, () => key.matVecTAsync(d, cols, cacheKey));
            const rng = masks.forRelease(e, bi, 'gradient');
            const m = maskForRelease(key, g, rng, h.maskBits, GRADIENT_RELEASE, 'released-gradient');
            await sendEncrypted(s, o.arbiter!, MASKED_GRADIENT, key, m.masked);
            grad = await m.read(s, o.arbiter!);
          } else {
            const me = own!;
            if (plan.classWeighted) {
              const ce = me.encrypt(c);
              const batch = me.toBatch(ce);
              ce.dispose();
              for (const host of o.hosts) await s.send(host, CLASS_WEIGHTS, batch);
            }
            {
              checkFiniteValues(q, e + 1, 'residuals');
              const qe = encryptingDerived(e + 1, 'residuals', () => me.encrypt(q));
              const batch = me.toBatch(qe);
              qe.dispose();
              for (const host of o.hosts) await s.send(host, RESIDUAL, batch);
            }
            // The guest's own part X_g^T q / B in the clear.
            grad = Float64Array.from(cols, (col) => dot(col, q));
            const colsC = plan.classWeighted ? cols.map((col) => col.map((v, k) => v * c[k]!)) : cols;
            const reads: ReturnType<typeof maskForRelease>['read'][] = [];
            for (let hi = 0; hi < o.hosts.length; hi++) {
              const host = o.hosts[hi]!;
              const key = hostKeys[hi]!;
              const f = key.fromBatch(await s.receive(host, HOST_FORWARD), B, 'host-forward');
              const sp = await consumeAsync(f, () => key.matVecTAsync(f, colsC, cacheKey));
              const rng = masks.forRelease(e, bi, `gradient/${host}`);
              const m = maskForRelease(key, sp, rng, h.maskBits, GRADIENT_RELEASE, 'released-gradient');
              reads.push(m.read);
              await sendEncrypted(s, host, MASKED_GRADIENT, key, m.masked);
            }
            for (let hi = 0; hi < o.hosts.length; hi++) {
              const host = o.hosts[hi]!;
              const mg = me.fromBatch(
                await s.receive(host, MASKED_GRADIENT),
                hostColumns[hi]!,
                'masked-gradient',
                'product',
              );
              await releaseMasked(
                s,
                host,
                me,
                mg,
                GRADIENT_RELEASE,
                masks.forFlooding(e, bi, `gradient/${host}`),
              );
            }
            for (let hi = 0; hi < o.hosts.length; hi++) {
              const part = await reads[hi]!(s, o.hosts[hi]!);
              for (let j = 0; j <= pg; j++) grad[j]! += part[j]!;
            }
          }
          gradientStep(w, grad, lr, h.l2, pg);
          checkFiniteValues(w, e + 1, 'weights');
          progress({ stage: 'hetero-lr batch', done: bi + 1, total: order.length, unit: 'batch' });
        }
        epochs = e + 1;
        let validationAuc: number | undefined;
        if (validatesAfter(e, h.maxEpochs, h.validationEvery, hasValidation)) {
          const z = await this.#validationScores(
            plan,
            w,
            validationX!,
            validationRows,
            pk,
            hostKeys.length,
            masks.forRelease(e, order.length, 'validation'),
          );
          validationAuc = auc(yv, z);
          const improved = validationAuc > bestAuc + h.tolerance;
          if (improved) {
            bestAuc = validationAuc;
            kept = Float64Array.from(w);
            keptEpoch = epochs;
            sinceBest = 0;
          } else sinceBest += h.validationEvery;
          for (const host of o.hosts)
            await s.send(host, VALIDATION_RESULT, { epoch: epochs, improved } as never);
          stop = h.patience > 0 && sinceBest >= h.patience;
        }
        history.push({
          epoch: epochs,
          learningRate: lr,
          seconds: (performance.now() - t0) / 1000,
          ...(validationAuc !== undefined && { validationAuc }),
        });
        progress({ stage: 'hetero-lr epoch', done: epochs, total: h.maxEpochs, unit: 'epoch' });
        log.info('hetero-lr epoch', { epoch: epochs, seconds: history.at(-1)!.seconds });
        await o.onCheckpoint?.({
          format: CHECKPOINT_FORMAT,
          version: CHECKPOINT_VERSION,
          role: 'guest',
          party: s.party,
          modelId: plan.modelId,
          planDigest: digest,
          dataDigest: myData,
          epoch: epochs,
          nextLearningRate: learningRateAt(h.learningRate, h.lrSchedule, h.lrDecay, epochs),
          weights: Array.from(w),
          kept: Array.from(kept),
          keptEpoch,
          masks: masks.stream,
          earlyStopping: { bestAuc: Number.isFinite(bestAuc) ? bestAuc : null, sinceBest, stop },
          history: history.map((r) => ({ ...r })),
        });
      }
      if (!hasValidation) {
        kept = Float64Array.from(w);
        keptEpoch = epochs;
      }
      for (const p of others)
        await s.send(p, EPOCH_CONTROL, { epoch: epochs, stop: true, keepEpoch: keptEpoch } as never);
    } finally {
      pk?.dispose();
      own?.dispose();
      for (const k of hostKeys) k.dispose();
    }

    const model: PartyModel = {
      format: PARTY_MODEL_FORMAT,
      version: MODEL_FORMAT_VERSION,
      modelId: plan.modelId,
      party: s.party,
      role: 'guest',
      featureNames: [...o.features.names],
      standardization: std,
      weights: Array.from(kept.subarray(0, pg)),
      intercept: kept[pg]!,
    };
    const { classWeight: _cw, ...hyper } = h;
    const descriptor: JointModelDescriptor = {
      format: JOINT_MODEL_FORMAT,
      version: MODEL_FORMAT_VERSION,
      modelId: plan.modelId,
      createdAt: new Date().toISOString(),
      link: 'logit',
      interceptHolder: s.party,
      parties: [
        { id: s.party, role: 'guest', featureNames: [...o.features.names] },
        ...o.hosts.map((id, i) => ({ id, role: 'host' as const, featureNames: hostNames[i]! })),
      ],
      training: {
        mode: o.mode,
        scheme: o.scheme,
        insecure,
        rows: train.length,
        validationRows: validationRows.length,
        epochs,
        keptEpoch,
        sigmoid: 'taylor-1: 0.5 + z/4',
        hyperparams: { ...hyper, classWeighted: plan.classWeighted },
      },
    };
    return { model, descriptor, history, epochs, keptEpoch, insecure, resumedFrom };
  }

  /** Joint scores on the validation rows (the guest's own part plus the hosts'). */
  async #validationScores(
    plan: Plan,
    w: Float64Array,
    /** The standardized validation rows (`standardizedRowSets`). */
    X: readonly Float64Array[],
    rows: Uint32Array,
    pk: LrCipherPublic | undefined,
    _hostKeyCount: number,
    rng: CryptoRng,
  ): Promise<Float64Array> {
    const o = this.#o;
    const s = o.session;
    const pg = X.length;
    const z = contiguousPredictor(X, w.subarray(0, pg), rows.length).map((v) => v + w[pg]!);
    const n = rows.length;
    if (plan.mode === 'arbiter') {
      const key = pk!;
      let acc: EncVector | undefined;
      for (const host of o.hosts) {
        const f = key.fromBatch(await s.receive(host, VALIDATION_FORWARD), n, 'validation-forward');
        if (acc === undefined) acc = f;
        else {
          const prev: EncVector = acc;
          acc = consume(prev, () => key.add(prev, f));
          f.dispose();
        }
      }
      const m = maskForRelease(key, acc!, rng, plan.maskBits, VALIDATION_RELEASE, 'validation-released');
      await sendEncrypted(s, o.arbiter!, VALIDATION_MASKED, key, m.masked);
      const rel = await m.read(s, o.arbiter!);
      for (let i = 0; i < n; i++) z[i]! += rel[i]!;
    } else {
      for (const host of o.hosts) {
        const part = await s.receive(host, VALIDATION_PARTIAL);
        if (part.length !== n) {
          throw new FedscoreError('protocol_step', `expected ${n} validation scores`, {
            field: 'validation-partial',
          });
        }
        for (let i = 0; i < n; i++) z[i]! += part[i]!;
      }
    }
    return z;
  }
}

function othersOf(o: HeteroLrGuestOptions): PartyId[] {
  return o.mode === 'arbiter' ? [...o.hosts, o.arbiter!] : [...o.hosts];
}

function dot(a: Float64Array, b: Float64Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!;
  return s;
}

function checkLabels(labels: ArrayLike<number>, rows: number): Float64Array {
  if (labels === null || typeof labels !== 'object' || labels.length !== rows) {
    throw new FedscoreError('invalid_argument', `expected ${rows} labels`, { field: 'labels' });
  }
  const y = new Float64Array(rows);
  let pos = 0;
  for (let i = 0; i < rows; i++) {
    const v = labels[i];
    if (v !== 0 && v !== 1) {
      throw new FedscoreError('invalid_argument', 'labels must be 0 or 1', {
        field: 'labels',
        details: { row: i },
      });
    }
    y[i] = v;
    pos += v;
  }
  if (pos === 0 || pos === rows) {
    throw new FedscoreError('single_class', 'training needs rows of both classes', { field: 'labels' });
  }
  return y;
}

function classWeights(y: Float64Array, train: Uint32Array, h: ResolvedHyperparams): Float64Array {
  const out = new Float64Array(y.length).fill(1);
  const cw = h.classWeight;
  if (cw === 'none') return out;
  let pos = 0;
  for (const r of train) pos += y[r]!;
  const neg = train.length - pos;
  const wPos = cw === 'balanced' ? train.length / (2 * Math.max(1, pos)) : cw.positive;
  const wNeg = cw === 'balanced' ? train.length / (2 * Math.max(1, neg)) : cw.negative;
  for (let i = 0; i < y.length; i++) out[i] = y[i] === 1 ? wPos : wNeg;
  return out;
}

function makePlan(
  o: HeteroLrGuestOptions,
  h: ResolvedHyperparams,
  rows: number,
  validationRows: Uint32Array,
  pg: number,
): Plan {
  return {
    mode: o.mode,
    scheme: o.scheme,
    hosts: o.hosts,
    rows,
    validationRows,
    batchSize: h.batchSize,
    maxEpochs: h.maxEpochs,
    shuffleSeed: h.seed,
    learningRate: h.learningRate,
    lrSchedule: h.lrSchedule,
    lrDecay: h.lrDecay,
    l2: h.l2,
    maskBits: h.maskBits,
    patience: h.patience,
    tolerance: h.tolerance,
    modelId: o.modelId ?? `hetero-lr-${o.session.spec.session}`,
    validationEvery: h.validationEvery,
    classWeighted: h.classWeight !== 'none',
    maxColumns: 0,
    guestColumns: pg + 1,
  };
}
