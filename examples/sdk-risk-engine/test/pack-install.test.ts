/**
 * The SDK as a bank gets it (issue 14): every package packed, the tarballs installed with plain npm into
 * a fresh project in a temporary directory outside the workspace, and run from there -- the docs/sdk.md
 * example (PSI between two parties, hetero-LR under CKKS over the in-memory network, saved and loaded
 * party models, online scoring of one applicant), `npx fedscore --help` and a small `npx fedscore demo`.
 * This is the test that would have caught tarballs holding only `src/*.ts` under a `dist/` export.
 *
 * References are independent of the code under test: the intersection size is counted with a Set over
 * both id lists; the encrypted score is compared with the sum of the two parties' plaintext partial
 * scores (tolerance 1e-4: flooding noise sd 2^-20 plus CKKS encoding error ~1e-6 at scale 2^30); the
 * refusal on an old Node is compared with core's sentence for that version, run on a real Node 20 binary
 * when the machine has one (otherwise skipped, saying why). Install time and tarball sizes are printed
 * here and recorded by `scripts/pack-install.ts --record` (benchmarks/results/pack-install.md), not
 * asserted: timings belong in benchmarks.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { nodeVersionProblem } from '@fedscore/core';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  EXAMPLE,
  findOldNode,
  type PackInstallReport,
  packAndInstall,
  publishablePackages,
  ROOT,
  recordReport,
} from '../../../scripts/pack-install.ts';

const oldNode = findOldNode();
let report: PackInstallReport;

describe('packed tarballs installed with npm into a fresh project', () => {
  beforeAll(() => {
    report = packAndInstall();
    // `FEDSCORE_RECORD_PACK_INSTALL=1 ... vitest run <this file>` also refreshes benchmarks/results.
    if (process.env['FEDSCORE_RECORD_PACK_INSTALL'] === '1') recordReport(report);
    console.log(
      `pack-install: install ${report.seconds.install.toFixed(1)} s (${report.installedPackages} packages), ` +
        `tarballs ${(report.totalTarballBytes / 1024).toFixed(1)} KiB in total: ` +
        report.tarballs.map((t) => `${t.name} ${(t.bytes / 1024).toFixed(1)} KiB`).join(', '),
    );
  }, 1_200_000);

  it('packs every package; each tarball holds what its exports, bin and imports name, and nothing else', () => {
    expect(report.tarballs.map((t) => t.name).sort()).toEqual(
      publishablePackages()
        .map((p) => p.name)
        .sort(),
    );
    expect(report.problems).toEqual([]);
    for (const t of report.tarballs) {
      expect(JSON.stringify(t.manifest.exports)).not.toMatch(/src\/|(?<!\.d)\.ts"/);
      expect(JSON.stringify(t.manifest.exports)).toMatch(/dist\/index\.js/);
    }
  });

  it('rewrites workspace ranges to the versions and gives @fedscore/cli its fedscore bin', () => {
    const versions = new Map(publishablePackages().map((p) => [p.name, p.version]));
    for (const t of report.tarballs) {
      expect(t.manifest.version).toBe(versions.get(t.name));
      for (const [dep, range] of Object.entries(t.manifest.dependencies ?? {})) {
        expect(range).not.toMatch(/^workspace:/);
        if (dep.startsWith('@fedscore/')) expect(range).toBe(versions.get(dep));
      }
    }
    const cli = report.tarballs.find((t) => t.name === '@fedscore/cli')!;
    expect(cli.manifest.bin).toEqual({ fedscore: './dist/main.js' });
  });

  it('runs the docs/sdk.md example from the installed packages: PSI, CKKS training, save/load, online score', () => {
    expect(report.example.stderr).toBe('');
    expect(report.example.status).toBe(0);
    const r = JSON.parse(report.example.stdout.trim().split('\n').at(-1)!) as {
      intersection: number;
      sharedIds: number;
      epochs: number;
      score: number;
      plaintextScore: number;
      trainingAuc: number;
    };
    expect(r.intersection).toBe(r.sharedIds);
    expect(r.intersection).toBeGreaterThan(1000);
    expect(r.epochs).toBe(3);
    expect(Math.abs(r.score - r.plaintextScore)).toBeLessThan(1e-4);
    // The joint model learned: the synthetic population's signal gives ~0.8 (0.5 = chance).
    expect(r.trainingAuc).toBeGreaterThan(0.7);
  });

  it('starts the HE worker pool from dist: a worker thread encrypts and decrypts (CKKS, tolerance 1e-6)', () => {
    expect(report.heWorkers.status).toBe(0);
    const { values } = JSON.parse(report.heWorkers.stdout) as { values: number[] };
    expect(Math.abs(values[0]! - 1.5)).toBeLessThan(1e-6);
    expect(Math.abs(values[1]! + 2.25)).toBeLessThan(1e-6);
  });

  it('type-checks the example against the installed declarations (skipLibCheck off)', () => {
    expect(report.typecheck.stdout + report.typecheck.stderr).toBe('');
    expect(report.typecheck.status).toBe(0);
  });

  it('npx fedscore --help and npx fedscore demo work from the project', () => {
    expect(report.help.status).toBe(0);
    expect(report.help.stdout).toContain('Usage: fedscore <command>');
    expect(report.help.stdout).toMatch(/^\s+demo\s/m);
    expect(report.help.stderr).toBe('');
    expect(report.demo.status).toBe(0);
    expect(report.demo.stderr).not.toMatch(/ExperimentalWarning|Error/);
    const demo = JSON.parse(report.demo.stdout) as {
      psi: { intersection: number };
      joint: { he: string; test: { auc: number } };
      credit_lines: { rules: string; enterprises: number };
    };
    expect(demo.psi.intersection).toBeGreaterThan(0);
    expect(demo.joint.he).toBe('ckks');
    expect(demo.joint.test.auc).toBeGreaterThan(0.5);
    // The default rules come from the installed package, not from a repository checkout.
    expect(demo.credit_lines.rules).toContain(join('node_modules', '@fedscore', 'cli', 'dist', 'rules'));
    expect(demo.credit_lines.enterprises).toBeGreaterThan(0);
  });

  it.skipIf(oldNode === undefined)(
    `on ${oldNode?.version ?? 'an old Node.js (none found on this machine: skipped)'}, @fedscore/he and the bin refuse in one sentence`,
    () => {
      const sentence = nodeVersionProblem({ node: oldNode!.version.replace(/^v/, '') })!;
      expect(sentence).toBeDefined();
      const he = report.oldNode!.importHe;
      expect(he.status).not.toBe(0);
      expect(he.stderr).toContain(sentence);
      expect(he.stderr).not.toMatch(/CompileError|WebAssembly\.instantiate/);
      const bin = report.oldNode!.bin;
      expect(bin.status).toBe(1);
      expect(bin.stderr.trim()).toBe(sentence);
    },
  );

  it('docs/sdk.md shows the example files verbatim (the doc cannot drift from what the tests run)', () => {
    const doc = readFileSync(join(ROOT, 'docs', 'sdk.md'), 'utf8');
    for (const file of [
      EXAMPLE,
      join(ROOT, 'examples', 'sdk-risk-engine', 'src', 'message-bus-channel.ts'),
    ]) {
      expect(doc).toContain(readFileSync(file, 'utf8').trim());
    }
  });
});

if (oldNode === undefined) {
  console.log(
    'pack-install: no Node.js older than 22.18 on PATH or at /usr/bin/node; the old-Node refusal is skipped',
  );
}
