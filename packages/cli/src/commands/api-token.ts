/**
 * `fedscore api-token create --id risk-engine-1`: a new token for the bank node's scoring API
 * (docs/scoring-api.md). Prints the token once, for the risk engine's secret store, and the entry for
 * the node config (`scoring.api.tokens`), which holds only the token's SHA-256.
 */
import { createApiToken } from '@fedscore/node';
import { type Command, str } from '../command.ts';

export const command: Command = {
  path: ['api-token', 'create'],
  summary: "a new bearer token for the bank node's scoring API (only its SHA-256 goes in the config)",
  description: `
Prints a new random token (256 bits) and the line to add under scoring.api.tokens in the bank node's
config. The node keeps only the SHA-256, so store the token now in the risk engine's secret store; it
cannot be shown again. Restart the node to load a new entry; remove the entry to revoke the token.

Example: fedscore api-token create --id risk-engine-1`,
  options: {
    id: {
      type: 'string',
      required: true,
      placeholder: 'ID',
      description: "who holds the token (recorded in the node's audit log), 1-64 of A-Z a-z 0-9 . _ -",
    },
  },
  async run(o, _positionals, ctx) {
    const { token, entry } = createApiToken(str(o, 'id'));
    ctx.print(`token (give it to ${entry.id}; it is not stored anywhere): ${token}`);
    ctx.print('add to the node config under scoring.api.tokens:');
    ctx.print(`  - { id: ${entry.id}, sha256: ${entry.sha256} }`);
    return { id: entry.id, token, sha256: entry.sha256 };
  },
};
