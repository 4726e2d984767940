/**
 * What the console's pages (server.ts) and its JSON API (api.ts) share about requests: the security
 * headers of every answer, the cookie names, and the session, token and origin checks.
 */
import { timingSafeEqual } from 'node:crypto';
import type { ConsoleAccount } from './accounts.ts';

export const SESSION_COOKIE = '__Host-fedscore-session';
export const LOGIN_COOKIE = '__Host-fedscore-login';
export const OIDC_COOKIE = '__Host-fedscore-oidc';

export const CONTENT_SECURITY_POLICY =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; " +
  "form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

export const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'content-security-policy': CONTENT_SECURITY_POLICY,
  'x-content-type-options': 'nosniff',
  // same-origin, not no-referrer: under no-referrer a browser sends `Origin: null` on form posts, which
  // the origin check must refuse.
  'referrer-policy': 'same-origin',
  'x-frame-options': 'DENY',
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
  'permissions-policy': 'camera=(), microphone=(), geolocation=(), payment=()',
  'cache-control': 'no-store',
};

export function parseCookies(header: string | undefined): Map<string, string> {
  const out = new Map<string, string>();
  for (const part of (header ?? '').split(';')) {
    const i = part.indexOf('=');
    if (i > 0) out.set(part.slice(0, i).trim(), part.slice(i + 1).trim());
  }
  return out;
}

/** Constant-time equality of a sent token with the expected one (absent never equals). */
export function sameToken(a: string | undefined | null, b: string | undefined): boolean {
  if (typeof a !== 'string' || b === undefined) return false;
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/**
 * Why a state-changing request is refused as cross-site, or undefined: when the browser sends them,
 * `Sec-Fetch-Site` must be same-origin and `Origin` the request's own origin.
 */
export function crossSite(
  site: string | undefined,
  origin: string | undefined,
  host: string | undefined,
): string | undefined {
  if (site !== undefined && site !== 'same-origin') return 'cross-site request refused';
  if (origin !== undefined) {
    const ok = host !== undefined && (origin === `http://${host}` || origin === `https://${host}`);
    if (!ok) return 'cross-origin request refused';
  }
  return undefined;
}

/** Who cancelled or retried a job, for the audit entry: `console:` and the account's username. */
export function consoleActor(account: ConsoleAccount): string {
  return `console:${account.username.replace(/[^A-Za-z0-9._@-]/g, '_').slice(0, 100)}`;
}
