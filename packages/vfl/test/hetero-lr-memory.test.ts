/**
 * A whole training run does not grow memory (STYLE.md: WASM objects are freed deterministically). Hetero-LR
 * under CKKS, every party in this thread (workers 0, so the one node-seal instance measured is the one
 * doing all the work), arbiter mode, 8 epochs. The WASM heap never shrinks, so a leak shows as growth.
 * The first run is the warm-up (the heap grows to its working size, which keygen fragmentation can push
 * a step further in the second run); from then on, the heap sampled at every end-of-epoch checkpoint
 * stays within one 16 MiB growth step from epoch 3 to 8, and two further whole runs stay within one step
 * of the heap the second left (measured: 0 bytes). Leaking the arbiter's one masked-gradient
 * ciphertext per batch (a removed dispose) grows it by 28.75 MiB over those two runs and fails here.
 * RSS is allowed 200 MiB of slack for V8's own heap and allocator noise.
 */
import { wasmHeapBytes } from '@fedscore/he';
import { trainHeteroLr } from '@fedscore/vfl';
import { describe, expect, it } from 'vitest';
import { syntheticSplit } from './synthetic.ts';

const STEP = 16 * 2 ** 20;

describe('hetero-LR memory over a whole run (CKKS, one thread)', () => {
  it('the WASM heap stays flat across epochs and across whole runs after warm-up', async () => {
    const data = syntheticSplit(600, 3, [4], 11);
    let heapAtEpoch: number[] = [];
    const run = async () => {
      heapAtEpoch = [];
      const res = await trainHeteroLr({
        guest: { features: data.guest, labels: data.labels },
        hosts: data.hosts.map((features) => ({ features })),
        mode: 'arbiter',
        scheme: 'ckks',
        hyperparams: { batchSize: 64, maxEpochs: 8, learningRate: 0.3 },
        runtime: { workers: 0 },
        onCheckpoint: (party, cp) => {
          if (party === 'arbiter') heapAtEpoch[cp.epoch - 1] = wasmHeapBytes()!;
        },
      });
      expect(res.epochs).toBe(8);
      expect(heapAtEpoch).toHaveLength(8);
    };
    await run(); // warm-up
    await run();
    expect(heapAtEpoch[7]! - heapAtEpoch[2]!).toBeLessThanOrEqual(STEP);
    const heap = wasmHeapBytes()!;
    const rss = process.memoryUsage().rss;
    await run();
    await run();
    expect(heapAtEpoch[7]! - heapAtEpoch[2]!).toBeLessThanOrEqual(STEP);
    expect(wasmHeapBytes()! - heap).toBeLessThanOrEqual(STEP);
    expect(process.memoryUsage().rss - rss).toBeLessThan(200 * 2 ** 20);
  });
});
