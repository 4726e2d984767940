/**
 * Every party of a job in this process: each party's side of a stage (the same role functions a node
 * runs over gRPC) over the in-memory network with the real wire codec, each with its own store. What
 * one party's stage sees is only its own table, its own store and the messages it receives, exactly as
 * on a node: the in-process run shares the process, not the data.
 */
import {
  type CapturedMessage,
  createInMemoryNetwork,
  FedscoreError,
  type Logger,
  noopLogger,
  noProgress,
  type PartyId,
  type ProgressCallback,
  runParties,
  type Table,
} from '@fedscore/core';
import { envelopeCodec } from '@fedscore/wire';
import type { ConsentCheck, HeAcceptance, IdSource, JobPlan, PsiPolicy, StageContext } from '../context.ts';
import { runStageRole, type StageDef, stagePartiesOf } from '../registry.ts';
import type { EpochCheckpoint, PipelineStore } from '../store.ts';

/** A `PipelineStore` in memory, and what a runner needs besides: saving a stage's checkpoint. */
export interface MemoryStore extends PipelineStore {
  /** Keep `output` as the checkpoint of `stage` (a JSON copy, as a node's store keeps it). */
  save(stage: string, output: unknown): void;
  /** The artifacts written, by name. */
  readonly artifacts: ReadonlyMap<string, string>;
  /** The events recorded, in order. */
  readonly events: readonly { readonly kind: string; readonly stage: string; readonly detail: string }[];
}

/** A store in memory; its party secrets come from the platform's cryptographic generator. */
export function memoryStore(options: { readonly epochsKept?: number } = {}): MemoryStore {
  const kept = options.epochsKept ?? 3;
  const checkpoints = new Map<string, string>();
  const epochs = new Map<string, EpochCheckpoint[]>();
  const secrets = new Map<string, Uint8Array>();
  const artifacts = new Map<string, string>();
  const events: { kind: string; stage: string; detail: string }[] = [];
  return {
    artifacts,
    events,
    save(stage, output) {
      checkpoints.set(stage, JSON.stringify(output));
    },
    checkpoint<T>(stage: string): T {
      const c = checkpoints.get(stage);
      if (c === undefined) {
        throw new FedscoreError('job_state', `no checkpoint of stage '${stage}' on this party`, {
          field: 'stage',
        });
      }
      return JSON.parse(c) as T;
    },
    epochCheckpoints(stage) {
      return [...(epochs.get(stage) ?? [])];
    },
    saveEpochCheckpoint(stage, epoch, bytes) {
      const list = (epochs.get(stage) ?? []).filter((e) => e.epoch < epoch);
      list.push({ epoch, bytes: Uint8Array.from(bytes) });
      epochs.set(stage, list.slice(-kept));
    },
    dropEpochCheckpoint(stage, epoch) {
      epochs.set(
        stage,
        (epochs.get(stage) ?? []).filter((e) => e.epoch !== epoch),
      );
    },
    partySecret(name) {
      let s = secrets.get(name);
      if (s === undefined) {
        s = crypto.getRandomValues(new Uint8Array(32));
        secrets.set(name, s);
      }
      return s;
    },
    event(kind, stage, detail) {
      events.push({ kind, stage, detail });
    },
    lastEvent(kind) {
      return events.findLast((e) => e.kind === kind)?.detail;
    },
    writeArtifact(name, text) {
      artifacts.set(name, text);
      return name;
    },
  };
}

/** One party of an in-process run: its id, its own table (data parties), its store and its policies. */
export interface InProcessParty {
  readonly id: PartyId;
  readonly table?: Table;
  readonly store: MemoryStore;
  /** What this party accepts of HE (absent: neither opt-in). */
  readonly he?: HeAcceptance;
  /** A host's consent check (absent: every enterprise takes part). */
  readonly consent?: ConsentCheck;
  /** A host's bounds on the guest's PSI set. */
  readonly psiPolicy?: PsiPolicy;
  /** Where its ids come from (PSI's error locations). */
  readonly idSource?: IdSource;
  /** An HFL bank's per-round step hook (`StageContext.onSecAggStep`; the CLI's simulated dropouts). */
  readonly onSecAggStep?: StageContext['onSecAggStep'];
  /**
   * A rejection of this party's role that this accepts ends the role without failing the run: the party
   * left (a simulated dropout; the others go on by their deadlines). Its result is `undefined`.
   */
  readonly leaves?: (error: unknown) => boolean;
}

export interface InProcessRun {
  readonly plan: JobPlan;
  readonly parties: readonly InProcessParty[];
  readonly logger?: Logger;
  readonly progress?: ProgressCallback;
  /** Called for every message delivered (e.g. to capture every byte for a privacy test). */
  readonly onMessage?: (message: CapturedMessage) => void;
  /** Parties of the plan that take no part in this stage (they left the run in an earlier stage). */
  readonly skip?: readonly PartyId[];
}

/**
 * Run `stage` with every party that has a role in it, each over its own channel of one in-memory
 * network, and keep each party's checkpoint in its store. Returns the checkpoints by party.
 */
export async function runStageInProcess(
  stage: StageDef,
  run: InProcessRun,
  attempt = 0,
): Promise<Record<PartyId, unknown>> {
  const ids = stagePartiesOf(stage, run.plan).filter((id) => !(run.skip ?? []).includes(id));
  const network = createInMemoryNetwork(
    ids,
    envelopeCodec,
    run.onMessage === undefined ? {} : { onMessage: run.onMessage },
  );
  const roles: Record<string, () => Promise<unknown>> = {};
  for (const id of ids) {
    const party = run.parties.find((p) => p.id === id);
    if (party === undefined) {
      throw new FedscoreError('invalid_argument', `no party '${id}' in the run`, { field: 'parties' });
    }
    roles[id] = () =>
      runStageRole(stage, {
        spec: run.plan,
        party: id,
        key: `${run.plan.id}/${stage.name}/${attempt}`,
        channel: network.channel(id),
        store: party.store,
        table: async () => {
          if (party.table === undefined) {
            throw new FedscoreError('invalid_config', `party '${id}' has no data`, { field: `data.${id}` });
          }
          return party.table;
        },
        logger: run.logger ?? noopLogger,
        progress: run.progress ?? noProgress,
        ...(party.he !== undefined && { he: party.he }),
        ...(party.consent !== undefined && { consent: party.consent }),
        ...(party.psiPolicy !== undefined && { psiPolicy: party.psiPolicy }),
        ...(party.idSource !== undefined && { idSource: party.idSource }),
        ...(party.onSecAggStep !== undefined && { onSecAggStep: party.onSecAggStep }),
      }).catch((e: unknown) => {
        if (party.leaves?.(e) === true) return undefined;
        throw e;
      });
  }
  const out = await runParties(network, roles);
  for (const id of ids) run.parties.find((p) => p.id === id)!.store.save(stage.name, out[id]);
  return out;
}
