/**
 * The Jobs page's form of fields: what the fields mean as a job spec. The hosts are picked from the node's
 * configured peers and the guest's dataset from its configured `data` (pages.ts renders the choices); the
 * hosts' datasets are typed, since only each host knows its own. Beside the kind, the parties, the scheme
 * and the plaintext opt-in, the form holds the settings of each kind (epochs, binning with its bins and
 * minimum IV: hetero-lr; trees and depth: secureboost; rounds, local epochs, learning rate, decay and
 * secure aggregation: hfl), the CKKS preset and the consent purpose and categories. The spec built here is
 * the same object the JSON text area and the YAML file give, submitted through the same `submitJob` (so
 * validated by `validateJobSpec`); this module only turns text into that object and knows which spec paths
 * each field fills, so that a refusal naming a path is shown next to the field that holds it.
 */
import { FedscoreError } from '@fedscore/core';
import { JOB_CKKS_PRESETS } from '../jobs/spec.ts';

export const JOB_KINDS = ['hetero-lr', 'secureboost', 'hfl'] as const;
export const JOB_SCHEMES = ['ckks', 'paillier', 'none'] as const;
/** The preset choices: blank is the spec's default (absent). */
export const JOB_PRESETS = ['', ...JOB_CKKS_PRESETS] as const;
export const JOB_PURPOSES = ['training', 'scoring'] as const;

/**
 * The form's fields, each with the spec paths it fills (an error on one of them is shown by the field).
 * `guestData` fills `data.<guest>` (jobFormFieldOf takes the guest).
 */
export const JOB_FORM_FIELDS = {
  kind: ['kind', 'hfl', 'secureboost'],
  id: ['id'],
  hosts: ['hosts', 'guest'],
  guestData: [],
  data: ['data'],
  arbiter: ['arbiter'],
  scheme: ['train.scheme', 'binning.scheme'],
  plaintext: ['allowPlaintextScheme'],
  ckksPreset: ['train.ckksPreset'],
  epochs: ['train.maxEpochs'],
  binning: ['binning'],
  bins: ['binning.bins'],
  minIv: ['binning.minIv'],
  trees: ['secureboost.trees'],
  depth: ['secureboost.depth'],
  rounds: ['hfl.rounds'],
  localEpochs: ['hfl.localEpochs'],
  learningRate: ['hfl.learningRate'],
  decay: ['hfl.learningRateDecay'],
  secureAgg: ['hfl.secureAgg'],
  purpose: ['consent.purpose'],
  categories: ['consent.categories'],
} as const satisfies Record<string, readonly string[]>;
export type JobFormField = keyof typeof JOB_FORM_FIELDS;
export type JobFormValues = Readonly<Record<string, string>>;

/** The form field whose paths include the spec path `field` (an error's), if any. */
export function jobFormFieldOf(field: string | undefined, guest?: string): JobFormField | undefined {
  if (field === undefined) return undefined;
  if (guest !== undefined && field === `data.${guest}`) return 'guestData';
  let best: { name: JobFormField; length: number } | undefined;
  for (const [name, paths] of Object.entries(JOB_FORM_FIELDS) as [JobFormField, readonly string[]][]) {
    for (const p of paths) {
      const hit = field === p || field.startsWith(`${p}.`) || field.startsWith(`${p}[`);
      if (hit && (best === undefined || p.length > best.length)) best = { name, length: p.length };
    }
  }
  return best?.name;
}

/**
 * The form's starting values on a node: its first peer as the host, its first dataset as the guest's
 * (none configured: typed with the hosts' as before), the host's dataset, the spec's defaults elsewhere
 * (number fields blank; secure aggregation on).
 */
export function defaultJobFormValues(
  party: string,
  peers: readonly string[],
  datasets: readonly string[] = [],
): JobFormValues {
  const host = peers[0] ?? 'government';
  const own = datasets[0];
  return {
    kind: 'hetero-lr',
    id: '',
    hosts: host,
    guestData: own ?? '',
    data: own === undefined ? `${party}=loans, ${host}=credit` : `${host}=credit`,
    arbiter: '',
    scheme: 'ckks',
    plaintext: '',
    ckksPreset: '',
    epochs: '',
    binning: 'on',
    bins: '',
    minIv: '',
    trees: '',
    depth: '',
    rounds: '',
    localEpochs: '',
    learningRate: '',
    decay: '',
    secureAgg: 'on',
    purpose: 'training',
    categories: '',
  };
}

const list = (text: string | undefined): string[] =>
  (text ?? '')
    .split(',')
    .map((x) => x.trim())
    .filter((x) => x !== '');

/** A number field: blank is absent (the spec's default); anything else goes to the spec's validation. */
function numberField(text: string | undefined): number | undefined {
  const t = (text ?? '').trim();
  return t === '' ? undefined : Number(t);
}

/**
 * The job spec the fields describe, for `guest` (the node's party: a job is submitted to its guest's
 * node). Only the settings of the chosen kind are used (epochs, bins and minimum IV: hetero-lr; trees and
 * depth: secureboost; rounds, local epochs, learning rate, decay and secure aggregation: hfl). The
 * plaintext box is the spec's `allowPlaintextScheme` (scheme `none` is refused without it, and still by
 * any node whose `accept` does not allow it). `hosts` is party ids separated by commas (the checked peers,
 * joined by the router). `data` is `party=dataset` pairs separated by commas; a pair without both halves
 * is refused naming `data`; the guest's picked dataset (`guestData`, when not blank) is its pair, refused
 * naming `data.<guest>` when `datasets` (the node's own) is given and does not hold it. Blank
 * number fields, a blank preset and blank categories are the spec's defaults. Everything else is left to
 * `validateJobSpec`.
 */
export function jobSpecFromFields(
  v: JobFormValues,
  guest: string,
  datasets: readonly string[] = [],
): Record<string, unknown> {
  const kind = (v['kind'] ?? '').trim() || 'hetero-lr';
  const data: Record<string, string> = {};
  for (const pair of list(v['data'])) {
    const i = pair.indexOf('=');
    const party = i < 0 ? '' : pair.slice(0, i).trim();
    const dataset = i < 0 ? '' : pair.slice(i + 1).trim();
    if (party === '' || dataset === '') {
      throw new FedscoreError('invalid_config', 'job spec: write each dataset as party=dataset', {
        field: 'data',
      });
    }
    data[party] = dataset;
  }
  const own = (v['guestData'] ?? '').trim();
  // The choice is of the node's own datasets: a name it does not have would only fail when the job runs.
  if (own !== '' && datasets.length > 0 && !datasets.includes(own)) {
    throw new FedscoreError('invalid_config', `job spec: ${guest} has no dataset '${own}'`, {
      field: `data.${guest}`,
    });
  }
  if (own !== '') data[guest] = own;
  const scheme = (v['scheme'] ?? '').trim() || 'ckks';
  const preset = (v['ckksPreset'] ?? '').trim();
  const id = (v['id'] ?? '').trim();
  const arbiter = (v['arbiter'] ?? '').trim();
  const epochs = numberField(v['epochs']);
  const bins = numberField(v['bins']);
  const minIv = numberField(v['minIv']);
  const trees = numberField(v['trees']);
  const depth = numberField(v['depth']);
  const rounds = numberField(v['rounds']);
  const localEpochs = numberField(v['localEpochs']);
  const learningRate = numberField(v['learningRate']);
  const decay = numberField(v['decay']);
  const purpose = (v['purpose'] ?? '').trim();
  const categories = list(v['categories']);
  const lr = kind === 'hetero-lr';
  return {
    ...(id !== '' && { id }),
    kind,
    guest,
    hosts: list(v['hosts']),
    ...(arbiter !== '' && { arbiter }),
    data,
    ...(v['plaintext'] === 'on' && { allowPlaintextScheme: true }),
    binning: {
      enabled: v['binning'] === 'on',
      scheme,
      ...(lr && bins !== undefined && { bins }),
      ...(lr && minIv !== undefined && { minIv }),
    },
    train: {
      scheme,
      ...(preset !== '' && { ckksPreset: preset }),
      ...(lr && epochs !== undefined && { maxEpochs: epochs }),
    },
    consent: {
      ...(purpose !== '' && { purpose }),
      ...(categories.length > 0 && { categories }),
    },
    ...(kind === 'secureboost' && {
      secureboost: {
        ...(trees !== undefined && { trees }),
        ...(depth !== undefined && { depth }),
      },
    }),
    ...(kind === 'hfl' && {
      hfl: {
        ...(rounds !== undefined && { rounds }),
        ...(localEpochs !== undefined && { localEpochs }),
        ...(learningRate !== undefined && { learningRate }),
        ...(decay !== undefined && { learningRateDecay: decay }),
        secureAgg: v['secureAgg'] === 'on',
      },
    }),
  };
}
