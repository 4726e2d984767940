/**
 * Attack: a guest that makes its attempts fail to get a fresh histogram release budget each time.
 * Source: the flooding analysis SecureBoost's CKKS release relies on -- Li & Micciancio, "On the
 * Security of Homomorphic Encryption on Approximate Numbers" (EUROCRYPT 2021), and Li, Micciancio,
 * Schultz & Sorrell, "Securing Approximate Homomorphic Encryption Using Differential Privacy" (CRYPTO
 * 2022): flooding noise hides the decryption error of a bounded number of releases, so a host sizes it
 * for a budget of releases (host.ts `plannedReleases`) and refuses more. A job is retried after a
 * failure (the node's runner starts a new attempt of the stage), and a host that counted from zero on
 * every attempt would give a guest that fails attempts on purpose unbounded releases.
 * What it would recover: beyond the budget, repeated releases of the same histogram averaged (noise
 * sd / sqrt(k)) strip the flooding and expose the key-dependent CKKS decryption error the flooding was
 * sized to hide, and -- under any scheme -- more aggregates over the host's features than the job was
 * accepted for.
 * The attack: a guest that crashes as soon as it has received its first histogram, and restarts,
 * attempt after attempt (each a new session, as a new attempt of the node's train stage), counting the
 * node histograms it obtains. Scheme `none` (the count does not depend on the scheme and it keeps the
 * test fast).
 * Weakened configuration: the host keeps no release count across attempts (no `releaseLedger`: a fresh
 * count per attempt). Default (the pipeline's stage): the host's `releaseLedger`, persisted before
 * every release (the node keeps it as job events) and read at the start of every attempt -- the total
 * over all attempts stays within the one budget, and the host refuses the release that would exceed it
 * (`release_budget`).
 */
import {
  type Channel,
  createInMemoryNetwork,
  isFedscoreError,
  ProtocolSession,
  runParties,
} from '@fedscore/core';
import {
  abortAwareChannel,
  type ReleaseLedger,
  SECUREBOOST_PROTOCOL,
  SECUREBOOST_VERSION,
  SecureBoostGuest,
  SecureBoostHost,
} from '@fedscore/vfl';
import { envelopeCodec, fedscore } from '@fedscore/wire';
import { describe, expect, it } from 'vitest';
import { syntheticSplit } from '../synthetic.ts';

const data = syntheticSplit(600, 1, [2], 77);
const HP = { trees: 2, depth: 2, bins: 8 };
const ATTEMPTS = 12;

/** A ledger in memory that outlives attempts (what the node's job events are to a host). */
function memoryLedger(): ReleaseLedger & { readonly writes: number } {
  const state = { released: 0, budget: undefined as number | undefined, writes: 0 };
  return {
    get released() {
      return state.released;
    },
    get budget() {
      return state.budget;
    },
    get writes() {
      return state.writes;
    },
    record(released, budget) {
      state.released = released;
      state.budget = budget;
      state.writes++;
    },
  };
}

class Crash extends Error {}

/** A guest channel that counts the node histograms received and crashes at the first message of them. */
function crashingAtHistograms(channel: Channel, got: { nodes: number }): Channel {
  return {
    ...channel,
    party: channel.party,
    send: (env) => channel.send(env),
    receive: async (from, session) => {
      const env = await channel.receive(from, session);
      if (env.step === 'histograms') {
        got.nodes += fedscore.secureboost.Histograms.decode(env.payload).nodes.length;
        throw new Crash('guest crashed after its first histograms');
      }
      return env;
    },
    stats: () => channel.stats(),
    close: (reason) => channel.close(reason),
  };
}

/** One attempt of the stage: a fresh guest that crashes at its first histograms; the host's outcome. */
async function attempt(ledger: ReleaseLedger | undefined, got: { nodes: number }): Promise<unknown> {
  const network = createInMemoryNetwork(['guest', 'host'], envelopeCodec);
  const spec = { protocol: SECUREBOOST_PROTOCOL, version: SECUREBOOST_VERSION, session: 'attempt' };
  let hostError: unknown;
  await runParties(network, {
    guest: () =>
      new SecureBoostGuest({
        session: new ProtocolSession(
          crashingAtHistograms(abortAwareChannel(network.channel('guest')), got),
          spec,
        ),
        hosts: ['host'],
        features: data.guest,
        labels: data.labels,
        scheme: 'none',
        hyperparams: HP,
      })
        .run()
        .catch(() => undefined),
    host: () =>
      new SecureBoostHost({
        session: new ProtocolSession(abortAwareChannel(network.channel('host')), spec),
        guest: 'guest',
        features: data.hosts[0]!,
        allowPlaintextScheme: true,
        ...(ledger !== undefined && { releaseLedger: ledger }),
      })
        .run()
        .catch((e: unknown) => {
          hostError = e;
        }),
  }).catch(() => undefined);
  return hostError;
}

/** Node histograms the plan's budget allows: trees x (2^depth - 1) nodes (hosts release g and h of each). */
const BUDGET_NODES = HP.trees * (2 ** HP.depth - 1);

describe('attack: a guest that fails attempts on purpose to get fresh release budgets', () => {
  it('weakened (no count across attempts): it obtains more histograms than the budget allows', async () => {
    const got = { nodes: 0 };
    const ledgers = Array.from({ length: ATTEMPTS }, () => memoryLedger());
    for (let k = 0; k < ATTEMPTS; k++) {
      // A fresh count per attempt (a recording ledger only to read what the host released and its budget).
      const fresh = ledgers[k]!;
      const e = await attempt({ released: 0, record: (r, b) => fresh.record(r, b) }, got);
      expect(isFedscoreError(e, 'release_budget')).toBe(false);
    }
    // Every attempt released the root histogram: ATTEMPTS of them, twice the budget.
    expect(got.nodes).toBe(ATTEMPTS);
    expect(got.nodes).toBeGreaterThan(BUDGET_NODES);
    // In the host's own units (ciphertexts: g and h of each node, in blocks), over the budget too.
    const perAttempt = ledgers[0]!.released;
    const budget = ledgers[0]!.budget!;
    expect(perAttempt * ATTEMPTS).toBeGreaterThan(budget);
    expect(budget / perAttempt).toBe(BUDGET_NODES);
  });

  it('default (the count persisted before each release): never more than the budget, then refused', async () => {
    const got = { nodes: 0 };
    const ledger = memoryLedger();
    const outcomes: unknown[] = [];
    for (let k = 0; k < ATTEMPTS; k++) outcomes.push(await attempt(ledger, got));
    expect(got.nodes).toBe(BUDGET_NODES);
    expect(ledger.released).toBe(ledger.budget);
    // The first BUDGET_NODES attempts each got the root; every later one is refused by the host before
    // anything is released.
    expect(outcomes.slice(0, BUDGET_NODES).every((e) => !isFedscoreError(e, 'release_budget'))).toBe(true);
    expect(outcomes.slice(BUDGET_NODES).every((e) => isFedscoreError(e, 'release_budget'))).toBe(true);
    // Written ahead of every release message, once per attempt that released.
    expect(ledger.writes).toBe(BUDGET_NODES);
  });
});
