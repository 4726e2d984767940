/**
 * Stage `train` of hetero-LR, every role (guest, hosts, arbiter): packages/vfl `HeteroLrGuest` /
 * `HeteroLrHost` / `HeteroLrArbiter` on the training rows and the selected features; each data party
 * keeps its own part of the model.
 *
 * Training resumes within the stage (issue 8). Every role writes its hetero-LR checkpoint at the end of
 * every epoch into this party's store and hands the ones it holds to the next attempt (`resumeFrom`);
 * the roles' handshake resumes every party from the latest epoch all of them hold. The guest's and
 * hosts' masks come from a per-job 256-bit key (`maskKeyFor`): an HMAC of the job id under this party's
 * own random 256-bit secret (`PipelineStore.partySecret`, never sent), from which hetero-LR derives one
 * ChaCha20 stream per release bound to the plan, this party's data, epoch and batch (vfl plan.ts
 * `maskSource`), so a resumed attempt on the same data draws the masks of the uninterrupted run.
 */
import { createHmac } from 'node:crypto';
import { FedscoreError, type PartyId } from '@fedscore/core';
import {
  cipherProvider,
  HETERO_LR_PROTOCOL,
  HETERO_LR_VERSION,
  HeteroLrArbiter,
  type HeteroLrCheckpoint,
  HeteroLrGuest,
  HeteroLrHost,
  type HeteroLrScheme,
  type LrCipherProvider,
  parseCheckpoint,
  serializeCheckpoint,
} from '@fedscore/vfl';
import type { PsiCheckpoint, TrainCheckpoint } from '../checkpoints.ts';
import { heOptIns, type PartyRole, requireLabels, type StageContext, stageSession } from '../context.ts';
import { resolveBatch } from '../defaults.ts';
import { partyFeatures, selectedFeatures, trainPositions } from './rows.ts';

/** The name of the party secret the mask keys derive from (`JobStore.partySecret`). */
export const MASK_SEED_SECRET = 'hetero-lr.mask-seed';

/**
 * The party's hetero-LR mask key for a job: HMAC-SHA256 under its own 256-bit secret of the job id and
 * party, 32 bytes. The same on every attempt of the job (a resumed attempt draws the masks of the
 * uninterrupted run, hetero-LR binding them further to the plan and the party's data); different for
 * every job; unknown to every other party (the secret never leaves the node's store; the key is never
 * written anywhere -- checkpoints record only its one-way id). Before issue 11 this was a hex string
 * that the masks' seeded generator squeezed into 32 bits (brute-forced in ~30 s per core).
 */
export function maskKeyFor(secret: Uint8Array, job: string, party: PartyId): Uint8Array {
  if (!(secret instanceof Uint8Array) || secret.length !== 32) {
    throw new FedscoreError('invalid_argument', 'expected a 256-bit (32-byte) secret', {
      field: 'secret',
    });
  }
  return new Uint8Array(
    createHmac('sha256', secret).update(`fedscore/hetero-lr/mask-key/2\0${job}\0${party}`).digest(),
  );
}

/**
 * The within-stage checkpoints this party holds for the job's train stage (oldest first), parsed by
 * `parse` (hetero-LR's per-epoch ones by default; SecureBoost's per-tree ones). A stored one that no
 * longer parses (corrupt bytes: the SHA-256 in its header catches any change) is dropped with a warning
 * and a job event: the handshake then resumes from an epoch (tree) every party still holds, or afresh.
 */
export function heldCheckpoints<T = HeteroLrCheckpoint>(
  ctx: StageContext,
  parse: (bytes: Uint8Array) => T = parseCheckpoint as unknown as (bytes: Uint8Array) => T,
): T[] {
  const held: T[] = [];
  for (const r of ctx.store.epochCheckpoints('train')) {
    try {
      held.push(parse(r.bytes));
    } catch (e) {
      const field = e instanceof FedscoreError ? (e.field ?? e.code) : 'bytes';
      ctx.logger.warn('stored training checkpoint refused; dropped', { epoch: r.epoch, field });
      ctx.store.dropEpochCheckpoint('train', r.epoch);
      ctx.store.event('epoch_checkpoint_dropped', 'train', `epoch=${r.epoch} field=${field}`);
    }
  }
  return held;
}

export async function trainHeteroLrStage(ctx: StageContext, role: PartyRole): Promise<TrainCheckpoint> {
  const t = ctx.spec.train;
  const resumeFrom = heldCheckpoints(ctx);
  const onCheckpoint = (cp: HeteroLrCheckpoint): void => {
    ctx.store.saveEpochCheckpoint('train', cp.epoch, serializeCheckpoint(cp));
    ctx.onEpochSaved?.(cp.epoch);
  };
  const progress = ctx.progress;
  const resumed = (from: number): void => {
    if (from === 0) return;
    ctx.store.event('train_resumed', 'train', `epoch=${from}`);
    ctx.logger.info('training resumed', { epoch: from, held: resumeFrom.length });
  };
  const maskKey = (): Uint8Array =>
    maskKeyFor(ctx.store.partySecret(MASK_SEED_SECRET), ctx.spec.id, ctx.party);
  const { allowPlaintextScheme, allowWeakParameters } = heOptIns(ctx.spec, ctx.he);
  const providers = new Map<HeteroLrScheme, LrCipherProvider>();
  const ciphers = (s: HeteroLrScheme): LrCipherProvider => {
    let p = providers.get(s);
    if (p === undefined) {
      p = cipherProvider(s, {
        logger: ctx.logger,
        ...(t.ckksPreset !== undefined && { ckksPreset: t.ckksPreset }),
        ...(t.paillierBits !== undefined && { paillierBits: t.paillierBits }),
        allowWeakParameters,
      });
      providers.set(s, p);
    }
    return p;
  };
  const s = stageSession(ctx, HETERO_LR_PROTOCOL, HETERO_LR_VERSION, 'lr');
  const given = ctx.spec.inProcess?.runtime;
  // A node's queue: this job's products as tasks, their ids prefixed with the job and party (a resumed
  // attempt's identical tasks find their stored results).
  const offload =
    ctx.offload === undefined
      ? undefined
      : { ...ctx.offload, taskIdPrefix: taskPrefix(`${ctx.spec.id}.${ctx.party}`) };
  const merged = offload === undefined ? given : { ...given, offload };
  const runtime = merged === undefined ? {} : { runtime: merged };
  const arbiter = ctx.spec.arbiter;
  if (role === 'arbiter') {
    const r = await new HeteroLrArbiter({
      session: s,
      guest: ctx.spec.guest,
      ciphers,
      allowPlaintextScheme,
      floodingKey: maskKey(),
      onCheckpoint,
      resumeFrom,
      logger: ctx.logger,
    }).run();
    resumed(r.resumedFrom);
    return { epochs: r.epochs, keptEpoch: r.epochs, insecure: r.insecure, resumedFrom: r.resumedFrom };
  }
  const table = await ctx.table();
  const psi = ctx.store.checkpoint<PsiCheckpoint>('psi');
  const rows = trainPositions(psi).map((p) => psi.rows[p]!);
  const features = partyFeatures(table, rows, selectedFeatures(ctx, table));
  if (role === 'guest') {
    const labels = requireLabels(table, ctx);
    const r = await new HeteroLrGuest({
      session: s,
      hosts: ctx.spec.hosts,
      ...(arbiter !== undefined && { arbiter }),
      mode: arbiter === undefined ? 'two-party' : 'arbiter',
      scheme: t.scheme,
      features,
      labels: Float64Array.from(rows, (r) => labels[r]!),
      hyperparams: {
        // An in-process run's full hyperparameters, under the plan's own settings.
        ...ctx.spec.inProcess?.hyperparams,
        seed: ctx.spec.seed,
        maxEpochs: t.maxEpochs,
        // Left out of the plan: the defaults (defaults.ts), from the training rows and this party's width.
        ...resolveBatch(rows.length, features.columns.length + 1, t),
        ...(t.l2 !== undefined && { l2: t.l2 }),
        ...(t.validationFraction !== undefined && { validationFraction: t.validationFraction }),
      },
      ciphers,
      // The model id is part of the plan (and of every checkpoint's check).
      modelId: ctx.spec.id,
      maskKey: maskKey(),
      onCheckpoint,
      resumeFrom,
      ...runtime,
      logger: ctx.logger,
      onProgress: progress,
    }).run();
    resumed(r.resumedFrom);
    return {
      model: r.model,
      descriptor: r.descriptor,
      epochs: r.epochs,
      keptEpoch: r.keptEpoch,
      insecure: r.insecure,
      resumedFrom: r.resumedFrom,
      history: r.history,
    };
  }
  const r = await new HeteroLrHost({
    session: s,
    guest: ctx.spec.guest,
    ...(arbiter !== undefined && { arbiter }),
    features,
    ciphers,
    allowPlaintextScheme,
    maskKey: maskKey(),
    onCheckpoint,
    resumeFrom,
    ...runtime,
    logger: ctx.logger,
    onProgress: progress,
  }).run();
  resumed(r.resumedFrom);
  return {
    model: r.model,
    epochs: r.epochs,
    keptEpoch: r.keptEpoch,
    insecure: r.insecure,
    resumedFrom: r.resumedFrom,
  };
}

/** A task id prefix of `text` ([A-Za-z0-9._:-], at most 200 characters). */
export function taskPrefix(text: string): string {
  return text.replace(/[^A-Za-z0-9._:-]/g, '_').slice(0, 200);
}
