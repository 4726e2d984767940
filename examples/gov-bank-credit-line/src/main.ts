/**
 * examples/gov-bank-credit-line: one command starts the government credit node, a bank node and an
 * arbiter node as three separate processes on loopback (`fedscore node --config ...`, gRPC over mutual
 * TLS with a development CA), submits one job to the bank's node -- PSI -> WOE binning and IV selection
 * -> hetero-LR under CKKS -> evaluation -> publish -- on a generated population, prints the metrics and
 * where each node's store and model files are, and stops the nodes.
 *
 *   npx -y pnpm@12.4.2 --filter @fedscore/example-gov-bank-credit-line start [--out DIR]
 *     [--enterprises N] [--bank-customers N] [--epochs N] [--seed N] [--kill-government]
 *
 * --kill-government kills the government process (SIGKILL) during training and starts it again: the job
 * resumes from its last completed stage and still finishes.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { runCreditLineExample } from './cluster.ts';

const { values } = parseArgs({
  // pnpm passes a '--' separator through; it is not an argument.
  args: process.argv.slice(2).filter((a) => a !== '--'),
  options: {
    out: { type: 'string' },
    enterprises: { type: 'string', default: '3000' },
    'bank-customers': { type: 'string', default: '1500' },
    epochs: { type: 'string', default: '3' },
    seed: { type: 'string', default: '42' },
    'kill-government': { type: 'boolean', default: false },
  },
});
const dir =
  values.out === undefined ? mkdtempSync(join(tmpdir(), 'fedscore-credit-line-')) : resolve(values.out);
const out = (line: string): void => {
  process.stdout.write(`${line}\n`);
};
const result = await runCreditLineExample({
  dir,
  enterprises: Number(values.enterprises),
  bankCustomers: Number(values['bank-customers']),
  epochs: Number(values.epochs),
  seed: Number(values.seed),
  killGovernmentDuringTraining: values['kill-government'] === true,
  print: out,
});
process.exitCode = result.status === 'done' ? 0 : 1;
