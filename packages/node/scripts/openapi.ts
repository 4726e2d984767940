/**
 * Writes the node's OpenAPI document (the scoring API and the console's JSON API, generated from the
 * zod schemas their Hono routes validate with: src/server/openapi.ts) to docs/api/openapi.json (the node
 * also serves it at /v1/openapi.json and /console/api/openapi.json).
 *
 *   npx -y pnpm@12.4.2 --filter @fedscore/node openapi            # rewrite the committed file
 *   npx -y pnpm@12.4.2 --filter @fedscore/node openapi --check    # exit 1 when it is stale
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { openApiDocument } from '../src/server/openapi.ts';

const file = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'docs', 'api', 'openapi.json');
const text = `${JSON.stringify(openApiDocument(), null, 2)}\n`;
if (process.argv.includes('--check')) {
  let committed = '';
  try {
    committed = readFileSync(file, 'utf8');
  } catch {}
  if (committed !== text) {
    process.stderr.write(`${file} is stale: run npx -y pnpm@12.4.2 --filter @fedscore/node openapi\n`);
    process.exit(1);
  }
} else {
  writeFileSync(file, text);
  process.stdout.write(`wrote ${file}\n`);
}
