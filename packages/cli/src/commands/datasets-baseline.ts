/** `fedscore datasets baseline`: centralized LR on a generated population -- the lift of joining. */
import { centralizedLrBaseline, generatePopulation } from '@fedscore/datasets';
import { type Command, num, optNum } from '../command.ts';

export const command: Command = {
  path: ['datasets', 'baseline'],
  summary: 'centralized LR on a synthetic population: bank-only vs government-only vs pooled AUC/KS',
  description: `
Generates the population in memory (same model as 'datasets generate'), keeps the bank customers found
in the government table, splits them 80/20 (stratified, seeded) and fits L2 logistic regression
(C = 1) on bank features, government features and both. The pooled figure is what a federated model
should reach; docs/population.md quotes these numbers.`,
  options: {
    enterprises: { type: 'integer', default: 20_000, placeholder: 'N', description: 'enterprises' },
    overlap: { type: 'number', default: 1, placeholder: 'F', description: 'share that are bank customers' },
    seed: { type: 'integer', default: 20250101, placeholder: 'N', description: 'population seed' },
    'split-seed': { type: 'integer', default: 42, placeholder: 'N', description: 'train/test split seed' },
    'default-rate': { type: 'number', placeholder: 'F', description: 'target default rate (default 0.07)' },
  },
  async run(o, _positionals, ctx) {
    const defaultRate = optNum(o, 'default-rate');
    const population = generatePopulation(
      {
        enterprises: num(o, 'enterprises'),
        overlap: num(o, 'overlap'),
        bankOnlyFraction: 0,
        seed: num(o, 'seed'),
        ...(defaultRate !== undefined && { defaultRate }),
      },
      undefined,
      { progress: ctx.progress },
    );
    const r = centralizedLrBaseline(population, { seed: num(o, 'split-seed') });
    const f = (x: number): string => x.toFixed(4);
    ctx.print(`rows: train ${r.trainRows}, test ${r.testRows} (${r.testDefaults} defaults)`);
    ctx.print(
      `bank only        AUC ${f(r.bankOnly.auc)}  KS ${f(r.bankOnly.ks)}  (${r.bankOnly.columns} columns)`,
    );
    ctx.print(
      `government only  AUC ${f(r.governmentOnly.auc)}  KS ${f(r.governmentOnly.ks)}  (${r.governmentOnly.columns} columns)`,
    );
    ctx.print(`pooled           AUC ${f(r.pooled.auc)}  KS ${f(r.pooled.ks)}  (${r.pooled.columns} columns)`);
    ctx.print(`lift of joining  AUC +${f(r.pooled.auc - r.bankOnly.auc)}; oracle AUC ${f(r.oracleAuc)}`);
    return { ...r, lift: r.pooled.auc - r.bankOnly.auc };
  },
};
