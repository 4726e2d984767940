/**
 * `npx -y pnpm@12.4.2 --filter @fedscore/example-gov-bank start [-- --enterprises N --bank-customers M
 * --epochs E]`: run the government-bank example and print what happened.
 */
import { runGovBank } from './gov-bank.ts';

function flag(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  if (i < 0) return fallback;
  const v = Number(process.argv[i + 1]);
  if (!Number.isInteger(v) || v <= 0) {
    process.stderr.write(`--${name} needs a positive integer\n`);
    process.exit(2);
  }
  return v;
}

const r = await runGovBank({
  enterprises: flag('enterprises', 6000),
  bankCustomers: flag('bank-customers', 3000),
  epochs: flag('epochs', 5),
  progress: (e) => {
    if (e.total !== undefined && e.done === e.total) process.stderr.write(`${e.stage}: done\n`);
  },
});
const mib = (b: number) => `${(b / 2 ** 20).toFixed(1)} MiB`;
console.log(
  `government holds ${r.government.enterprises} enterprises x ${r.government.features.length} features`,
);
console.log(
  `bank holds ${r.bank.customers} customers x ${r.bank.features.length} features + the default label`,
);
console.log(
  `PSI: ${r.psi.intersection} shared enterprises, ${mib(r.psi.bytes)}, ${r.psi.seconds.toFixed(1)} s`,
);
console.log(
  `hetero-LR (CKKS, arbiter): ${r.training.epochs} epochs, ${r.training.secondsPerEpoch.toFixed(2)} s per epoch; bytes sent: ${Object.entries(
    r.training.bytesSent,
  )
    .map(([p, b]) => `${p} ${mib(b)}`)
    .join(', ')}`,
);
console.log(`test rows: ${r.rows.test}`);
console.log(`  bank only           AUC ${r.bankOnly.auc.toFixed(4)}  KS ${r.bankOnly.ks.toFixed(4)}`);
console.log(`  bank + government   AUC ${r.joint.auc.toFixed(4)}  KS ${r.joint.ks.toFixed(4)}`);
