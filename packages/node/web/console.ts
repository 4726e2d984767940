/**
 * The console's one script (served as /console/static/console.js, `script-src 'self'`), bundled from
 * this directory by packages/node/scripts/console-bundle.ts. It is progressive: every page works without
 * it; on a job's page it follows the job live.
 */
import { followJob } from './live-job.ts';

followJob(document, window);
