/**
 * `fedscore scorecard`: points per bin from a WOE logistic regression (docs/scorecard.md).
 */
import { writeFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { FedscoreError } from '@fedscore/core';
import {
  buildScorecard,
  partyScorecard,
  scorecardTable,
  serializeScorecard,
  type WoeLrModel,
} from '@fedscore/scoring';
import { bool, type Command, num, optStr, str, strs } from '../command.ts';
import { readJsonFile } from '../json-file.ts';

export const command: Command = {
  path: ['scorecard'],
  summary: 'points per bin from a WOE logistic regression (base score, base odds, PDO), per-party views',
  description: `
Reads a WOE logistic-regression model (JSON: { intercept, interceptHolder, features: [{ party,
name, bins: { kind: 'numeric', name, edges, missing } | { kind: 'categorical', ... }, woe,
coefficient }] }) and prints the scorecard: points per bin, -PDO/ln2 * coefficient * WOE, and the
base points offset - factor * intercept (held by the intercept holder).

By default the table shows every feature. --party P shows P's view: its own points in full, the
other parties' features by name only, unless they are listed with --disclosed-by.

Example:
  fedscore scorecard --model woe-lr.json --base-score 600 --base-odds 50 --pdo 20 --party bank`,
  options: {
    model: { type: 'string', required: true, placeholder: 'FILE', description: 'WOE LR model (JSON)' },
    'base-score': { type: 'number', default: 600, description: 'score at the base odds' },
    'base-odds': { type: 'number', default: 50, description: 'odds good:bad at the base score' },
    pdo: { type: 'number', default: 20, description: 'points to double the odds' },
    'distribute-base': { type: 'boolean', description: 'spread the base points over the features' },
    party: { type: 'string', placeholder: 'ID', description: "show this party's view only" },
    'disclosed-by': {
      type: 'string',
      multiple: true,
      placeholder: 'ID',
      description: 'parties that disclosed their points to the viewer',
    },
    out: { type: 'string', placeholder: 'FILE', description: 'write the full scorecard JSON here' },
  },
  async run(options, _positionals, ctx) {
    const file = str(options, 'model');
    const model = (await readJsonFile(ctx.cwd, file, '--model')) as WoeLrModel;
    let card: ReturnType<typeof buildScorecard>;
    try {
      card = buildScorecard(model, {
        baseScore: num(options, 'base-score'),
        baseOdds: num(options, 'base-odds'),
        pdo: num(options, 'pdo'),
        distributeBase: bool(options, 'distribute-base'),
      });
    } catch (e) {
      if (e instanceof FedscoreError) {
        throw new FedscoreError(e.code, e.message.replace(/^field '[^']*': /, ''), {
          ...(e.field !== undefined && { field: e.field }),
          file,
          cause: e,
        });
      }
      throw e;
    }
    const viewer = optStr(options, 'party');
    const view = viewer
      ? partyScorecard(card, viewer, strs(options, 'disclosed-by'))
      : partyScorecard(
          card,
          card.basePointsHolder,
          card.features.map((f) => f.party),
        );
    const rows = scorecardTable(view);
    const out = optStr(options, 'out');
    if (out !== undefined) await writeFile(resolve(ctx.cwd, out), serializeScorecard(card));
    ctx.print(`scaling: factor ${card.scaling.factor.toFixed(4)}, offset ${card.scaling.offset.toFixed(4)}`);
    for (const r of rows) {
      ctx.print(
        `${r.party.padEnd(10)} ${r.feature.padEnd(28)} ${r.bin.padEnd(28)} ${r.woe === null ? ''.padStart(9) : r.woe.toFixed(4).padStart(9)} ${r.points === null ? '' : r.points.toFixed(2).padStart(9)}`,
      );
    }
    return {
      viewer: view.viewer,
      factor: card.scaling.factor,
      offset: card.scaling.offset,
      basePoints: view.basePoints ?? null,
      rows,
      ...(out !== undefined && { out }),
    };
  },
};
