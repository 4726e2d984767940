/**
 * `fedscore datasets publish-profile --config party.yaml [--to government] [--dry-run]`: compute this
 * node's feature profile (every `data` dataset: per feature its type, coverage and missing rate, rounded;
 * docs/protocols/feature-catalogue.md), print it, and ask the running node to publish it to its peers
 * (the request goes through the node's store, which the node reads every second; the node sends the
 * profile over its mutual-TLS transport and audits it). A dataset below the release floor refuses the
 * whole profile with `privacy_floor` naming it, before anything is queued.
 */
import { resolve } from 'node:path';
import { FedscoreError } from '@fedscore/core';
import {
  assertPartyId,
  FeatureCatalogue,
  loadNodeConfig,
  openNodeStore,
  profileOwnDatasets,
  readNodeDataset,
} from '@fedscore/node';
import { bool, type Command, str, strs } from '../command.ts';

const percent = (bp: number): string => `${(bp / 100).toFixed(bp % 100 === 0 ? 0 : 1)} %`;

export const command: Command = {
  path: ['datasets', 'publish-profile'],
  summary: "publish a node's feature profile (types, coverage, missing rates) to its peers' catalogues",
  description: `
Reads every dataset of the node's config, profiles it (no value leaves: only feature names, the config's
descriptions, types, and coverage and missing rates rounded to the dataset's step; rows rounded down to
10), prints the profile and queues a publication that the running node sends within a second, to --to
(default: the config's catalogue.publishTo, else the platform peer its monitoring.government or
scoring.api.government names, else every peer). A dataset of fewer than 50 rows is refused.`,
  options: {
    config: {
      type: 'string',
      required: true,
      placeholder: 'FILE',
      description: 'the node config (YAML): party, data, peers, stateDir',
    },
    to: {
      type: 'string',
      multiple: true,
      placeholder: 'ID',
      description: 'a peer to publish to (repeatable)',
    },
    'dry-run': { type: 'boolean', default: false, description: 'print the profile, queue nothing' },
  },
  async run(o, _positionals, ctx) {
    const config = loadNodeConfig(resolve(ctx.cwd, str(o, 'config')));
    const to = strs(o, 'to').map((p) => assertPartyId(p, '--to'));
    for (const p of to) {
      if (config.peers[p] === undefined) {
        throw new FedscoreError('invalid_argument', `'${p}' is not a peer of ${config.party}`, {
          field: '--to',
        });
      }
    }
    const descriptions = Object.fromEntries(Object.entries(config.data).map(([k, d]) => [k, d.descriptions]));
    const profile = await profileOwnDatasets({
      party: config.party,
      names: Object.keys(config.data),
      read: (name) => readNodeDataset(config, name),
      descriptions,
    });
    for (const d of profile.datasets) {
      ctx.print(`${d.dataset}: ${d.rows} rows (rates to ${percent(d.rateStepBp)})`);
      for (const f of d.features) {
        ctx.print(
          `  ${f.name}  ${f.type}  coverage ${percent(f.coverageBp)}  missing ${percent(f.missingBp)}`,
        );
      }
    }
    const dryRun = bool(o, 'dry-run');
    if (!dryRun) {
      const store = openNodeStore(config);
      try {
        new FeatureCatalogue(store).requestPublication('cli', to.length > 0 ? to : undefined);
      } finally {
        store.close();
      }
      ctx.print(`queued: the running node ${config.party} publishes its profile within a second`);
    }
    return { party: config.party, queued: !dryRun, ...(to.length > 0 && { to }), datasets: profile.datasets };
  },
};
