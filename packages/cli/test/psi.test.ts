/**
 * `fedscore psi`: the intersection of two CSV files' USCC columns equals a plain Set intersection of the
 * normalized ids; --out lists it in the aligned order with each side's line; invalid ids fail naming the
 * file and line, or are skipped and counted; the host cache is built once and then reused. Exact.
 * The CLI runs in-process through `main()` with stdout/stderr captured.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateUniqueUsccs, normalizeUscc, seededRng } from '@fedscore/core';
import { afterAll, describe, expect, it } from 'vitest';
import { lastJson, runCli } from './run-cli.ts';

const dir = mkdtempSync(join(tmpdir(), 'fedscore-psi-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const codes = generateUniqueUsccs(seededRng('cli-psi'), 500);
const guestIds = codes.slice(0, 300);
const hostIds = codes.slice(180); // 120 shared
// the guest writes some ids in lower case with spaces, and one twice
const guestCells = guestIds.map((c, i) => (i % 5 === 0 ? ` ${c.toLowerCase()} ` : c));
const guestCsv = join(dir, 'bank.csv');
const hostCsv = join(dir, 'gov.csv');
writeFileSync(
  guestCsv,
  `uscc,revenue\n${guestCells.map((c, i) => `${c},${i * 10}`).join('\n')}\n${guestIds[7]},1\n`,
);
writeFileSync(hostCsv, `tax,uscc\n${hostIds.map((c, i) => `${i},${c}`).join('\n')}\n`);
const expected = new Set(guestIds.filter((c) => new Set(hostIds).has(c)));

describe('fedscore psi', () => {
  it('prints guest, host, intersection and seconds; --out holds the aligned intersection', async () => {
    const out = join(dir, 'aligned.csv');
    const r = await runCli([
      'psi',
      '--guest',
      guestCsv,
      '--host',
      hostCsv,
      '--id',
      'uscc',
      '--out',
      out,
      '--json',
      '--quiet',
      '--threads',
      '2',
    ]);
    expect(r.code, r.stderr).toBe(0);
    const j = lastJson(r.stdout);
    expect(j['guest']).toBe(300);
    expect(j['host']).toBe(320);
    expect(j['intersection']).toBe(expected.size);
    expect(typeof j['seconds']).toBe('number');
    expect((j['guestIds'] as Record<string, unknown>)['duplicates']).toBe(1);
    const lines = readFileSync(out, 'utf8').trim().split('\n');
    expect(lines[0]).toBe('id,guest_line,host_line');
    const rows = lines.slice(1).map((l) => l.split(','));
    expect(new Set(rows.map((r) => r[0]))).toEqual(expected);
    for (const [id, gLine, hLine] of rows) {
      expect(normalizeUscc(guestCells[Number(gLine) - 2]!)).toBe(id);
      expect(hostIds[Number(hLine) - 2]).toBe(id);
    }
  });

  it('guest_only mode reports the same size', async () => {
    const r = await runCli([
      'psi',
      '--guest',
      guestCsv,
      '--host',
      hostCsv,
      '--id',
      'uscc',
      '--mode',
      'guest_only',
      '--json',
      '--quiet',
    ]);
    expect(r.code, r.stderr).toBe(0);
    expect(lastJson(r.stdout)['intersection']).toBe(expected.size);
  });

  it('an invalid id fails naming file and line, or is skipped with --skip-invalid', async () => {
    const bad = join(dir, 'bad.csv');
    writeFileSync(bad, `uscc\n${hostIds[0]}\n${hostIds[1]!.slice(0, 17)}Q\n${hostIds[2]}\n`);
    const r = await runCli(['psi', '--guest', guestCsv, '--host', bad, '--id', 'uscc', '--json', '--quiet']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('invalid_uscc');
    expect(r.stderr).toContain('bad.csv:3');
    const s = await runCli([
      'psi',
      '--guest',
      guestCsv,
      '--host',
      bad,
      '--id',
      'uscc',
      '--skip-invalid',
      '--json',
      '--quiet',
    ]);
    expect(s.code, s.stderr).toBe(0);
    const j = lastJson(s.stdout);
    expect((j['hostIds'] as Record<string, unknown>)['invalid']).toBe(1);
    expect((j['hostIds'] as Record<string, unknown>)['invalidLines']).toEqual([3]);
    expect(j['host']).toBe(2);
  });

  it('--host-cache builds the cache once (mode 0600) and reuses it', async () => {
    const cache = join(dir, 'gov.psicache');
    const args = [
      'psi',
      '--guest',
      guestCsv,
      '--host',
      hostCsv,
      '--id',
      'uscc',
      '--host-cache',
      cache,
      '--json',
      '--quiet',
    ];
    const first = await runCli(args);
    expect(first.code, first.stderr).toBe(0);
    expect(lastJson(first.stdout)['hostCache']).toBe('built');
    expect(existsSync(cache)).toBe(true);
    expect(statSync(cache).mode & 0o777).toBe(0o600);
    const second = await runCli(args);
    expect(second.code, second.stderr).toBe(0);
    expect(lastJson(second.stdout)['hostCache']).toBe('reused');
    expect(lastJson(second.stdout)['intersection']).toBe(expected.size);
  });

  it('--id-kind: opaque ids (auto from each file), --case-fold, and a kind mismatch stops with psi_mismatch', async () => {
    // e-mail addresses and row numbers: no valid USCC, so 'auto' makes each side opaque on its own
    const emails = Array.from({ length: 120 }, (_, i) => `Customer.${i}@Bank.example`);
    const guestMail = join(dir, 'bank-mail.csv');
    const hostMail = join(dir, 'gov-mail.csv');
    writeFileSync(
      guestMail,
      `email,x\n${emails
        .slice(0, 80)
        .map((e, i) => `${e},${i}`)
        .join('\n')}\n`,
    );
    // the host writes 20 shared addresses in lower case and 20 as the guest does
    const hostCells = [...emails.slice(40, 60).map((e) => e.toLowerCase()), ...emails.slice(60, 120)];
    writeFileSync(hostMail, `email\n${hostCells.join('\n')}\n`);
    const base = ['psi', '--guest', guestMail, '--host', hostMail, '--id', 'email', '--json', '--quiet'];
    const exact = await runCli(base);
    expect(exact.code, exact.stderr).toBe(0);
    expect(lastJson(exact.stdout)).toMatchObject({ intersection: 20, idKind: 'opaque', caseFold: false });
    const folded = await runCli([...base, '--case-fold']);
    expect(folded.code, folded.stderr).toBe(0);
    expect(lastJson(folded.stdout)).toMatchObject({ intersection: 40, idKind: 'opaque', caseFold: true });

    // a USCC file against a row-number file: each side decides alone, the hello refuses the pair
    const rows = join(dir, 'rows.csv');
    writeFileSync(rows, `uscc\n${Array.from({ length: 50 }, (_, i) => i).join('\n')}\n`);
    const mixed = await runCli([
      'psi',
      '--guest',
      guestCsv,
      '--host',
      rows,
      '--id',
      'uscc',
      '--json',
      '--quiet',
    ]);
    expect(mixed.code).toBe(1);
    expect((lastJson(mixed.stdout) as { error: object }).error).toMatchObject({
      code: 'psi_mismatch',
      field: 'idKind',
    });
    // naming the kind makes both sides opaque: valid, and nothing in common
    const named = await runCli([
      'psi',
      '--guest',
      guestCsv,
      '--host',
      rows,
      '--id',
      'uscc',
      '--id-kind',
      'opaque',
      '--json',
      '--quiet',
    ]);
    expect(named.code, named.stderr).toBe(0);
    expect(lastJson(named.stdout)).toMatchObject({ intersection: 0, idKind: 'opaque', host: 50 });
    const usage = await runCli([...base, '--id-kind', 'uscc', '--case-fold']);
    expect(usage.code).toBe(1);
    expect((lastJson(usage.stdout) as { error: object }).error).toMatchObject({
      code: 'invalid_argument',
      field: '--case-fold',
    });
  });

  it('a missing id column is an error naming it', async () => {
    const r = await runCli([
      'psi',
      '--guest',
      guestCsv,
      '--host',
      hostCsv,
      '--id',
      'nope',
      '--json',
      '--quiet',
    ]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('nope');
  });
});
