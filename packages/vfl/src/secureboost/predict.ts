/**
 * SecureBoost joint prediction (protocol `vfl.secureboost-predict`), Cheng et al. 2019, section 4.3.
 *
 * Parties: the guest (the tree structure, leaf weights, its own splits) and each host (its own splits).
 * Messages in order, per host: guest -> host predict-request (row count, the host's split ids the trees
 * use); host -> guest predict-answer (per split id, a bitmap: which rows go left).
 * What each party learns: the guest learns every host split outcome (one bit per row and host split) of
 * the scored rows, and the scores; the host learns how many rows are scored and which of its split ids
 * the model uses, never a score, a path or another party's split. Host thresholds never leave the host.
 * A flow that also hides host split outcomes from the guest (each party masking its leaf indicator
 * vectors) is not implemented: docs/protocols/secureboost.md. Threat model: semi-honest, no collusion.
 */
import { FedscoreError, type PartyId, type ProtocolSession } from '@fedscore/core';
import { withAbort } from '../hetero-lr/exchange.ts';
import { checkFeatures, type PartyFeatures } from '../hetero-lr/features.ts';
import {
  applyBins,
  hostSplitBits,
  hostSplitIds,
  type SecureBoostGuestModel,
  type SecureBoostHostModel,
  walkTrees,
} from './model.ts';
import { PREDICT_ANSWER, PREDICT_REQUEST } from './steps.ts';

export interface SecureBoostPredictGuestOptions {
  readonly session: ProtocolSession;
  readonly hosts: readonly PartyId[];
  readonly model: SecureBoostGuestModel;
  readonly rows: number;
  readonly features?: PartyFeatures;
}

export class SecureBoostPredictGuest {
  readonly #o: SecureBoostPredictGuestOptions;

  constructor(options: SecureBoostPredictGuestOptions) {
    this.#o = options;
  }

  /** The log-odds of every row. */
  run(): Promise<Float64Array> {
    return withAbort(this.#o.session, this.#o.hosts, async () => {
      const { session: s, model, rows } = this.#o;
      if (this.#o.hosts.length !== model.hosts.length) {
        throw new FedscoreError('invalid_argument', `the model has ${model.hosts.length} hosts`, {
          field: 'hosts',
        });
      }
      const guestIndex =
        model.bins.length === 0 ? [] : applyBins(this.#checked(this.#o.features, rows), model.bins).index;
      const bits = new Map<string, Uint8Array>();
      for (const [hi, h] of this.#o.hosts.entries()) {
        const ids = hostSplitIds(model, hi);
        await s.send(h, PREDICT_REQUEST, { rows, splitIds: ids });
        const answer = await s.receive(h, PREDICT_ANSWER);
        if (answer.length !== ids.length || answer.some((a) => a.length !== Math.ceil(rows / 8))) {
          throw new FedscoreError('wire_decode', 'predict-answer does not match the request', {
            field: 'left',
          });
        }
        for (const [k, id] of ids.entries()) bits.set(`${hi}:${id}`, answer[k]!);
      }
      return walkTrees(model, rows, guestIndex, (host, id) => bits.get(`${host}:${id}`)!);
    });
  }

  #checked(features: PartyFeatures | undefined, rows: number): PartyFeatures {
    if (features === undefined) {
      throw new FedscoreError('invalid_argument', 'the model has guest splits: features required', {
        field: 'features',
      });
    }
    if (checkFeatures(features, 'features') !== rows) {
      throw new FedscoreError('invalid_argument', `features must have ${rows} rows`, { field: 'features' });
    }
    return features;
  }
}

export interface SecureBoostPredictHostOptions {
  readonly session: ProtocolSession;
  readonly guest: PartyId;
  readonly model: SecureBoostHostModel;
  readonly features: PartyFeatures;
}

export class SecureBoostPredictHost {
  readonly #o: SecureBoostPredictHostOptions;

  constructor(options: SecureBoostPredictHostOptions) {
    this.#o = options;
  }

  run(): Promise<void> {
    return withAbort(this.#o.session, [this.#o.guest], async () => {
      const { session: s, model, features } = this.#o;
      const rows = checkFeatures(features, 'features');
      const req = await s.receive(this.#o.guest, PREDICT_REQUEST);
      if (req.rows !== rows) {
        throw new FedscoreError('invalid_argument', `request for ${req.rows} rows, this host has ${rows}`, {
          field: 'rows',
        });
      }
      const index = applyBins(features, model.bins).index;
      await s.send(this.#o.guest, PREDICT_ANSWER, hostSplitBits(model, index, rows, req.splitIds));
    });
  }
}
