/**
 * `fedscore binning`: per-feature binning, WOE and IV of a guest (bank) file and a host (government) file,
 * both parties in this process over the in-memory network with the real wire codec: PSI alignment first,
 * then the guest's features binned locally and the host's through the "vfl.woe-binning" protocol (labels
 * encrypted). Prints both parties' views; run as separate parties, each sees only its own bin edges.
 */
import {
  type Column,
  createInMemoryNetwork,
  FedscoreError,
  ProtocolSession,
  runParties,
  selectRows,
} from '@fedscore/core';
import { alignInProcess } from '@fedscore/pipeline';
import type { PsiIdKindChoice } from '@fedscore/psi';
import {
  assignBins,
  type BinLabel,
  type BinningMethod,
  type BinningScheme,
  binLabels,
  correlationFilter,
  type DroppedFeature,
  type IvScore,
  ivStrength,
  runWoeBinningGuest,
  runWoeBinningHost,
  selectByIv,
  WOE_BINNING_PROTOCOL,
  WOE_BINNING_VERSION,
  withCorrelationDrops,
  woeBinningLocal,
  woeTransform,
} from '@fedscore/vfl';
import { envelopeCodec } from '@fedscore/wire';
import { bool, type Command, num, optNum, str, strs } from '../command.ts';
import { checkLabels, readPartyCsvDetailed } from '../pipeline/load.ts';
import { CATEGORICAL_OPTION, checkFlagRange, ID_KIND_OPTION } from '../pipeline/options.ts';

const METHODS: readonly BinningMethod[] = ['quantile', 'equal-width', 'chimerge'];
const SCHEMES: readonly BinningScheme[] = ['ckks', 'paillier', 'none'];

interface BinOut extends BinLabel {
  readonly count: number;
  readonly good: number;
  readonly bad: number;
  readonly woe: number;
}

export const command: Command = {
  path: ['binning'],
  summary:
    'binning, WOE and IV of a guest and a host file (host bins under encrypted labels, both in-process)',
  description: `
Aligns the two files with ECDH-PSI on --id, bins every feature of both parties, and computes WOE and
IV against the guest's --label (1 = bad). The guest's features are binned locally; the host's are
counted through the vfl.woe-binning protocol (docs/protocols/woe-binning.md): the guest encrypts its
labels (CKKS by default), the host sums them per bin and the guest decrypts per-bin counts only.

Methods: quantile (equal frequency), equal-width, chimerge (fine quantile bins merged by ChiMerge;
for host features the guest plans the merge from decrypted counts). --monotone merges further until
the bad rate is monotone. Missing values get their own bin.

Selection: features with IV >= --min-iv (default 0.02), at most --top-k, then --corr drops, within
each party, a feature correlated above the threshold with a stronger one (on WOE values; host
features use WOE only with --release-woe, else their ordinal bin index). The result is the lineage
record a model carries.

--he none is plaintext (insecure, debugging). --he paillier costs ~43 ms per row to encrypt.

Example:
  fedscore binning --guest bank.csv --host gov.csv --id uscc --label y --bins 10 --json`,
  options: {
    guest: {
      type: 'string',
      required: true,
      placeholder: 'FILE',
      description: "the guest's (bank's) CSV file",
    },
    host: {
      type: 'string',
      required: true,
      placeholder: 'FILE',
      description: "the host's (government's) CSV file",
    },
    id: { type: 'string', required: true, placeholder: 'COLUMN', description: 'id column of both files' },
    'id-kind': ID_KIND_OPTION,
    categorical: CATEGORICAL_OPTION,
    label: {
      type: 'string',
      required: true,
      placeholder: 'COLUMN',
      description: "the guest's 0/1 label column",
    },
    method: {
      type: 'string',
      default: 'quantile',
      choices: METHODS,
      description: 'binning method',
    },
    bins: { type: 'integer', default: 10, description: 'target bins per feature (missing bin not counted)' },
    monotone: { type: 'boolean', description: 'merge bins until the WOE is monotone' },
    he: { type: 'string', default: 'ckks', choices: SCHEMES, description: 'encryption of the labels' },
    'release-woe': {
      type: 'boolean',
      description: "send the host its bins' WOE (its WOE transform needs it)",
    },
    'min-iv': { type: 'number', default: 0.02, description: 'keep features with IV >= this' },
    'top-k': { type: 'integer', description: 'keep at most this many features' },
    corr: {
      type: 'number',
      description: 'within-party |Pearson r| above which the weaker feature is dropped',
    },
    workers: { type: 'integer', default: 2, description: 'worker threads for the CKKS bin sums' },
  },
  async run(options, _positionals, ctx) {
    const t0 = performance.now();
    const method = str(options, 'method') as BinningMethod;
    const scheme = str(options, 'he') as BinningScheme;
    const bins = num(options, 'bins');
    if (bins < 1 || bins > 1000) {
      throw new FedscoreError('out_of_range', `--bins must be in [1, 1000], got ${bins}`, {
        field: '--bins',
      });
    }
    // Every flag is checked before a file is read or a protocol runs.
    checkFlagRange(num(options, 'min-iv'), '--min-iv', 0);
    checkFlagRange(optNum(options, 'top-k'), '--top-k', 1);
    checkFlagRange(optNum(options, 'corr'), '--corr', 0, 1, { exclusiveMin: true });
    checkFlagRange(num(options, 'workers'), '--workers', 0, 256);
    const monotone = bool(options, 'monotone');
    const releaseWoe = bool(options, 'release-woe');
    const corr = optNum(options, 'corr');
    const binning = { method, bins, monotone };
    if (scheme === 'none')
      ctx.logger.warn('--he none: labels are sent to the host in the clear (debugging only)');

    const guestFile = str(options, 'guest');
    const hostFile = str(options, 'host');
    const idName = str(options, 'id');
    const categorical = strs(options, 'categorical');
    const labelName = str(options, 'label');
    const guestCsv = await readPartyCsvDetailed(ctx, guestFile, idName, labelName, 'keep', { categorical });
    const hostCsv = await readPartyCsvDetailed(ctx, hostFile, idName, undefined, 'keep', { categorical });
    const guestTable = guestCsv.table;
    const hostTable = hostCsv.table;
    checkLabels(guestTable, labelName, guestFile, guestCsv.lines);
    const lineOf = (lines: Int32Array) => (row: number) => lines[row] ?? row + 2;
    const alignment = await alignInProcess({
      guest: {
        id: 'guest',
        table: guestTable,
        idSource: { file: guestFile, field: 'id', lineOf: lineOf(guestCsv.lines) },
      },
      hosts: [
        {
          id: 'host',
          table: hostTable,
          idSource: { file: hostFile, field: 'id', lineOf: lineOf(hostCsv.lines) },
        },
      ],
      idKind: str(options, 'id-kind') as PsiIdKindChoice,
      logger: ctx.logger,
      progress: ctx.progress,
    });
    const guest = selectRows(guestTable, alignment.rows.get('guest')!);
    const host = selectRows(hostTable, alignment.rows.get('host')!);
    const labels = guest.label!;

    // The guest's own features: local.
    const local = woeBinningLocal('guest', guest.columns, labels, binning);

    // The host's features: the protocol, both roles here.
    const network = createInMemoryNetwork(['guest', 'host'], envelopeCodec);
    const spec = { protocol: WOE_BINNING_PROTOCOL, version: WOE_BINNING_VERSION, session: 'binning-cli' };
    // Both roles run here: choosing --he none is this user's choice for both (each side still warns).
    const allowPlaintextScheme = scheme === 'none';
    const { guest: gv, host: hv } = await runParties(network, {
      guest: () =>
        runWoeBinningGuest(new ProtocolSession(network.channel('guest'), spec), 'host', {
          labels,
          scheme,
          merge: { bins, monotone, chimerge: method === 'chimerge' },
          releaseWoe,
          allowPlaintextScheme,
          logger: ctx.logger,
          progress: ctx.progress,
        }),
      host: () =>
        runWoeBinningHost(new ProtocolSession(network.channel('host'), spec), 'guest', {
          columns: host.columns,
          binning,
          allowSchemes: SCHEMES,
          allowPlaintextScheme,
          workers: num(options, 'workers'),
          logger: ctx.logger,
          progress: ctx.progress,
        }),
    });

    const features = [
      ...local.map((l) => ({
        party: 'guest',
        name: l.model.name,
        iv: l.table.iv,
        strength: ivStrength(l.table.iv),
        bins: binLabels(l.model.bins).map(
          (label, i): BinOut => ({
            ...label,
            count: l.count[i]!,
            good: l.table.bins[i]!.good,
            bad: l.table.bins[i]!.bad,
            woe: l.table.bins[i]!.woe,
          }),
        ),
      })),
      ...gv.features.map((f, i) => ({
        party: 'host',
        name: f.name,
        iv: f.table.iv,
        strength: ivStrength(f.table.iv),
        bins: binLabels(hv.features[i]!.bins).map(
          (label, b): BinOut => ({
            ...label,
            count: f.count[b]!,
            good: f.good[b]!,
            bad: f.bad[b]!,
            woe: f.table.bins[b]!.woe,
          }),
        ),
      })),
    ];

    const scores: IvScore[] = features.map((f) => ({ party: f.party, name: f.name, iv: f.iv }));
    let lineage = selectByIv(scores, {
      minIv: num(options, 'min-iv'),
      ...(optNum(options, 'top-k') !== undefined && { topK: optNum(options, 'top-k')! }),
    });
    if (corr !== undefined) {
      const guestCols = new Map<string, Float64Array>(
        local.map((l) => [l.model.name, woeTransform(columnOf(guest.columns, l.model.name), l.model)]),
      );
      const hostCols = new Map<string, Float64Array>(
        hv.features.map((f) => {
          const col = columnOf(host.columns, f.name);
          if (f.model) return [f.name, woeTransform(col, f.model)];
          return [f.name, Float64Array.from(assignBins(col, f.bins))];
        }),
      );
      const drops: DroppedFeature[] = [
        ...correlationFilter('guest', lineage.selected, guestCols, corr),
        ...correlationFilter('host', lineage.selected, hostCols, corr),
      ];
      lineage = withCorrelationDrops(lineage, drops, corr);
    }

    const seconds = (performance.now() - t0) / 1000;
    for (const f of [...features].sort((a, b) => b.iv - a.iv)) {
      ctx.print(
        `${f.party.padEnd(5)} ${f.name.padEnd(24)} IV ${f.iv.toFixed(4)} (${f.strength}), ${f.bins.length} bins`,
      );
    }
    ctx.print(
      `aligned ${guest.nRows} rows; selected ${lineage.selected.length} of ${features.length} features; ` +
        `host bins under ${scheme}${hv.cost ? ` (${hv.cost.products} products, ${hv.cost.rotations} rotations)` : ''}; ${seconds.toFixed(1)} s`,
    );
    return {
      features,
      selection: lineage,
      aligned: guest.nRows,
      he: scheme,
      ...(hv.cost !== undefined && { he_cost: hv.cost }),
      seconds,
    };
  },
};

function columnOf(columns: readonly Column[], name: string): Column {
  const c = columns.find((x) => x.name === name);
  if (c === undefined) throw new FedscoreError('not_found', `no column '${name}'`, { field: name });
  return c;
}
