/**
 * A representative slice of the bad-input sweep (scripts/sweep, issue 12), so that CI catches a
 * regression without running all of `pnpm sweep`: one case per class -- a corrupted cell in training and
 * in binning, invalid UTF-8 in PSI ids, a header-only file, a bad flag refused before PSI, a huge value on
 * its way into CKKS, a diverging learning rate, line numbers past blank lines and quoted breaks, and
 * library calls into CKKS with 1e308, a diverging federated average, invalid UTF-8 in `consent check --ids`
 * and a file with another delimiter in `stability`. Each must be refused clearly (or handled): never silent-wrong, a
 * crash or a hang. Also checks that the case files hold the sweep's minimum of cases.
 */
import { describe, expect, it } from 'vitest';
import { loadCases, runCases } from '../sweep/run.ts';

const SLICE = [
  'csv/train-guest/inf',
  'csv/binning-host/quoted-line-break',
  'csv/psi-guest-id/latin1-byte',
  'lines/train-guest/blank-lines-crlf-and-quoted-break-before-the-bad-cell',
  'files/train/host-header-only',
  'flags/train/--epochs 0',
  'huge/score-batch/1e15',
  'huge/train-host-none/1e308',
  'diverged/none-arbiter/learning-rate-1e200',
  'categorical/binning/a-column-half-words-is-refused',
  'lib/he/encrypt-1e308',
  // Found by the issue 12 audit: HFL divergence, UTF-8 in a governance id list, a wrong delimiter.
  'diverged/fedavg/learning-rate-1e200',
  'utf8/consent-check-ids/latin1-byte',
  'files/stability/port-semicolon-delimiter',
];

describe('bad-input sweep (slice)', () => {
  it('loads at least 150 CLI and library cases with unique ids', async () => {
    const cases = await loadCases();
    expect(cases.filter((c) => !c.group.startsWith('node')).length).toBeGreaterThanOrEqual(150);
    for (const id of SLICE)
      expect(
        cases.some((c) => c.id === id),
        id,
      ).toBe(true);
  });

  it('refuses each bad input of the slice clearly', async () => {
    const cases = (await loadCases()).filter((c) => SLICE.includes(c.id));
    const reports = await runCases(cases, 2);
    for (const r of reports) {
      expect(['refused-clearly', 'handled'], `${r.id}: ${r.outcome}: ${r.detail}`).toContain(r.outcome);
    }
  }, 300_000);
});
