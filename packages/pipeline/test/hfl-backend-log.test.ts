/**
 * Issue 16: every result and log names the TensorFlow.js backend that ran. An in-process `hfl` run (the
 * coordinator and three banks, one round) with a memory logger: each bank logs the backend it trains on
 * when its role starts, the coordinator logs it with the finished rounds, and the train checkpoint (the
 * result the CLI and the node job report) carries the same name as `tfjsBackend()` of this process.
 */
import { memoryLogger } from '@fedscore/core';
import { generatePopulation, splitHorizontal } from '@fedscore/datasets';
import { initTfjsBackend, tfjsBackend } from '@fedscore/hfl';
import { runHflInProcess } from '@fedscore/pipeline';
import { describe, expect, it } from 'vitest';

describe('hfl run: the backend is named in every log and result', () => {
  it('each bank and the coordinator log the backend; the result names it', async () => {
    await initTfjsBackend();
    const split = splitHorizontal(
      generatePopulation({ enterprises: 2000, overlap: 1, defaultRate: 0.15, seed: 5 }),
      { banks: 3, bankRows: 120, seed: 6 },
    );
    const logger = memoryLogger('info');
    const r = await runHflInProcess({
      id: 'hfl-backend-log',
      coordinator: 'platform',
      test: split.test,
      banks: split.banks.map((b, i) => ({ id: `bank-${i + 1}`, table: b.table })),
      seed: 3,
      plan: {
        model: 'lr',
        rounds: 1,
        localEpochs: 1,
        learningRate: 0.1,
        batchSize: 32,
        proximalMu: 0,
        secureAgg: true,
      },
      logger,
    });
    const backend = tfjsBackend();
    expect(['wasm', 'tensorflow', 'cpu']).toContain(backend);
    expect(r.train.backend).toBe(backend);
    const ready = logger.records.filter((x) => x.message === 'hfl client ready');
    expect(ready.map((x) => x.fields['party']).sort()).toEqual(['bank-1', 'bank-2', 'bank-3']);
    for (const x of ready) expect(x.fields['backend']).toBe(backend);
    const done = logger.records.filter((x) => x.message === 'hfl rounds done');
    expect(done.map((x) => x.fields['backend'])).toEqual([backend]);
  }, 120_000);
});
