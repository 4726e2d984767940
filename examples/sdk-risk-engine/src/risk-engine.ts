/**
 * docs/sdk.md's example, run as is by examples/sdk-risk-engine/test/pack-install.test.ts from a fresh project that has
 * only the installed tarballs: a bank's risk engine aligns its customers with the government node (PSI),
 * trains the joint model under CKKS, saves and loads each party's part, and scores one applicant online.
 * Both parties run in this process over the in-memory network; across machines each runs its half over
 * its own Channel (docs/sdk.md). Prints one JSON line.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { auc, createInMemoryNetwork, ProtocolSession, runParties, type Table } from '@fedscore/core';
import { generatePopulation } from '@fedscore/datasets';
import { runPsiLocal } from '@fedscore/psi';
import {
  ONLINE_SCORING_PROTOCOL,
  OnlineScoringBank,
  OnlineScoringGovernment,
  SCORING_VERSION,
} from '@fedscore/scoring';
import {
  type PartyFeatures,
  type PartyModel,
  parsePartyModel,
  partyPartialScores,
  serializePartyModel,
  trainHeteroLr,
} from '@fedscore/vfl';
import { envelopeCodec } from '@fedscore/wire';

// Each party's own table, keyed by USCC (a real bank reads its database; here a synthetic population).
const { bank, government } = generatePopulation({ enterprises: 4000, bankCustomers: 2000, seed: 7 });
const features = (t: Table, rows: ArrayLike<number>): PartyFeatures => {
  const numeric = t.columns.filter((c) => c.kind === 'numeric');
  return {
    names: numeric.map((c) => c.name),
    columns: numeric.map((c) => Float64Array.from(rows, (r) => c.values[r]!)),
  };
};

// 1. Align: ECDH-PSI on USCCs; both learn the shared enterprises, in the same order, and nothing else.
const psi = await runPsiLocal(bank.ids, government.ids, { mode: 'both' });
const bankRows = psi.guest.rows!;
const govRows = psi.host.rows!;

// 2. Train: hetero-LR under CKKS; the bank holds the labels, each party ends with only its own weights.
const run = await trainHeteroLr({
  guest: {
    id: 'bank',
    features: features(bank, bankRows),
    labels: Float64Array.from(bankRows, (r) => bank.label![r]!),
  },
  hosts: [{ id: 'government', features: features(government, govRows) }],
  scheme: 'ckks',
  hyperparams: { maxEpochs: 3 },
});

// 3. Save and load: each party stores its own part (versioned JSON) and loads it when it scores.
const dir = mkdtempSync(join(tmpdir(), 'fedscore-models-'));
writeFileSync(join(dir, 'bank.model.json'), serializePartyModel(run.guest));
writeFileSync(join(dir, 'government.model.json'), serializePartyModel(run.hosts[0]!));
const bankModel = parsePartyModel(readFileSync(join(dir, 'bank.model.json'), 'utf8'));
const govModel = parsePartyModel(readFileSync(join(dir, 'government.model.json'), 'utf8'));

// 4. Score one applicant: the bank's part encrypted under its own CKKS key, the government adds its part
//    under encryption, only the bank decrypts the joint score.
const partialOf = (model: PartyModel, t: Table, id: string) => {
  const row = t.ids.indexOf(id);
  return row < 0 ? undefined : partyPartialScores(model, features(t, [row]).columns)[0]!;
};
const applicant = bank.ids[bankRows[0]!]!;
const network = createInMemoryNetwork(['bank', 'government'], envelopeCodec);
const spec = { protocol: ONLINE_SCORING_PROTOCOL, version: SCORING_VERSION, session: 'online-1' };
const scorer = await OnlineScoringBank.create({ mode: 'exact' });
// Exact mode hands the bank the government's partial score, so a government refuses it by default
// (`policy_refused`); this one-process example opts in to print a score. Against a real government node
// a bank scores in band mode (`{ mode: 'band', thresholds }`), as docs/sdk.md explains.
const server = new OnlineScoringGovernment({
  partialScoreOf: (id) => partialOf(govModel, government, id),
  policy: { allowExactMode: true },
});
const out = await runParties(network, {
  government: () => server.serve(new ProtocolSession(network.channel('government'), spec), 'bank'),
  bank: async () => {
    await scorer.open(new ProtocolSession(network.channel('bank'), spec), 'government', bankModel.modelId);
    const result = await scorer.score(applicant, partialOf(bankModel, bank, applicant)!);
    await scorer.close();
    return result;
  },
});
scorer.dispose();
server.dispose();
const score = out.bank.score!;
const governmentIds = new Set(government.ids);
const joint = partyPartialScores(bankModel, features(bank, bankRows).columns);
partyPartialScores(govModel, features(government, govRows).columns).forEach((z, i) => {
  joint[i]! += z;
});
console.log(
  JSON.stringify({
    intersection: psi.guest.intersectionSize,
    epochs: run.epochs,
    modelId: bankModel.modelId,
    applicant,
    score,
    defaultProbability: 1 / (1 + Math.exp(-score)),
    // Plaintext reference, possible only because both parties run here: for checking, never in production.
    plaintextScore: partialOf(bankModel, bank, applicant)! + partialOf(govModel, government, applicant)!,
    sharedIds: bank.ids.filter((id) => governmentIds.has(id)).length,
    trainingAuc: auc(
      Float64Array.from(bankRows, (r) => bank.label![r]!),
      joint,
    ),
    modelDir: dir,
  }),
);
