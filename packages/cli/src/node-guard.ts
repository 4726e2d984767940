/**
 * Imported first by the `fedscore` bin entry (main.ts): on Node.js older than 22.18 the command prints
 * one sentence naming the version needed and why, and exits with status 1, before any command module
 * (node-seal's WebAssembly, node:sqlite) is loaded. The check itself is core's `nodeVersionProblem`.
 */
import { nodeVersionProblem } from '@fedscore/core';

const problem = nodeVersionProblem();
if (problem !== undefined) {
  process.stderr.write(`${problem}\n`);
  process.exit(1);
}
