/**
 * Stage `psi` (align and split), one function per role. Each host first applies its consent check to its
 * own table and runs PSI with the guest on the enterprises that consented only (packages/psi, mode
 * 'both'); a guest announcing more ids than the host's `PsiPolicy` allows is refused with `psi_policy`
 * before the host sends any blinded id. The host then sends `consent-summary` (the aligned count, the
 * consent-set reference and instant: no counts of its own table). The guest keeps the rows in every
 * host's intersection, in its own file order, and sends each host `aligned-positions` (indices into that
 * host's PSI result) and `test-positions` (the seeded, label-stratified hold-out, core's
 * `stratifiedHoldout`). Hosts learn the aligned rows and which are held out, never a label; the guest
 * learns which of its ids are among the host's consenting enterprises, nothing about the others.
 */
import { deriveSeed, FedscoreError, normalizeUscc, seededRng, stratifiedHoldout } from '@fedscore/core';
import {
  type PrepareIdsOptions,
  type PsiBlindOffload,
  type PsiIdKind,
  resolveIdKind,
  runPsiGuest,
  runPsiHost,
} from '@fedscore/psi';
import type { ConsentedSetRecord, PsiCheckpoint, PsiRunRecord } from '../checkpoints.ts';
import { type PsiPolicy, requireLabels, type StageContext, stageSession } from '../context.ts';
import {
  ALIGN_PROTOCOL,
  ALIGNED_POSITIONS,
  CONSENT_SUMMARY,
  type ConsentSummary,
  NODE_PROTOCOL_VERSION,
  TEST_POSITIONS,
} from '../messages.ts';
import { taskPrefix } from './train.ts';
import { TREE_SCORE_KIND } from './tree-score-kind.ts';

export async function alignGuest(ctx: StageContext): Promise<PsiCheckpoint> {
  const table = await ctx.table();
  // A scoring job (stages/tree-score.ts) aligns the portfolio it scores: no labels, no hold-out.
  const labels = ctx.spec.kind === TREE_SCORE_KIND ? undefined : requireLabels(table, ctx);
  const perHost: Map<number, number>[] = [];
  const consent: Record<string, ConsentSummary> = {};
  const runs: PsiRunRecord[] = [];
  const prepare = idPreparation(ctx, table.ids, (row) => row);
  for (const host of ctx.spec.hosts) {
    const before = ctx.channel.stats();
    const r = await runPsiGuest(table.ids, {
      channel: ctx.channel,
      peer: host,
      session: `${ctx.key}/psi-${host}`,
      mode: 'both',
      ...prepare,
      ...psiOffload(ctx, host),
      logger: ctx.logger,
      progress: ctx.progress,
    });
    if (r.rows === undefined) throw new FedscoreError('internal', 'PSI returned no rows', { field: 'psi' });
    const after = ctx.channel.stats();
    runs.push({
      host,
      idKind: r.idKind,
      guestIds: r.ownCount,
      hostIds: r.peerCount,
      intersection: r.intersectionSize,
      seconds: r.seconds,
      bytes: {
        guestToHost: (after.bytesSent[host] ?? 0) - (before.bytesSent[host] ?? 0),
        hostToGuest: (after.bytesReceived[host] ?? 0) - (before.bytesReceived[host] ?? 0),
      },
    });
    const s = stageSession(ctx, ALIGN_PROTOCOL, NODE_PROTOCOL_VERSION, `align-${host}`);
    const summary = await s.receive(host, CONSENT_SUMMARY);
    if (summary.aligned !== r.rows.length) {
      throw new FedscoreError('protocol_step', `${host}'s consent summary does not match the intersection`, {
        field: 'consent-summary.aligned',
      });
    }
    // Every position of the intersection is a consented enterprise: the host ran PSI on those only.
    const m = new Map<number, number>();
    r.rows.forEach((g, k) => {
      m.set(g, k);
    });
    perHost.push(m);
    consent[host] = summary;
  }
  // Rows in every host's intersection, in the guest's file order (PSI's own order is randomized).
  const all = [...perHost[0]!.keys()].filter((g) => perHost.every((m) => m.has(g))).sort((a, b) => a - b);
  if (all.length === 0) {
    // The guest cannot tell "not held" from "held without consent": that is the point.
    throw Object.values(consent).some((c) => c.enforced)
      ? new FedscoreError('consent', "no enterprise of this party is among the hosts' consenting ones", {
          field: 'consent',
        })
      : new FedscoreError('invalid_argument', 'the parties share no enterprise: empty intersection', {
          field: 'data',
        });
  }
  const { kept, test } =
    labels === undefined ? { kept: all, test: [] } : splitAligned(ctx, all, table.ids, labels);
  for (const [h, host] of ctx.spec.hosts.entries()) {
    const s = stageSession(ctx, ALIGN_PROTOCOL, NODE_PROTOCOL_VERSION, `align-${host}`);
    await s.send(
      host,
      ALIGNED_POSITIONS,
      Uint32Array.from(kept, (g) => perHost[h]!.get(g)!),
    );
    await s.send(host, TEST_POSITIONS, Uint32Array.from(test));
  }
  ctx.logger.info('psi stage done', {
    aligned: kept.length,
    test: test.length,
    hosts: ctx.spec.hosts.length,
  });
  return { rows: kept, test, consent, psi: runs, aligned: all.length };
}

/**
 * The hold-out: the plan's id lists (in-process runs), which keep only the aligned rows they name, or
 * the seeded label-stratified hold-out (seeded by `inProcess.splitSeed` as given, else by a seed derived
 * from the job's).
 */
function splitAligned(
  ctx: StageContext,
  all: number[],
  ids: readonly string[],
  labels: Float64Array,
): { kept: number[]; test: number[] } {
  const lists = ctx.spec.inProcess?.splitIds;
  if (lists === undefined) {
    const seed = ctx.spec.inProcess?.splitSeed ?? deriveSeed(ctx.spec.seed, 'test-split');
    const held = stratifiedHoldout(
      all.map((r) => labels[r]!),
      ctx.spec.testFraction,
      seededRng(seed),
    );
    return { kept: all, test: Array.from(held) };
  }
  const rowOf = new Map<string, number>();
  for (const r of all) rowOf.set(ids[r]!, r);
  const rowsOf = (list: readonly string[], source: string | undefined): Set<number> => {
    const out = new Set<number>();
    list.forEach((id, i) => {
      const r = rowOf.get(id);
      if (r === undefined) {
        throw new FedscoreError('not_found', `id number ${i + 1} of the list is not in both data files`, {
          ...(source !== undefined && { file: source }),
          field: 'id',
          details: { entry: i + 1 },
        });
      }
      out.add(r);
    });
    return out;
  };
  const train = rowsOf(lists.train, lists.source?.train);
  const testRows = rowsOf(lists.test, lists.source?.test);
  const kept = all.filter((r) => train.has(r) || testRows.has(r));
  const test: number[] = [];
  kept.forEach((r, p) => {
    if (testRows.has(r)) test.push(p);
  });
  return { kept, test };
}

/**
 * How this party prepares its ids for PSI when the plan says (in-process runs): the id kind it decides
 * from its own ids ('auto') or is told, where its ids come from (error locations) and blinding threads.
 * `rowOf` maps a PSI input position to this party's table row. A node's plan says none of it: USCCs.
 */
/** The party's PSI blinding on its queue (`ctx.psiOffload`), its tasks tagged with the job, party and peer. */
function psiOffload(ctx: StageContext, peer: string): { offload?: PsiBlindOffload } {
  if (ctx.psiOffload === undefined) return {};
  return {
    offload: { ...ctx.psiOffload, taskIdPrefix: taskPrefix(`${ctx.spec.id}.${ctx.party}.psi-${peer}`) },
  };
}

function idPreparation(
  ctx: StageContext,
  ids: readonly string[],
  rowOf: (position: number) => number,
): PrepareIdsOptions & { threads?: number } {
  const psi = ctx.spec.inProcess?.psi;
  const src = ctx.idSource;
  let idKind: PsiIdKind | undefined;
  if (psi?.idKind !== undefined) {
    // Each party resolves 'auto' from its own ids only: nothing about one party's ids informs another's.
    const d = resolveIdKind(ids, psi.idKind);
    if (d.requested === 'auto') {
      ctx.logger.debug(`psi: ${ctx.party} ids resolved to ${d.idKind}`, {
        party: ctx.party,
        validUscc: d.validUscc,
        ids: d.nonBlank,
      });
    }
    idKind = d.idKind;
  }
  const lineOf = src?.lineOf;
  return {
    ...(idKind !== undefined && { idKind }),
    ...(psi?.threads !== undefined && { threads: psi.threads }),
    ...(src?.file !== undefined && { file: src.file }),
    ...(src?.field !== undefined && { field: src.field }),
    ...(lineOf !== undefined && { lineOf: (p: number) => lineOf(rowOf(p)) }),
  };
}

export async function alignHost(ctx: StageContext): Promise<PsiCheckpoint> {
  const table = await ctx.table();
  // Consent first (issue 11, finding 3): the rows of this party's table that may take part in this job.
  // Only they enter PSI, so the guest learns nothing about an enterprise that did not authorize it --
  // not even whether this party holds it -- and this party nothing about the guest's other customers.
  const offered: number[] = [];
  let consentedSet: ConsentedSetRecord | undefined;
  if (ctx.consent === undefined) {
    table.ids.forEach((_, row) => {
      offered.push(row);
    });
  } else {
    const f = await ctx.consent(table.ids);
    const ok = new Set(f.included);
    table.ids.forEach((id, row) => {
      const u = normalizeUscc(id);
      if (ok.delete(u)) offered.push(row);
    });
    consentedSet = { offered: offered.length, excluded: f.excluded, excludedTotal: f.excludedTotal };
    ctx.logger.info('consent applied before psi', {
      offered: offered.length,
      excluded: f.excludedTotal,
    });
    if (offered.length === 0) {
      throw new FedscoreError('consent', 'no enterprise of this party has consent for this use', {
        field: 'consent',
      });
    }
  }
  const policy = ctx.psiPolicy;
  const offeredIds = offered.map((row) => table.ids[row]!);
  const r = await runPsiHost(offeredIds, {
    channel: ctx.channel,
    peer: ctx.spec.guest,
    session: `${ctx.key}/psi-${ctx.party}`,
    mode: 'both',
    ...idPreparation(ctx, offeredIds, (p) => offered[p]!),
    ...psiOffload(ctx, ctx.spec.guest),
    logger: ctx.logger,
    progress: ctx.progress,
    ...(policy !== undefined && {
      admitPeerCount: (count: number) => admitSubmittedIds(count, offered.length, policy),
    }),
  });
  if (r.rows === undefined) throw new FedscoreError('internal', 'PSI returned no rows', { field: 'psi' });
  const psiRows = Array.from(r.rows, (k) => offered[k]!);
  let summary: ConsentSummary;
  if (ctx.consent === undefined) {
    summary = { enforced: false, purpose: ctx.spec.consent.purpose, aligned: psiRows.length };
  } else {
    // The reference of the consents covering exactly the aligned set (the same instant as above).
    const g = await ctx.consent(psiRows.map((row) => table.ids[row]!));
    if (g.included.length !== psiRows.length) {
      throw new FedscoreError('internal', 'an aligned enterprise lost its consent within the job', {
        field: 'consent',
      });
    }
    summary = {
      enforced: true,
      purpose: ctx.spec.consent.purpose,
      aligned: psiRows.length,
      consentRef: g.consentRef,
      at: g.at,
    };
  }
  const s = stageSession(ctx, ALIGN_PROTOCOL, NODE_PROTOCOL_VERSION, `align-${ctx.party}`);
  await s.send(ctx.spec.guest, CONSENT_SUMMARY, summary);
  const positions = await s.receive(ctx.spec.guest, ALIGNED_POSITIONS);
  const test = await s.receive(ctx.spec.guest, TEST_POSITIONS);
  const rows = Array.from(positions, (k, i) => {
    const row = psiRows[k];
    if (row === undefined) {
      throw new FedscoreError('protocol_step', `aligned position ${i} points outside the intersection`, {
        field: 'aligned-positions',
      });
    }
    return row;
  });
  for (const t of test) {
    if (t >= rows.length) {
      throw new FedscoreError('protocol_step', 'a test position outside the aligned rows', {
        field: 'test-positions',
      });
    }
  }
  return {
    rows,
    test: Array.from(test),
    consent: { [ctx.party]: summary },
    ...(consentedSet !== undefined && { consentedSet }),
  };
}

/**
 * The host's policy on the guest's announced PSI set size: at most `maxSubmittedIds`, and at most
 * `maxSubmittedRatio` per enterprise of the host's own PSI set (`offered`). `psi_policy` otherwise.
 */
export function admitSubmittedIds(count: number, offered: number, policy: PsiPolicy): void {
  if (count > policy.maxSubmittedIds) {
    throw new FedscoreError(
      'psi_policy',
      `the guest submits ${count} ids to PSI; this data owner accepts at most ${policy.maxSubmittedIds}`,
      {
        field: 'governance.psi.maxSubmittedIds',
        details: { submitted: count, limit: policy.maxSubmittedIds },
      },
    );
  }
  const byRatio = Math.floor(policy.maxSubmittedRatio * offered);
  if (policy.maxSubmittedRatio > 0 && count > byRatio) {
    throw new FedscoreError(
      'psi_policy',
      `the guest submits ${count} ids to PSI; this data owner accepts at most ${policy.maxSubmittedRatio} per consenting enterprise (${byRatio})`,
      { field: 'governance.psi.maxSubmittedRatio', details: { submitted: count, limit: byRatio } },
    );
  }
}
