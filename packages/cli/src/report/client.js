// The model report's chart script (browser, inlined into the HTML after uPlot). It reads the report data
// from the #report-data JSON element and draws each chart with uPlot. After a chart draws, it counts the
// canvas pixels in each series' colour and records them on the figure (data-series-ink), so a headless
// check can tell that every series really drew. Errors go to #report-errors, never silently.
(() => {
  const errors = document.getElementById('report-errors');
  const fail = (where, e) => {
    const msg = `${where}: ${e?.message ? e.message : String(e)}`;
    errors.textContent += `${errors.textContent ? '\n' : ''}chart error, ${msg}`;
    errors.dataset.count = String(Number(errors.dataset.count || '0') + 1);
  };
  window.addEventListener('error', (ev) => fail('page', ev.error || ev.message));

  const COLORS = {
    good: '#2a7ab0',
    bad: '#d1495b',
    model: '#2a7ab0',
    chance: '#8a939f',
    gap: '#3c9d5d',
    cum: '#e08a1e',
    expected: '#7d5ba6',
    actual: '#e08a1e',
  };

  const rgb = (hex) => [1, 3, 5].map((i) => Number.parseInt(hex.slice(i, i + 2), 16));

  /** Pixels of the canvas close to each colour (antialiasing blends edges, so the match is loose). */
  const inkOf = (canvas, hexes) => {
    const ctx = canvas.getContext('2d');
    const { data } = ctx.getImageData(0, 0, canvas.width, canvas.height);
    const targets = hexes.map(rgb);
    const counts = hexes.map(() => 0);
    for (let p = 0; p < data.length; p += 4) {
      if (data[p + 3] < 128) continue;
      for (let t = 0; t < targets.length; t++) {
        const c = targets[t];
        if (Math.abs(data[p] - c[0]) + Math.abs(data[p + 1] - c[1]) + Math.abs(data[p + 2] - c[2]) < 60) {
          counts[t]++;
          break;
        }
      }
    }
    return counts;
  };

  const fmt = (digits) => (_u, v) => (v == null ? '' : v.toFixed(digits));
  const pctFmt = (_u, v) => (v == null ? '' : `${(100 * v).toFixed(1)}%`);

  const draw = (id, makeOpts, data, inkColors) => {
    const fig = document.getElementById(id);
    if (!fig) return;
    const target = fig.querySelector('.plot');
    if (!target) return;
    try {
      const width = Math.max(320, Math.floor(target.getBoundingClientRect().width) || 540);
      const opts = makeOpts(width);
      opts.hooks = {
        draw: [
          (u) => {
            try {
              const ink = inkOf(u.ctx.canvas, inkColors);
              fig.dataset.seriesInk = ink.join(',');
              fig.dataset.drawn = ink.every((c) => c > 20) ? 'yes' : 'no';
            } catch (e) {
              fail(id, e);
            }
          },
        ],
      };
      new uPlot(opts, data, target);
    } catch (e) {
      fail(id, e);
    }
  };

  const base = (width, xLabel, yLabel) => ({
    width,
    height: 300,
    scales: { x: { time: false } },
    legend: { live: false },
    cursor: { drag: { x: false, y: false } },
    axes: [{ label: xLabel }, { label: yLabel }],
  });

  let d;
  try {
    d = JSON.parse(document.getElementById('report-data').textContent);
  } catch (e) {
    fail('report data', e);
    return;
  }

  // ROC: TPR against FPR with the chance diagonal.
  draw(
    'roc',
    (w) => ({
      ...base(w, 'false-positive rate (goods flagged)', 'true-positive rate (bads caught)'),
      scales: { x: { time: false, range: [0, 1] }, y: { range: [0, 1] } },
      series: [
        { label: 'FPR', value: fmt(3) },
        { label: `model (AUC ${d.summary.auc.toFixed(4)})`, stroke: COLORS.model, width: 2, value: fmt(3) },
        { label: 'chance', stroke: COLORS.chance, dash: [6, 4], width: 1, value: fmt(3) },
      ],
    }),
    [d.roc.fpr, d.roc.tpr, d.roc.fpr],
    [COLORS.model, COLORS.chance],
  );

  // KS: cumulative shares of bads and goods by score threshold, and their gap.
  draw(
    'ks',
    (w) => ({
      ...base(w, `score (${d.sources.score})`, 'cumulative share'),
      scales: { x: { time: false }, y: { range: [0, 1] } },
      series: [
        { label: 'score', value: fmt(3) },
        { label: 'bads', stroke: COLORS.bad, width: 2, value: pctFmt },
        { label: 'goods', stroke: COLORS.good, width: 2, value: pctFmt },
        { label: `gap (KS ${d.summary.ks.toFixed(4)})`, stroke: COLORS.gap, width: 2, value: pctFmt },
      ],
    }),
    [d.ks.score, d.ks.cumBad, d.ks.cumGood, d.ks.gap],
    [COLORS.bad, COLORS.good, COLORS.gap],
  );

  // Score distribution: share of each class per bin, as filled steps (absent from a console model page,
  // whose aggregate groups have no uniform bins).
  const edges = d.distribution ? d.distribution.edges : [];
  const left = edges.slice(0, -1);
  const stepped = uPlot.paths.stepped({ align: 1 });
  const closeLast = (shares) => [...shares, shares[shares.length - 1]];
  if (d.distribution)
    draw(
      'distribution',
      (w) => ({
        ...base(w, `score (${d.sources.score})`, 'share of class'),
        series: [
          { label: 'score', value: fmt(2) },
          {
            label: 'goods (label 0)',
            stroke: COLORS.good,
            fill: 'rgba(42,122,176,0.15)',
            width: 2,
            paths: stepped,
            points: { show: false },
            value: pctFmt,
          },
          {
            label: 'bads (label 1)',
            stroke: COLORS.bad,
            fill: 'rgba(209,73,91,0.15)',
            width: 2,
            paths: stepped,
            points: { show: false },
            value: pctFmt,
          },
        ],
      }),
      [
        [...left, edges[edges.length - 1]],
        closeLast(d.distribution.goodShare),
        closeLast(d.distribution.badShare),
      ],
      [COLORS.good, COLORS.bad],
    );

  // Calibration: observed bad rate against mean predicted PD per bin, with the diagonal.
  if (!d.calibration.unavailable) {
    const order = d.calibration.predicted
      .map((_, i) => i)
      .sort((a, b) => d.calibration.predicted[a] - d.calibration.predicted[b]);
    const pred = order.map((i) => d.calibration.predicted[i]);
    const obs = order.map((i) => d.calibration.observed[i]);
    const hi = Math.min(1, Math.max(...pred, ...obs) * 1.1 || 1);
    draw(
      'calibration',
      (w) => ({
        ...base(w, 'mean predicted PD', 'observed bad rate'),
        scales: { x: { time: false, range: [0, hi] }, y: { range: [0, hi] } },
        series: [
          { label: 'predicted', value: fmt(4) },
          {
            label: 'observed',
            stroke: COLORS.bad,
            width: 2,
            points: { show: true, size: 7, fill: COLORS.bad },
            value: fmt(4),
          },
          {
            label: 'perfect calibration',
            stroke: COLORS.chance,
            dash: [6, 4],
            width: 1,
            points: { show: false },
            value: fmt(4),
          },
        ],
      }),
      [
        [0, ...pred, hi],
        [null, ...obs, null],
        [0, ...pred, hi],
      ],
      [COLORS.bad, COLORS.chance],
    );
  }

  // Lift: per-bin lift as bars, cumulative lift as a line.
  draw(
    'lift',
    (w) => ({
      ...base(w, 'bin (1 = riskiest)', 'lift'),
      scales: {
        x: { time: false, range: [0.5, d.lift.length + 0.5] },
        y: { range: (_u, _lo, max) => [0, Math.max(1.2, max * 1.1)] },
      },
      series: [
        { label: 'bin', value: fmt(0) },
        {
          label: 'lift',
          stroke: COLORS.bad,
          fill: 'rgba(209,73,91,0.55)',
          paths: uPlot.paths.bars({ size: [0.6] }),
          points: { show: false },
          value: fmt(2),
        },
        {
          label: 'cumulative lift',
          stroke: COLORS.cum,
          width: 2,
          points: { show: true, size: 6, fill: COLORS.cum },
          value: fmt(2),
        },
      ],
    }),
    [d.lift.map((r) => r.bin), d.lift.map((r) => r.lift), d.lift.map((r) => r.cumulativeLift)],
    [COLORS.bad, COLORS.cum],
  );

  // Stability: share of the baseline and of the scored population per baseline bin, side by side.
  if (d.stability) {
    const bins = d.stability.bins;
    draw(
      'stability',
      (w) => ({
        ...base(w, 'baseline score bin', 'share of population'),
        scales: {
          x: { time: false, range: [0.5, bins.length + 0.5] },
          y: { range: (_u, _lo, max) => [0, max * 1.15] },
        },
        series: [
          { label: 'bin', value: fmt(0) },
          {
            label: 'baseline (expected)',
            stroke: COLORS.expected,
            fill: 'rgba(125,91,166,0.7)',
            paths: uPlot.paths.bars({ size: [0.4], align: -1 }),
            points: { show: false },
            value: pctFmt,
          },
          {
            label: 'scored set (actual)',
            stroke: COLORS.actual,
            fill: 'rgba(224,138,30,0.7)',
            paths: uPlot.paths.bars({ size: [0.4], align: 1 }),
            points: { show: false },
            value: pctFmt,
          },
        ],
      }),
      [bins.map((_, i) => i + 1), bins.map((b) => b.expectedShare), bins.map((b) => b.actualShare)],
      [COLORS.expected, COLORS.actual],
    );
  }
  document.body.dataset.chartsDone = 'yes';
})();
