/**
 * WOE features for `fedscore train hetero-lr --woe` (the scorecard path), every party in this process:
 *
 *   1. every party bins its own features on the training rows only: the guest (label owner) locally
 *      (`woeBinningLocal`), each host through the "vfl.woe-binning" protocol with the guest's labels
 *      encrypted (`runWoeBinningGuest` / `runWoeBinningHost`, docs/protocols/woe-binning.md) and
 *      `releaseWoe: true`: the guest sends each host the WOE of the host's own bins, by design -- the host
 *      needs it to replace its values by their WOE, and a scorecard's points per bin are built from it;
 *   2. selection by IV over all parties' features (`selectByIv`, threshold `minIv`), recorded as the
 *      model's lineage; a party left without any feature keeps its strongest one (hetero-LR needs a
 *      column per party) and the output says so;
 *   3. each party replaces its selected columns by their WOE values on every aligned row (train and test:
 *      bins fitted on the training rows apply unchanged to the test rows), and keeps its bins and WOE.
 *
 * `woeLrModel` turns the trained hetero-LR (weights on standardized WOE columns) into the input of
 * `buildScorecard` (packages/scoring): coefficients on raw WOE and one intercept.
 */
import {
  createInMemoryNetwork,
  FedscoreError,
  type Logger,
  noopLogger,
  noProgress,
  type ProgressCallback,
  ProtocolSession,
  runParties,
  selectRows,
  type Table,
} from '@fedscore/core';
import type { WoeLrModel } from '@fedscore/scoring';
import {
  type BinningMethod,
  type BinningScheme,
  type FeatureSelectionLineage,
  type IvScore,
  type PartyFeatures,
  type PartyModel,
  runWoeBinningGuest,
  runWoeBinningHost,
  selectByIv,
  WOE_BINNING_PROTOCOL,
  WOE_BINNING_VERSION,
  type WoeFeatureModel,
  woeBinningLocal,
  woeTransformColumns,
} from '@fedscore/vfl';
import { envelopeCodec } from '@fedscore/wire';

export interface WoeSettings {
  readonly method: BinningMethod;
  /** Target bins per feature (missing bin not counted). */
  readonly bins: number;
  /** Keep features with IV >= this (0 keeps every feature). */
  readonly minIv: number;
  /** How the guest's labels travel to the hosts' binning: 'ckks', or 'none' (insecure debug runs). */
  readonly scheme: BinningScheme;
  /** Worker threads of the hosts' CKKS bin sums (default 2). */
  readonly workers?: number;
}

/** One party's WOE features: what that party keeps. */
export interface PartyWoe {
  readonly party: string;
  readonly role: 'guest' | 'host';
  /** Every feature's bins and WOE, fitted on the training rows, in column order. */
  readonly models: readonly WoeFeatureModel[];
  /** The selected features, in the order of `features.names`. */
  readonly selected: readonly WoeFeatureModel[];
  /** WOE columns of the selected features on every aligned row. */
  readonly features: PartyFeatures;
  /** No feature reached `minIv`: the party's strongest feature was kept anyway. */
  readonly fallback: boolean;
}

export interface WoeEngineering {
  /** The guest first, then the hosts in input order. */
  readonly parties: readonly PartyWoe[];
  readonly lineage: FeatureSelectionLineage;
  readonly settings: WoeSettings;
  readonly seconds: number;
}

export interface WoeFeaturesInput {
  /** The guest's table restricted to the aligned rows, in aligned order, and its labels (1 = bad). */
  readonly guest: { readonly id: string; readonly table: Table; readonly labels: Float64Array };
  readonly hosts: readonly { readonly id: string; readonly table: Table }[];
  /** Aligned positions of the training rows: the only rows the bins and WOE are fitted on. */
  readonly trainRows: Uint32Array;
  readonly settings: WoeSettings;
  readonly logger?: Logger;
  readonly progress?: ProgressCallback;
}

export async function woeFeatures(input: WoeFeaturesInput): Promise<WoeEngineering> {
  const t0 = performance.now();
  const { settings, trainRows } = input;
  const logger = input.logger ?? noopLogger;
  const progress = input.progress ?? noProgress;
  if (!(Number.isFinite(settings.minIv) && settings.minIv >= 0)) {
    throw new FedscoreError('out_of_range', `--min-iv must be a number >= 0, got ${settings.minIv}`, {
      field: '--min-iv',
    });
  }
  if (!Number.isInteger(settings.bins) || settings.bins < 2 || settings.bins > 1000) {
    throw new FedscoreError(
      'out_of_range',
      `--woe-bins must be an integer in [2, 1000], got ${settings.bins}`,
      {
        field: '--woe-bins',
      },
    );
  }
  const binning = { method: settings.method, bins: settings.bins };
  const y = Float64Array.from(trainRows, (r) => input.guest.labels[r]!);

  const guestTrain = selectRows(input.guest.table, trainRows);
  const guestModels = woeBinningLocal(input.guest.id, guestTrain.columns, y, binning).map((l) => l.model);

  const hostModels: WoeFeatureModel[][] = [];
  for (const host of input.hosts) {
    const network = createInMemoryNetwork([input.guest.id, host.id], envelopeCodec);
    const spec = { protocol: WOE_BINNING_PROTOCOL, version: WOE_BINNING_VERSION, session: `woe-${host.id}` };
    // Both roles run in this process: the scheme choice is the user's for both (each side still warns).
    const allowPlaintextScheme = settings.scheme === 'none';
    const stage = (e: Parameters<ProgressCallback>[0]) =>
      progress({ ...e, stage: `WOE ${host.id}: ${e.stage.replace(/^binning: /, '')}` });
    const { host: outcome } = await runParties(network, {
      guest: () =>
        runWoeBinningGuest(new ProtocolSession(network.channel(input.guest.id), spec), host.id, {
          labels: y,
          scheme: settings.scheme,
          merge: { bins: settings.bins, chimerge: settings.method === 'chimerge' },
          releaseWoe: true,
          allowPlaintextScheme,
          logger,
          progress: stage,
        }),
      host: () =>
        runWoeBinningHost(new ProtocolSession(network.channel(host.id), spec), input.guest.id, {
          columns: selectRows(host.table, trainRows).columns,
          binning,
          allowSchemes: allowPlaintextScheme ? ['ckks', 'none'] : ['ckks'],
          allowPlaintextScheme,
          workers: settings.workers ?? 2,
          logger,
          progress: stage,
        }),
    });
    hostModels.push(
      outcome.features.map((f) => {
        if (f.model === undefined) {
          throw new FedscoreError('protocol_abort', `host feature '${f.name}' came back without its WOE`, {
            field: f.name,
          });
        }
        return f.model;
      }),
    );
  }

  const all = [
    { party: input.guest.id, role: 'guest' as const, table: input.guest.table, models: guestModels },
    ...input.hosts.map((h, k) => ({
      party: h.id,
      role: 'host' as const,
      table: h.table,
      models: hostModels[k]!,
    })),
  ];
  const scores: IvScore[] = all.flatMap((p) =>
    p.models.map((m) => ({ party: p.party, name: m.name, iv: m.iv })),
  );
  const lineage = selectByIv(scores, { minIv: settings.minIv });
  const parties = all.map((p): PartyWoe => {
    const kept = new Set(lineage.selected.filter((s) => s.party === p.party).map((s) => s.name));
    let selected = p.models.filter((m) => kept.has(m.name));
    const fallback = selected.length === 0;
    if (fallback) {
      const best = [...p.models].sort((a, b) => b.iv - a.iv || a.name.localeCompare(b.name))[0];
      if (best === undefined) {
        throw new FedscoreError('invalid_argument', `party '${p.party}' has no feature column`, {
          field: 'columns',
        });
      }
      selected = [best];
      logger.warn(`no feature of ${p.party} reaches IV ${settings.minIv}: keeping its strongest one`, {
        party: p.party,
      });
    }
    // A value missing on a test row where the training rows had none gets a neutral WOE (0): the bins
    // gain a missing bin that no training row fell in.
    selected = selected.map((m) => withMissingBin(m, p.table));
    return {
      party: p.party,
      role: p.role,
      models: p.models,
      selected,
      features: {
        names: selected.map((m) => m.name),
        columns: woeTransformColumns(p.table.columns, selected),
      },
      fallback,
    };
  });
  return { parties, lineage, settings, seconds: (performance.now() - t0) / 1000 };
}

/** The model with a missing bin of WOE 0 when its column has missing values the bins cannot take. */
function withMissingBin(model: WoeFeatureModel, table: Table): WoeFeatureModel {
  if (model.bins.missing) return model;
  const column = table.columns.find((c) => c.name === model.name);
  if (column === undefined) {
    throw new FedscoreError('not_found', `no column '${model.name}'`, { field: model.name });
  }
  let missing = false;
  if (column.kind === 'numeric') {
    for (let i = 0; i < column.values.length && !missing; i++) missing = Number.isNaN(column.values[i]!);
  } else {
    for (let i = 0; i < column.codes.length && !missing; i++) missing = column.codes[i]! < 0;
    // Categories never seen in training go to the missing bin when there is no "other" group.
    if (!missing && model.bins.kind === 'categorical' && model.bins.otherGroup < 0) {
      const seen = new Set(model.bins.groups.flat());
      missing = column.categories.some((c) => !seen.has(c));
    }
  }
  if (!missing) return model;
  return { ...model, bins: { ...model.bins, missing: true }, woe: [...model.woe, 0] };
}

/**
 * The trained WOE logistic regression as `buildScorecard` takes it. Hetero-LR trains on each party's
 * standardized columns, z = (WOE - mean) / scale, so logit P(bad) = b + sum_j w_j (WOE_j - m_j) / s_j
 * = (b - sum_j w_j m_j / s_j) + sum_j (w_j / s_j) WOE_j: the coefficient of raw WOE is w_j / s_j and the
 * centring terms of every party fold into the guest's intercept (exact, no refit).
 */
export function woeLrModel(
  models: readonly PartyModel[],
  woe: WoeEngineering,
  interceptHolder: string,
): WoeLrModel {
  let intercept = 0;
  const features: WoeLrModel['features'][number][] = [];
  for (const m of models) {
    const party = woe.parties.find((p) => p.party === m.party);
    if (party === undefined) {
      throw new FedscoreError('not_found', `no WOE features of party '${m.party}'`, { field: 'party' });
    }
    intercept += m.intercept;
    m.featureNames.forEach((name, j) => {
      const model = party.selected.find((s) => s.name === name);
      if (model === undefined) {
        throw new FedscoreError('not_found', `party '${m.party}' has no WOE model of '${name}'`, {
          field: name,
        });
      }
      const w = m.weights[j]!;
      const s = m.standardization.scale[j]!;
      intercept -= (w * m.standardization.mean[j]!) / s;
      features.push({ party: m.party, name, bins: model.bins, woe: model.woe, coefficient: w / s });
    });
  }
  return { intercept, interceptHolder, features };
}

/** What a party writes for its WOE features: its own bins and WOE (never sent to anyone). */
export function partyWoeFile(p: PartyWoe): string {
  return `${JSON.stringify(
    {
      format: 'fedscore.woe-features',
      version: 1,
      party: p.party,
      role: p.role,
      selected: p.selected,
      iv: Object.fromEntries(p.models.map((m) => [m.name, m.iv])),
    },
    null,
    2,
  )}\n`;
}

/** The lineage entry of the joint descriptor: how the WOE features were made and which were kept. */
export function woeLineage(woe: WoeEngineering): Record<string, unknown> {
  return {
    kind: 'woe',
    method: woe.settings.method,
    bins: woe.settings.bins,
    labels: woe.settings.scheme,
    fittedOn: 'training rows',
    hostWoeReleased: true,
    selection: woe.lineage,
    used: Object.fromEntries(woe.parties.map((p) => [p.party, p.features.names])),
    fallback: woe.parties.filter((p) => p.fallback).map((p) => p.party),
  };
}
