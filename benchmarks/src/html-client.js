// The benchmark page's chart script (browser, inlined into results/index.html after uPlot). It reads the
// page data from the #bench-data JSON element and draws grouped bar charts with uPlot. A chart that
// draws marks its figure data-drawn="yes"; errors go to #bench-errors, never silently.
(() => {
  const errors = document.getElementById('bench-errors');
  const fail = (where, e) => {
    const msg = `${where}: ${e?.message ? e.message : String(e)}`;
    errors.textContent += `${errors.textContent ? '\n' : ''}chart error, ${msg}`;
  };
  window.addEventListener('error', (ev) => fail('page', ev.error || ev.message));
  const data = JSON.parse(document.getElementById('bench-data').textContent);
  const PALETTE = ['#2a7ab0', '#e08a1e', '#d1495b', '#3c9d5d', '#7d5ba6', '#8a939f'];

  /**
   * Grouped bars: groups along x, one bar per series in each group. uPlot shares one x array across
   * series, so each (group, series) gets its own x position and every series is null elsewhere.
   */
  const grouped = (id, chart) => {
    const fig = document.getElementById(id);
    if (!fig) return;
    const target = fig.querySelector('.plot');
    try {
      const k = chart.series.length;
      const step = k + 1;
      const xs = [];
      const ys = chart.series.map(() => []);
      chart.groups.forEach((_, g) => {
        for (let s = 0; s < k; s++) {
          xs.push(g * step + s + 1);
          chart.series.forEach((ser, t) => {
            const v = t === s ? ser.values[g] : null;
            ys[t].push(v == null || !Number.isFinite(v) ? null : v);
          });
        }
      });
      const width = Math.max(320, Math.floor(target.getBoundingClientRect().width) || 540);
      const log = chart.log === true;
      const opts = {
        width,
        height: 300,
        legend: { live: false },
        scales: {
          x: { time: false, range: [0, chart.groups.length * step] },
          y: log ? { distr: 3, log: 10 } : { range: (_u, _min, max) => [0, max > 0 ? max * 1.1 : 1] },
        },
        axes: [
          {
            splits: () => chart.groups.map((_, g) => g * step + (k + 1) / 2),
            values: () => chart.groups,
            grid: { show: false },
          },
          { label: chart.yLabel, size: 70, values: (_u, vs) => vs.map((v) => (v == null ? '' : fmt(v))) },
        ],
        series: [
          {},
          ...chart.series.map((ser, t) => ({
            label: ser.label,
            stroke: PALETTE[t % PALETTE.length],
            fill: `${PALETTE[t % PALETTE.length]}cc`,
            width: 1,
            points: { show: false },
            paths: uPlot.paths.bars({ size: [0.85, 80] }),
            ...(log && { fillTo: 1 }),
          })),
        ],
        hooks: {
          draw: [
            () => {
              fig.dataset.drawn = 'yes';
            },
          ],
        },
      };
      new uPlot(opts, [xs, ...ys], target);
    } catch (e) {
      fail(id, e);
    }
  };

  const fmt = (v) => {
    const a = Math.abs(v);
    if (a >= 1e9) return `${(v / 1e9).toFixed(1)}G`;
    if (a >= 1e6) return `${(v / 1e6).toFixed(1)}M`;
    if (a >= 1e3) return `${(v / 1e3).toFixed(1)}k`;
    if (a >= 10) return v.toFixed(0);
    if (a >= 1) return v.toFixed(1);
    return v.toPrecision(2);
  };

  for (const c of data.charts) grouped(c.id, c);
})();
