/**
 * Runs the node's sweep cases (scripts/sweep/cases-node.ts) under vitest, sequentially: each case in a
 * fresh directory, past its time limit a `hang`. `pnpm sweep` runs the same cases with the CLI's (every
 * `cases-*.ts` module; `--group node-store` etc. selects them). The node's part of issue 12 is done when
 * none is a silent wrong result, a crash or a hang. `FEDSCORE_SWEEP_FILTER=<substring>` runs the
 * matching cases only.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cases } from '../sweep/cases-node.ts';
import type { SweepResult } from '../sweep/types.ts';

const filter = process.env['FEDSCORE_SWEEP_FILTER'];
const selected = cases.filter((c) => filter === undefined || c.id.includes(filter));

async function runCase(c: (typeof cases)[number]): Promise<SweepResult> {
  const dir = mkdtempSync(join(tmpdir(), 'fedscore-sweep-'));
  const limit = c.timeoutMs ?? 30_000;
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      c.run(dir).catch(
        (e: unknown): SweepResult => ({
          outcome: 'crash',
          detail: `the case threw: ${e instanceof Error ? e.message.split('\n')[0] : String(e)}`,
        }),
      ),
      new Promise<SweepResult>((r) => {
        timer = setTimeout(() => r({ outcome: 'hang', detail: `no result in ${limit} ms` }), limit);
      }),
    ]);
  } finally {
    clearTimeout(timer);
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('the node sweep cases', () => {
  it('has at least 50 cases with unique ids', () => {
    expect(cases.length).toBeGreaterThanOrEqual(50);
    expect(new Set(cases.map((c) => c.id)).size).toBe(cases.length);
  });

  it(
    'no silent wrong result, crash or hang',
    async () => {
      const results: { id: string; outcome: string; detail: string }[] = [];
      for (const c of selected) results.push({ id: c.id, ...(await runCase(c)) });
      const bad = results.filter((r) => r.outcome !== 'refused-clearly' && r.outcome !== 'handled');
      const tally: Record<string, number> = {};
      for (const r of results) tally[r.outcome] = (tally[r.outcome] ?? 0) + 1;
      process.stderr.write(
        `node sweep: ${results.length} cases ${JSON.stringify(tally)}\n${results.map((r) => `  ${r.outcome} ${r.id}: ${r.detail}`).join('\n')}\n`,
      );
      expect(bad).toEqual([]);
    },
    30 * 60_000,
  );
});
