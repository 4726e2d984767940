/**
 * A job's page follows the job live: the node's event stream (`<job page>/events`, server-sent events,
 * packages/node/src/console/server.ts `live`) sends one `job` event whenever the job's status, stage,
 * attempt or stage progress changed, and this module shows it in the page the server rendered
 * (packages/node/src/console/pages.ts `jobPage`): the status, the stage, the progress bar and the Stages
 * table. Without the script the page shows the job as it was when it loaded.
 */

/** A stage's coarse counter (packages/node/src/jobs/progress.ts `StageProgress`). */
export interface LiveProgress {
  readonly unit: 'epoch' | 'tree' | 'round' | 'percent';
  readonly done: number;
  readonly total: number;
}

/** The data of one `job` event. */
export interface LiveJob {
  readonly status: string;
  readonly stage: string | null;
  readonly attempt: number;
  readonly progress?: LiveProgress;
}

const ENDED = new Set(['done', 'failed', 'cancelled']);

/** A status the job never leaves (the stream ends with it). */
export function isEnded(status: string | null): boolean {
  return status !== null && ENDED.has(status);
}

/** "epoch 2 of 5", "37 percent": the text the bar stands for (as pages.ts `progressText`). */
export function progressText(p: LiveProgress): string {
  return p.unit === 'percent' ? `${p.done} percent` : `${p.unit} ${p.done} of ${p.total}`;
}

function showStatus(el: HTMLElement, status: string): void {
  el.textContent = status;
  el.className = `status status-${status}`;
}

/** The status and the stage with its attempt ("train (attempt 2)"). */
function showFacts(doc: Document, j: LiveJob): void {
  const status = doc.getElementById('job-status');
  if (status) showStatus(status, j.status);
  const stage = doc.getElementById('job-stage');
  if (stage) stage.textContent = `${j.stage ?? '-'} (attempt ${j.attempt})`;
}

/** Progress within the stage (an epoch, tree or round counter, or PSI's percent): the bar and its text. */
function showProgress(doc: Document, p: LiveProgress | undefined): void {
  const bar = doc.getElementById('job-progress');
  const text = doc.getElementById('job-progress-text');
  if (!(bar instanceof HTMLProgressElement) || !text) return;
  if (p) {
    bar.max = p.total;
    bar.value = p.done;
    bar.textContent = text.textContent = progressText(p);
  } else {
    bar.removeAttribute('value');
    bar.textContent = '';
    text.textContent = 'not reported yet';
  }
}

/**
 * The Stages table: a job runs its stages in order, so the ones before its current stage are done, the
 * current one has the job's status and the later ones wait.
 */
function showStages(doc: Document, j: LiveJob): void {
  const { stage } = j;
  if (!stage) return;
  for (const table of doc.querySelectorAll('table')) {
    if (table.caption?.textContent !== 'Stages') continue;
    const rows = table.tBodies[0]?.rows;
    if (!rows) continue;
    let at = -1;
    for (let r = 0; r < rows.length; r++) if (rows[r]?.cells[0]?.textContent === stage) at = r;
    if (at < 0) continue;
    for (let k = 0; k < rows.length; k++) {
      const span = rows[k]?.cells[1]?.firstElementChild;
      if (span instanceof HTMLElement) showStatus(span, k < at ? 'done' : k === at ? j.status : 'waiting');
    }
  }
}

/** Show one `job` event in the page. */
export function showJob(doc: Document, job: HTMLElement, j: LiveJob): void {
  showFacts(doc, j);
  showProgress(doc, j.progress);
  showStages(doc, j);
  job.setAttribute('data-status', j.status);
}

/** A stream that ended early (server restart, its 5-minute limit) is followed by a reload after this. */
const RELOAD_AFTER_ERROR_MS = 5000;

/**
 * On a job's page (`#job`) whose job has not ended, follow its event stream until the job ends, then
 * reload (the page then shows the events, the evaluation and the model). When the stream ends early,
 * reload after a pause, which also checks the session again.
 */
export function followJob(doc: Document, win: Window & typeof globalThis): void {
  const job = doc.getElementById('job');
  if (!job || typeof win.EventSource === 'undefined') return;
  if (isEnded(job.getAttribute('data-status'))) return;
  const source = new win.EventSource(`${win.location.pathname.replace(/\/$/, '')}/events`);
  source.addEventListener('job', (ev) => {
    const j = JSON.parse((ev as MessageEvent<string>).data) as LiveJob;
    showJob(doc, job, j);
    if (isEnded(j.status)) {
      source.close();
      win.location.reload();
    }
  });
  source.onerror = () => {
    source.close();
    win.setTimeout(() => win.location.reload(), RELOAD_AFTER_ERROR_MS);
  };
}
