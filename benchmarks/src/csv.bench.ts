/**
 * CSV loading: `readCsvFile` on a generated 150,000 x 12 file (id, label, 10 numeric columns with about
 * 2% missing values spelled '', 'NA' and 'NaN'), the shape of a bank's customer file. Reports the median
 * wall time over several runs and the throughput, for the default role ('infer') and for columns
 * declared numeric. Flags: --rows N, --runs N.
 */
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateUniqueUsccs, normal, seededRng, uniform } from '@fedscore/core';
import { readCsvFile, writeCsvFile } from '@fedscore/core/node';
import { type BenchResult, median, peakRssMb, timeRuns } from './report.ts';

function flag(args: string[], name: string, dflt: number): number {
  const i = args.indexOf(name);
  return i >= 0 && args[i + 1] !== undefined ? Number(args[i + 1]) : dflt;
}

export default async function (args: string[]): Promise<BenchResult> {
  const nRows = flag(args, '--rows', 150_000);
  const runs = flag(args, '--runs', 9);
  const nFeatures = 10;
  const dir = mkdtempSync(join(tmpdir(), 'fedscore-csv-bench-'));
  const path = join(dir, 'bank.csv');
  try {
    const rng = seededRng('csv-bench');
    const ids = generateUniqueUsccs(rng, nRows);
    const header = ['id', 'y', ...Array.from({ length: nFeatures }, (_, j) => `x${j}`)];
    const missingSpellings = ['', 'NA', 'NaN'];
    function* rows(): Generator<(string | number)[]> {
      for (let r = 0; r < nRows; r++) {
        const row: (string | number)[] = [ids[r]!, uniform(rng) < 0.2 ? 1 : 0];
        for (let j = 0; j < nFeatures; j++) {
          if (uniform(rng) < 0.02) row.push(missingSpellings[r % 3]!);
          // Raw, unscaled magnitudes as in bank exports: amounts with cents, ratios, counts.
          else if (j % 3 === 0) row.push(Math.round(Math.exp(normal(rng, 9, 1.5)) * 100) / 100);
          else if (j % 3 === 1) row.push(Number(normal(rng).toFixed(6)));
          else row.push(Math.floor(uniform(rng) * 60));
        }
        yield row;
      }
    }
    await writeCsvFile(path, { header, rows: rows() });
    const bytes = statSync(path).size;
    const mb = bytes / 1e6;

    const check = await readCsvFile(path, { labelColumn: 'y', idFormat: 'uscc' });
    if (check.nRows !== nRows || check.columns.length !== nFeatures) {
      throw new Error(`benchmark file read back as ${check.nRows} x ${check.columns.length}`);
    }
    const missing = check.columns.reduce((s, c) => s + c.missing, 0);

    const variants = [
      { name: "defaultRole 'infer' (default)", options: { labelColumn: 'y' } },
      { name: "defaultRole 'numeric'", options: { labelColumn: 'y', defaultRole: 'numeric' as const } },
      {
        name: "'numeric' + idFormat 'uscc'",
        options: { labelColumn: 'y', defaultRole: 'numeric' as const, idFormat: 'uscc' as const },
      },
    ];
    const raw: Record<string, number[]> = {};
    const rawCpu: Record<string, number[]> = {};
    const rowsOut: (string | number)[][] = [];
    for (const v of variants) {
      // CPU time of this process beside wall time: the 2 cores are shared, and under load the wall time
      // mostly measures waiting for a core.
      const cpu: number[] = [];
      const ms = await timeRuns(
        async () => {
          const c0 = process.cpuUsage();
          await readCsvFile(path, v.options);
          const c = process.cpuUsage(c0);
          cpu.push((c.user + c.system) / 1000);
        },
        runs,
        2,
      );
      raw[v.name] = ms;
      rawCpu[v.name] = cpu.slice(2);
      const med = median(ms);
      const medCpu = median(cpu.slice(2));
      rowsOut.push([v.name, med, Math.min(...ms), medCpu, mb / (med / 1000), mb / (medCpu / 1000)]);
    }
    const load = loadavg()[0]!;
    const headline = median(raw[variants[0]!.name]!);
    return {
      summary: {
        rows: nRows,
        columns: header.length,
        megabytes: Number(mb.toFixed(2)),
        medianMsInfer: Number(headline.toFixed(1)),
        medianMsNumeric: Number(median(raw[variants[1]!.name]!).toFixed(1)),
        medianCpuMsInfer: Number(median(rawCpu[variants[0]!.name]!).toFixed(1)),
        loadAverage1m: Number(load.toFixed(1)),
        mbPerSecondInfer: Number((mb / (headline / 1000)).toFixed(1)),
        goalUnder1s: headline < 1000,
      },
      parameters: {
        rows: nRows,
        columns: `id (USCC) + label + ${nFeatures} numeric`,
        fileBytes: bytes,
        missingCells: missing,
        runs,
        warmup: 2,
        chunkBytes: 1 << 20,
        generator: "seededRng('csv-bench')",
      },
      tables: [
        {
          title: 'readCsvFile, 150k x 12 (ms, median of runs)',
          columns: ['variant', 'median wall ms', 'min wall ms', 'median CPU ms', 'MB/s (wall)', 'MB/s (CPU)'],
          rows: rowsOut,
          note: 'Wall time includes opening and streaming the file (1 MiB reads) and building the columns.',
        },
        {
          title: 'Reference points',
          columns: ['reader', 'figure', 'source'],
          rows: [
            ['project goal', '< 1 s for 150k x 12', 'task brief'],
            ['ANCHORS.md', 'lists no CSV-loading figure to compare with', '../shared/ANCHORS.md'],
          ],
        },
      ],
      notes: [
        `2 shared cores: other work ran at the same time (1-minute load average ${load.toFixed(1)} at the end), ` +
          'so wall times are inflated and noisy; medians are quoted, and CPU time shows the work itself.',
        "The 'infer' variant also keeps a dictionary per column until 4096 distinct numbers (so a column " +
          'could still turn categorical); the numeric variant parses straight into Float64Arrays.',
        `Peak RSS of the benchmark process: ${peakRssMb()} MB (includes the generated ids and the file writer).`,
      ],
      raw: { wallMs: raw, cpuMs: rawCpu },
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
