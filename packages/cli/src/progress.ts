/** Progress rendering on stderr: a redrawn bar on a terminal, a line every few seconds otherwise. */
import type { ProgressCallback, ProgressEvent } from '@fedscore/core';

export function stderrProgress(
  stream: NodeJS.WriteStream = process.stderr,
  quiet = false,
): {
  progress: ProgressCallback;
  finish(): void;
} {
  if (quiet) return { progress: () => {}, finish: () => {} };
  const tty = stream.isTTY === true;
  let lastStage = '';
  let lastDraw = 0;
  let drawn = false;
  const width = 28;
  const render = (e: ProgressEvent): string => {
    const unit = e.unit ? ` ${e.unit}` : '';
    if (e.total !== undefined && e.total > 0) {
      const frac = Math.min(1, e.done / e.total);
      const fill = Math.round(frac * width);
      return `${e.stage} [${'#'.repeat(fill)}${'.'.repeat(width - fill)}] ${e.done}/${e.total}${unit} ${(frac * 100).toFixed(0)}%`;
    }
    return `${e.stage} ${e.done}${unit}`;
  };
  const progress: ProgressCallback = (e) => {
    const now = Date.now();
    const stageChanged = e.stage !== lastStage;
    const complete = e.total !== undefined && e.done >= e.total;
    if (tty) {
      if (!stageChanged && !complete && now - lastDraw < 80) return;
      if (stageChanged && drawn) stream.write('\n');
      stream.write(`\r\x1b[2K${render(e)}`);
      drawn = true;
    } else {
      if (!stageChanged && !complete && now - lastDraw < 5000) return;
      stream.write(`${render(e)}\n`);
    }
    lastStage = e.stage;
    lastDraw = now;
  };
  return {
    progress,
    finish() {
      if (tty && drawn) stream.write('\n');
      drawn = false;
    },
  };
}
