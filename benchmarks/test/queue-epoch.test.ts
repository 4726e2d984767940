/**
 * `bench queue --epoch`'s accounting of the queue's time on an epoch's chain (benchmarks/src/queue-epoch.ts
 * `unionMs`): the length of a union of intervals, against an independent reference -- counting the
 * integer milliseconds that any interval covers, on random sets of integer intervals (overlapping,
 * nested, touching, disjoint, unsorted). Exact: both count the same integer grid. And the CPU readings
 * it is built on (`proc-cpu.ts`): this process's CPU seconds grow by about the CPU time a busy loop
 * burns (Linux only; 10 ms ticks, so the tolerance is 60 ms on ~300 ms), and the machine's busy
 * seconds grow at least by as much.
 */
import { seededRng, uniform } from '@fedscore/core';
import { describe, expect, it } from 'vitest';
import { cpuOf, machineBusySeconds } from '../src/proc-cpu.ts';
import { unionMs } from '../src/queue-epoch.ts';

describe('unionMs', () => {
  it('equals the covered milliseconds counted one by one', () => {
    const rng = seededRng(18);
    for (let trial = 0; trial < 200; trial++) {
      const n = Math.floor(uniform(rng) * 12);
      const xs: [number, number][] = Array.from({ length: n }, () => {
        const a = Math.floor(uniform(rng) * 200);
        return [a, a + Math.floor(uniform(rng) * 40)];
      });
      const covered = new Set<number>();
      for (const [a, b] of xs) for (let t = a; t < b; t++) covered.add(t);
      expect(unionMs(xs)).toBe(covered.size);
    }
  });

  it('handles the empty set, nesting and touching intervals', () => {
    expect(unionMs([])).toBe(0);
    expect(
      unionMs([
        [0, 100],
        [10, 20],
      ]),
    ).toBe(100);
    expect(
      unionMs([
        [5, 10],
        [0, 5],
      ]),
    ).toBe(10);
  });
});

describe.skipIf(process.platform !== 'linux')('CPU seconds from /proc', () => {
  it("counts this process's busy loop, and the machine's busy time covers it", () => {
    const [p0, m0] = [cpuOf(process.pid), machineBusySeconds()];
    const u0 = process.cpuUsage();
    const until = performance.now() + 300;
    let x = 0;
    while (performance.now() < until) x += Math.sqrt(x + 1);
    const u = process.cpuUsage(u0);
    const [p1, m1] = [cpuOf(process.pid), machineBusySeconds()];
    const burned = (u.user + u.system) / 1e6;
    expect(x).toBeGreaterThan(0);
    expect(Math.abs(p1 - p0 - burned)).toBeLessThan(0.06);
    expect(m1 - m0).toBeGreaterThanOrEqual(p1 - p0 - 0.02);
  });
});
