/**
 * The 'hfl' job kind's spec: defaults, typed errors naming the field, the stages and parties it runs,
 * and the admission rule for aggregation without secure aggregation.
 */
import { checkJobPolicy, jobStages, SECURE_ONLY, stageParties, validateJobSpec } from '@fedscore/node';
import { describe, expect, it } from 'vitest';

const base = {
  kind: 'hfl',
  guest: 'platform',
  hosts: ['bank-1', 'bank-2'],
  data: { platform: 'test', 'bank-1': 'loans', 'bank-2': 'loans' },
  hfl: {},
};

describe("the 'hfl' job kind", () => {
  it('validates with the defaults of train fedavg (secure aggregation on) and runs train -> evaluate -> publish', () => {
    const s = { ...validateJobSpec(base), id: 'j' };
    expect(s.hfl).toMatchObject({ model: 'lr', rounds: 20, secureAgg: true, batchSize: 32 });
    expect(jobStages(s)).toEqual(['train', 'evaluate', 'publish']);
    expect(stageParties(s, 'train')).toEqual(['platform', 'bank-1', 'bank-2']);
    expect(stageParties(s, 'publish')).toEqual(['platform', 'bank-1', 'bank-2']);
    expect(stageParties(s, 'evaluate')).toEqual(['platform']);
    // A job without a kind is hetero-LR, as before.
    const { kind: _k, hfl: _h, ...vertical } = base;
    expect(jobStages({ ...validateJobSpec(vertical), id: 'v' })).toContain('psi');
  });

  it('refuses bad input with typed errors naming the field', () => {
    const bad: [unknown, string][] = [
      [{ ...base, arbiter: 'arb' }, 'arbiter'],
      [{ ...base, hfl: undefined }, 'hfl'],
      [{ ...base, kind: 'hetero-lr' }, 'hfl'],
      [{ ...base, kind: 'xgboost' }, 'kind'],
      [{ ...base, kind: 'secureboost' }, 'hfl'],
      [{ ...base, hfl: { rounds: 0 } }, 'hfl.rounds'],
      [{ ...base, hfl: { model: 'cnn' } }, 'hfl.model'],
      [{ ...base, hfl: { dp: { epsilon: -1 } } }, 'hfl.dp.epsilon'],
      [{ ...base, hfl: { surprise: 1 } }, 'hfl'],
    ];
    for (const [input, field] of bad) {
      expect(() => validateJobSpec(input), field).toThrow(
        expect.objectContaining({ code: 'invalid_config', field }),
      );
    }
  });

  it('a node refuses aggregation without secure aggregation unless it accepts plaintext', () => {
    const plain = { ...validateJobSpec({ ...base, hfl: { secureAgg: false } }), id: 'p' };
    expect(() => checkJobPolicy(plain, SECURE_ONLY, 'bank-1')).toThrow(
      expect.objectContaining({ code: 'policy', field: 'accept.plaintextScheme' }),
    );
    expect(() => checkJobPolicy(plain, { ...SECURE_ONLY, plaintextScheme: true }, 'bank-1')).not.toThrow();
    // A node that accepts no HE scheme still runs a secure HFL job (it uses none).
    const secure = { ...validateJobSpec(base), id: 's' };
    expect(() => checkJobPolicy(secure, { ...SECURE_ONLY, schemes: [] }, 'bank-1')).not.toThrow();
  });
});
