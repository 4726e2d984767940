/**
 * The Jobs page's form of fields (kind, hosts, datasets per party, arbiter, scheme and the plaintext
 * opt-in, the kind's training settings, binning): what the fields mean as a job spec. The spec built here is the same object the JSON
 * text area and the YAML file give, submitted through the same `submitJob` (so validated by
 * `validateJobSpec`); this module only turns text into that object and knows which spec paths each field
 * fills, so that a refusal naming a path is shown next to the field that holds it.
 */
import { FedscoreError } from '@fedscore/core';

export const JOB_KINDS = ['hetero-lr', 'secureboost', 'hfl'] as const;
export const JOB_SCHEMES = ['ckks', 'paillier', 'none'] as const;

/** The form's fields, each with the spec paths it fills (an error on one of them is shown by the field). */
export const JOB_FORM_FIELDS = {
  kind: ['kind', 'hfl', 'secureboost'],
  id: ['id'],
  hosts: ['hosts', 'guest'],
  data: ['data'],
  arbiter: ['arbiter'],
  scheme: ['train.scheme', 'binning.scheme'],
  plaintext: ['allowPlaintextScheme'],
  epochs: ['train.maxEpochs'],
  trees: ['secureboost.trees'],
  depth: ['secureboost.depth'],
  rounds: ['hfl.rounds'],
  binning: ['binning'],
} as const;
export type JobFormField = keyof typeof JOB_FORM_FIELDS;
export type JobFormValues = Readonly<Record<string, string>>;

/** The form field whose paths include the spec path `field` (an error's), if any. */
export function jobFormFieldOf(field: string | undefined): JobFormField | undefined {
  if (field === undefined) return undefined;
  let best: { name: JobFormField; length: number } | undefined;
  for (const [name, paths] of Object.entries(JOB_FORM_FIELDS) as [JobFormField, readonly string[]][]) {
    for (const p of paths) {
      const hit = field === p || field.startsWith(`${p}.`) || field.startsWith(`${p}[`);
      if (hit && (best === undefined || p.length > best.length)) best = { name, length: p.length };
    }
  }
  return best?.name;
}

/** The form's starting values on a node: its first peer as the host, its own dataset and the host's. */
export function defaultJobFormValues(party: string, peers: readonly string[]): JobFormValues {
  const host = peers[0] ?? 'government';
  return {
    kind: 'hetero-lr',
    id: '',
    hosts: host,
    data: `${party}=loans, ${host}=credit`,
    arbiter: '',
    scheme: 'ckks',
    plaintext: '',
    epochs: '',
    trees: '',
    depth: '',
    rounds: '',
    binning: 'on',
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
 * node). Only the training settings of the chosen kind are used (epochs: hetero-lr; trees and depth:
 * secureboost; rounds: hfl). The plaintext box is the spec's `allowPlaintextScheme` (scheme `none` is
 * refused without it, and still by any node whose `accept` does not allow it). `data` is `party=dataset` pairs separated by commas; a pair without both
 * halves is refused naming `data`. Everything else is left to `validateJobSpec`.
 */
export function jobSpecFromFields(v: JobFormValues, guest: string): Record<string, unknown> {
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
  const scheme = (v['scheme'] ?? '').trim() || 'ckks';
  const id = (v['id'] ?? '').trim();
  const arbiter = (v['arbiter'] ?? '').trim();
  const epochs = numberField(v['epochs']);
  const trees = numberField(v['trees']);
  const depth = numberField(v['depth']);
  const rounds = numberField(v['rounds']);
  return {
    ...(id !== '' && { id }),
    kind,
    guest,
    hosts: list(v['hosts']),
    ...(arbiter !== '' && { arbiter }),
    data,
    ...(v['plaintext'] === 'on' && { allowPlaintextScheme: true }),
    binning: { enabled: v['binning'] === 'on', scheme },
    train: { scheme, ...(kind === 'hetero-lr' && epochs !== undefined && { maxEpochs: epochs }) },
    ...(kind === 'secureboost' && {
      secureboost: {
        ...(trees !== undefined && { trees }),
        ...(depth !== undefined && { depth }),
      },
    }),
    ...(kind === 'hfl' && { hfl: { ...(rounds !== undefined && { rounds }) } }),
  };
}
