/**
 * Stage `publish`: the guest sends each host `joint-model` (the joint descriptor -- parties, published
 * feature names, training settings: what every party of the model may hold -- and the aggregate test
 * AUC/KS); each party writes its own model (and the guest the joint descriptor and metrics) through its
 * store. Registering the version in a model registry is the caller's (the node's) step, from the
 * outcome. Hosts learn the joint model's aggregate test metrics.
 */
import { FedscoreError } from '@fedscore/core';
import { type FeatureSelectionLineage, serializePartyModel } from '@fedscore/vfl';
import type {
  BinningCheckpoint,
  EvaluateCheckpoint,
  PsiCheckpoint,
  TrainCheckpoint,
} from '../checkpoints.ts';
import { type PartyRole, type StageContext, stageSession } from '../context.ts';
import {
  JOINT_MODEL,
  type JointModelMessage,
  NODE_PROTOCOL_VERSION,
  PUBLISH_PROTOCOL,
  type PublishedJointModel,
  publishedJointModel,
} from '../messages.ts';

/** What publish produced on this party: the files it wrote and what a model registry records. */
export interface PublishOutcome {
  readonly files: string[];
  /**
   * The joint model as every party holds it (absent on the arbiter): the descriptor as canonical JSON
   * text, byte-identical on every party.
   */
  readonly joint?: PublishedJointModel;
  /** This party's own model (serialized; absent on the arbiter). */
  readonly partyModel?: string;
  /** The guest's feature-selection lineage (binning enabled). */
  readonly selection?: FeatureSelectionLineage;
}

export async function publishStage(ctx: StageContext, role: PartyRole): Promise<PublishOutcome> {
  const files: string[] = [];
  const write = (name: string, text: string): void => {
    files.push(ctx.store.writeArtifact(name, text));
  };
  const t = ctx.store.checkpoint<TrainCheckpoint>('train');
  if (role === 'arbiter') {
    write(`${ctx.party}.json`, `${JSON.stringify({ job: ctx.spec.id, role, epochs: t.epochs }, null, 2)}\n`);
    return { files };
  }
  const own = t.model === undefined ? undefined : serializePartyModel(t.model);
  if (own !== undefined) write(`${ctx.party}.model.json`, own);
  const psi = ctx.store.checkpoint<PsiCheckpoint>('psi');
  let joint: JointModelMessage;
  let selection: FeatureSelectionLineage | undefined;
  let published: PublishedJointModel | undefined;
  if (role === 'guest') {
    if (t.descriptor === undefined) {
      throw new FedscoreError('job_state', 'no joint descriptor in the train checkpoint', { field: 'train' });
    }
    const ev = ctx.store.checkpoint<EvaluateCheckpoint>('evaluate');
    selection = ctx.spec.binning.enabled
      ? ctx.store.checkpoint<BinningCheckpoint>('binning').lineage
      : undefined;
    joint = {
      descriptor: t.descriptor,
      metrics: {
        ...(ev.auc !== undefined && { auc: ev.auc }),
        ...(ev.ks !== undefined && { ks: ev.ks }),
        testRows: ev.testRows,
      },
    };
    published = publishedJointModel(joint);
    write('joint.json', published.descriptor);
    write(
      'metrics.json',
      `${JSON.stringify(
        {
          job: ctx.spec.id,
          test: ev,
          epochs: t.epochs,
          keptEpoch: t.keptEpoch,
          insecure: t.insecure,
          aligned: psi.rows.length,
          consent: psi.consent ?? null,
          selection: selection ?? null,
        },
        null,
        2,
      )}\n`,
    );
    for (const host of ctx.spec.hosts) {
      await stageSession(ctx, PUBLISH_PROTOCOL, NODE_PROTOCOL_VERSION, `model-${host}`).send(
        host,
        JOINT_MODEL,
        joint,
      );
    }
  } else {
    joint = await stageSession(ctx, PUBLISH_PROTOCOL, NODE_PROTOCOL_VERSION, `model-${ctx.party}`).receive(
      ctx.spec.guest,
      JOINT_MODEL,
    );
  }
  return {
    files,
    joint: published ?? publishedJointModel(joint),
    ...(own !== undefined && { partyModel: own }),
    ...(selection !== undefined && { selection }),
  };
}
