/**
 * A real OpenID provider for console tests: `oidc-provider` 9 on loopback with its development login
 * and consent forms (any login name is accepted; its groups and bank come from `IDP_USERS`), the
 * groups and bank claims put in the ID token itself (as Keycloak's mappers and Azure AD's optional
 * claims can), signing with an RSA key the test holds (so that a test can re-sign a changed token).
 */
import { generateKeyPairSync, type KeyObject, randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { ConsoleOidcConfig } from '@fedscore/node';
import Provider from 'oidc-provider';

export const CLIENT_ID = 'fedscore-console';
export const SECRET_ENV = 'FEDSCORE_TEST_OIDC_SECRET';
export const ROLES = {
  'fedscore-operators': 'platform-operator',
  'fedscore-analysts': 'bank-analyst',
  'fedscore-auditors': 'auditor',
} as const;
/** The provider's users: their groups and bank claims. */
export const IDP_USERS: Record<string, { groups: string[]; bank?: string }> = {
  alice: { groups: ['staff', 'fedscore-analysts'], bank: 'bank-a' },
  oscar: { groups: ['fedscore-operators'] },
  nora: { groups: ['staff'] },
  brian: { groups: ['fedscore-analysts'] },
};

export interface OidcIdp {
  readonly issuer: string;
  readonly secret: string;
  readonly signingKey: KeyObject;
  /** The console's OIDC config for a console at `base`. */
  config(base: string): ConsoleOidcConfig;
  /** Register the console at `base` as the provider's client and start answering. */
  serve(base: string): void;
  close(): Promise<void>;
}

/** Listen first (the console's config needs the issuer), then `serve` once the console's URL is known. */
export async function startOidcIdp(): Promise<OidcIdp> {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const jwk = { ...privateKey.export({ format: 'jwk' }), kid: 'idp-key-1', alg: 'RS256', use: 'sig' };
  let handle: ((req: IncomingMessage, res: ServerResponse) => void) | undefined;
  const server: Server = createServer((req, res) => {
    if (handle === undefined) res.writeHead(503).end();
    else handle(req, res);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const issuer = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  const secret = randomBytes(24).toString('base64url');
  return {
    issuer,
    secret,
    signingKey: privateKey,
    config: (base) => ({
      name: 'Test IdP',
      issuer,
      clientId: CLIENT_ID,
      clientSecretEnv: SECRET_ENV,
      redirectUri: `${base}/console/oidc/callback`,
      postLogoutRedirectUri: `${base}/console/login`,
      scopes: ['fedscore'],
      roleClaim: 'groups',
      roles: { ...ROLES },
      bankClaim: 'bank',
    }),
    serve: (base) => {
      const provider = new Provider(issuer, {
        clients: [
          {
            client_id: CLIENT_ID,
            client_secret: secret,
            redirect_uris: [`${base}/console/oidc/callback`],
            post_logout_redirect_uris: [`${base}/console/login`],
            grant_types: ['authorization_code'],
            response_types: ['code'],
          },
        ],
        jwks: { keys: [jwk as never] },
        cookies: { keys: [randomBytes(32).toString('base64url')] },
        claims: { openid: ['sub'], fedscore: ['groups', 'bank'] },
        conformIdTokenClaims: false,
        features: { devInteractions: { enabled: true } },
        findAccount: (_ctx: unknown, sub: string) =>
          IDP_USERS[sub] === undefined
            ? undefined
            : { accountId: sub, claims: () => ({ sub, ...IDP_USERS[sub] }) },
      });
      handle = provider.callback() as (req: IncomingMessage, res: ServerResponse) => void;
    },
    close: async () => {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    },
  };
}
