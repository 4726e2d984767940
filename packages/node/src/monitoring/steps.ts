/**
 * Protocol "monitoring.alerts", version 1: post-loan alert delivery between a bank node and the
 * government node. One round trip per poll.
 *
 * Parties: the bank (lends to enterprises; keeps an alert inbox and a delivery cursor) and the government
 * node (records public-credit change events; keeps the consent registry and each bank's watchlist).
 *
 * Messages in order:
 *   1. bank -> gov   monitor-request   the bank's cursor (last event sequence number it stored) and
 *                                      watchlist changes: enterprises it now lends to (with the loan's
 *                                      end date) and enterprises whose loans ended
 *   2. gov -> bank   monitor-alerts    how many watchlist additions were accepted and how many were
 *                                      refused (by consent reason), the alerts after the cursor, and the
 *                                      new cursor
 *
 * What each party learns:
 *   - government: the bank's borrowers that it lists (USCCs and loan end dates) -- as when a loan is
 *     registered with a credit platform; it keeps only those with a valid `monitoring` consent for this
 *     bank and discards the rest (counting them). It learns nothing of loan amounts or the bank's data.
 *   - bank: for its watched, consenting borrowers only, the kind and date of each new public-credit event
 *     (court judgment, tax arrears, administrative penalty, dishonest-debtor listing) -- no amounts, no
 *     case details; the counts of refused watchlist entries by reason. Nothing about other enterprises.
 * Threat model: semi-honest parties over an authenticated channel (mutual TLS: the government node knows
 * which bank asks). A malicious bank can list enterprises it does not lend to, but receives alerts only
 * for those that authorized it; each delivery is an audited data use on both sides.
 * Reference: the post-loan monitoring duty of the public credit platforms (docs/governance.md).
 *
 * Payloads are UTF-8 JSON validated field by field (size, types, USCC form) before use; every violation
 * is a `wire_decode` error naming the field. The wire package's protobuf schema does not carry these
 * messages yet; the JSON form is versioned with the protocol.
 */
import { defineStep, FedscoreError, isValidUscc, type StepDef } from '@fedscore/core';

export const MONITORING_PROTOCOL = 'monitoring.alerts';
export const MONITORING_VERSION = 1;

export const CREDIT_EVENT_KINDS = [
  'court_judgment',
  'tax_arrears',
  'administrative_penalty',
  'dishonest_debtor',
] as const;
export type CreditEventKind = (typeof CREDIT_EVENT_KINDS)[number];

/** How urgent each kind is for a lender (dishonest-debtor listings and judgments restrict repayment). */
export const CREDIT_EVENT_SEVERITY: Readonly<Record<CreditEventKind, 'high' | 'medium'>> = {
  court_judgment: 'high',
  dishonest_debtor: 'high',
  tax_arrears: 'medium',
  administrative_penalty: 'medium',
};

/** At most this many watchlist changes per request and alerts per reply (the rest follow next poll). */
export const MAX_WATCH_CHANGES = 10_000;
export const MAX_ALERTS_PER_REPLY = 10_000;

export interface WatchAddition {
  readonly enterprise: string;
  /** When the loan ends (ms since the epoch): alerts stop after it. */
  readonly until: number;
}

export interface MonitorRequest {
  readonly afterSeq: number;
  readonly add: readonly WatchAddition[];
  readonly remove: readonly string[];
}

export interface Alert {
  /** The government's event sequence number (unique per government node). */
  readonly seq: number;
  readonly enterprise: string;
  readonly kind: CreditEventKind;
  readonly occurredAt: number;
  readonly severity: 'high' | 'medium';
}

export interface WatchRefusals {
  readonly invalidId: number;
  readonly noConsent: number;
  readonly outOfScope: number;
  readonly revoked: number;
  readonly expired: number;
  readonly notYetValid: number;
}

export interface MonitorAlerts {
  readonly watchAccepted: number;
  readonly watchRefused: WatchRefusals;
  readonly alerts: readonly Alert[];
  /** The bank's next cursor: the last event sequence number examined. */
  readonly throughSeq: number;
  /** True when more alerts are waiting (the bank polls again at once). */
  readonly more: boolean;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

function jsonCodec<T>(step: string, check: (v: unknown) => T) {
  return {
    encode: (v: T): Uint8Array => encoder.encode(JSON.stringify(v)),
    decode: (b: Uint8Array): T => {
      let v: unknown;
      try {
        v = JSON.parse(decoder.decode(b));
      } catch (e) {
        throw new FedscoreError('wire_decode', `${step}: not UTF-8 JSON`, { field: step, cause: e });
      }
      return check(v);
    },
  };
}

function bad(field: string, message: string): never {
  throw new FedscoreError('wire_decode', message, { field });
}

function obj(v: unknown, field: string, keys: readonly string[]): Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) bad(field, 'expected an object');
  const o = v as Record<string, unknown>;
  for (const k of Object.keys(o)) if (!keys.includes(k)) bad(`${field}.${k}`, 'unknown field');
  return o;
}

function int(v: unknown, field: string, min = 0): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min)
    bad(field, `expected an integer >= ${min}`);
  return v;
}

function arr(v: unknown, field: string, max: number): unknown[] {
  if (!Array.isArray(v)) bad(field, 'expected an array');
  if (v.length > max) bad(field, `more than ${max} items`);
  return v;
}

function uscc(v: unknown, field: string): string {
  if (typeof v !== 'string' || !isValidUscc(v)) bad(field, 'expected a normalized USCC');
  return v;
}

export function checkMonitorRequest(v: unknown): MonitorRequest {
  const o = obj(v, 'monitor-request', ['afterSeq', 'add', 'remove']);
  const add = arr(o['add'], 'monitor-request.add', MAX_WATCH_CHANGES).map((a, i) => {
    const f = `monitor-request.add[${i}]`;
    const w = obj(a, f, ['enterprise', 'until']);
    return { enterprise: uscc(w['enterprise'], `${f}.enterprise`), until: int(w['until'], `${f}.until`) };
  });
  const remove = arr(o['remove'], 'monitor-request.remove', MAX_WATCH_CHANGES).map((e, i) =>
    uscc(e, `monitor-request.remove[${i}]`),
  );
  return { afterSeq: int(o['afterSeq'], 'monitor-request.afterSeq'), add, remove };
}

export function checkMonitorAlerts(v: unknown): MonitorAlerts {
  const o = obj(v, 'monitor-alerts', ['watchAccepted', 'watchRefused', 'alerts', 'throughSeq', 'more']);
  const r = obj(o['watchRefused'], 'monitor-alerts.watchRefused', [
    'invalidId',
    'noConsent',
    'outOfScope',
    'revoked',
    'expired',
    'notYetValid',
  ]);
  const refusals = {} as Record<keyof WatchRefusals, number>;
  for (const k of ['invalidId', 'noConsent', 'outOfScope', 'revoked', 'expired', 'notYetValid'] as const) {
    refusals[k] = int(r[k], `monitor-alerts.watchRefused.${k}`);
  }
  const throughSeq = int(o['throughSeq'], 'monitor-alerts.throughSeq');
  const alerts = arr(o['alerts'], 'monitor-alerts.alerts', MAX_ALERTS_PER_REPLY).map((a, i) => {
    const f = `monitor-alerts.alerts[${i}]`;
    const w = obj(a, f, ['seq', 'enterprise', 'kind', 'occurredAt', 'severity']);
    const kind = w['kind'];
    if (typeof kind !== 'string' || !(CREDIT_EVENT_KINDS as readonly string[]).includes(kind)) {
      bad(`${f}.kind`, `expected one of ${CREDIT_EVENT_KINDS.join(', ')}`);
    }
    const seq = int(w['seq'], `${f}.seq`, 1);
    if (seq > throughSeq) bad(`${f}.seq`, 'an alert after the reply cursor');
    if (w['severity'] !== CREDIT_EVENT_SEVERITY[kind as CreditEventKind])
      bad(`${f}.severity`, 'wrong severity');
    return {
      seq,
      enterprise: uscc(w['enterprise'], `${f}.enterprise`),
      kind: kind as CreditEventKind,
      occurredAt: int(w['occurredAt'], `${f}.occurredAt`),
      severity: CREDIT_EVENT_SEVERITY[kind as CreditEventKind],
    };
  });
  if (typeof o['more'] !== 'boolean') bad('monitor-alerts.more', 'expected a boolean');
  return {
    watchAccepted: int(o['watchAccepted'], 'monitor-alerts.watchAccepted'),
    watchRefused: refusals,
    alerts,
    throughSeq,
    more: o['more'],
  };
}

export const MONITOR_REQUEST: StepDef<MonitorRequest> = defineStep(
  'monitor-request',
  jsonCodec('monitor-request', checkMonitorRequest),
);
export const MONITOR_ALERTS: StepDef<MonitorAlerts> = defineStep(
  'monitor-alerts',
  jsonCodec('monitor-alerts', checkMonitorAlerts),
);
