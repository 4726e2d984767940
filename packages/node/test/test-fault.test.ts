/**
 * The test-only fault injection of the node (`FEDSCORE_TEST_KILL_AFTER_EPOCH`, packages/node/src/jobs/
 * fault.ts, used by integration.test.ts to kill the government at an exact point of training): honoured
 * only with NODE_ENV=test; otherwise, or malformed, the node refuses to start with `invalid_config` naming
 * the variable, before it creates its state directory.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  createDevCa,
  issuePartyCert,
  PartyNode,
  TEST_HFL_DROPOUT_ENV,
  TEST_IGNORE_LEASE_EPOCH_ENV,
  TEST_KILL_AFTER_EPOCH_ENV,
  TEST_STOP_BEFORE_EPOCH_ENV,
  testFaultFromEnv,
  validateNodeConfig,
} from '@fedscore/node';
import { afterAll, describe, expect, it } from 'vitest';

const root = mkdtempSync(join(tmpdir(), 'fedscore-test-fault-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('test-only fault injection', () => {
  it('is off without the variable, on with NODE_ENV=test, and refused otherwise', () => {
    expect(testFaultFromEnv({})).toBeUndefined();
    expect(testFaultFromEnv({ NODE_ENV: 'production' })).toBeUndefined();
    expect(testFaultFromEnv({ NODE_ENV: 'test', [TEST_KILL_AFTER_EPOCH_ENV]: '2' })).toEqual({
      killAfterEpoch: 2,
    });
    for (const env of [
      { [TEST_KILL_AFTER_EPOCH_ENV]: '1' },
      { NODE_ENV: 'production', [TEST_KILL_AFTER_EPOCH_ENV]: '1' },
      { NODE_ENV: 'test', [TEST_KILL_AFTER_EPOCH_ENV]: '0' },
      { NODE_ENV: 'test', [TEST_KILL_AFTER_EPOCH_ENV]: '1.5' },
      { NODE_ENV: 'test', [TEST_KILL_AFTER_EPOCH_ENV]: 'yes' },
    ]) {
      expect(() => testFaultFromEnv(env)).toThrow(
        expect.objectContaining({ code: 'invalid_config', field: TEST_KILL_AFTER_EPOCH_ENV }),
      );
    }
  });

  it('a stop before an epoch checkpoint (SIGSTOP, replica-kill.test.ts): test-only, malformed values refused', () => {
    expect(testFaultFromEnv({ NODE_ENV: 'test', [TEST_STOP_BEFORE_EPOCH_ENV]: '2' })).toEqual({
      stopBeforeEpoch: 2,
    });
    for (const env of [
      { [TEST_STOP_BEFORE_EPOCH_ENV]: '2' },
      { NODE_ENV: 'production', [TEST_STOP_BEFORE_EPOCH_ENV]: '2' },
      { NODE_ENV: 'test', [TEST_STOP_BEFORE_EPOCH_ENV]: '0' },
      { NODE_ENV: 'test', [TEST_STOP_BEFORE_EPOCH_ENV]: 'soon' },
    ]) {
      expect(() => testFaultFromEnv(env)).toThrow(
        expect.objectContaining({ code: 'invalid_config', field: TEST_STOP_BEFORE_EPOCH_ENV }),
      );
    }
  });

  it('the lease epoch check switched off (stale-coordinator.attack.test.ts): test-only, only 1', () => {
    expect(testFaultFromEnv({ NODE_ENV: 'test', [TEST_IGNORE_LEASE_EPOCH_ENV]: '1' })).toEqual({
      ignoreLeaseEpoch: true,
    });
    for (const env of [
      { [TEST_IGNORE_LEASE_EPOCH_ENV]: '1' },
      { NODE_ENV: 'production', [TEST_IGNORE_LEASE_EPOCH_ENV]: '1' },
      { NODE_ENV: 'test', [TEST_IGNORE_LEASE_EPOCH_ENV]: 'yes' },
    ]) {
      expect(() => testFaultFromEnv(env)).toThrow(
        expect.objectContaining({ code: 'invalid_config', field: TEST_IGNORE_LEASE_EPOCH_ENV }),
      );
    }
  });

  it('an hfl dropout: <round>:<step>[:kill], test-only, malformed values refused', () => {
    expect(testFaultFromEnv({ NODE_ENV: 'test', [TEST_HFL_DROPOUT_ENV]: '2:shares-sent' })).toEqual({
      hflDropout: { round: 2, step: 'shares-sent', how: 'stall' },
    });
    expect(
      testFaultFromEnv({ NODE_ENV: 'test', [TEST_HFL_DROPOUT_ENV]: '3:masked-input-sent:kill' }),
    ).toEqual({ hflDropout: { round: 3, step: 'masked-input-sent', how: 'kill' } });
    for (const env of [
      { [TEST_HFL_DROPOUT_ENV]: '2:shares-sent' },
      { NODE_ENV: 'test', [TEST_HFL_DROPOUT_ENV]: '0:shares-sent' },
      { NODE_ENV: 'test', [TEST_HFL_DROPOUT_ENV]: '2:unmasked' },
      { NODE_ENV: 'test', [TEST_HFL_DROPOUT_ENV]: '2:shares-sent:explode' },
      { NODE_ENV: 'test', [TEST_HFL_DROPOUT_ENV]: '2:shares-sent:kill:now' },
    ]) {
      expect(() => testFaultFromEnv(env)).toThrow(
        expect.objectContaining({ code: 'invalid_config', field: TEST_HFL_DROPOUT_ENV }),
      );
    }
  });

  it('a node started with it outside tests refuses to start, before touching its state directory', async () => {
    const ca = createDevCa();
    const stateDir = join(root, 'state');
    const config = validateNodeConfig({
      party: 'government',
      listen: '127.0.0.1:0',
      stateDir,
      tls: { ca: 'x', cert: 'x', key: 'x' },
      peers: { bank: { address: '127.0.0.1:1' } },
    });
    await expect(
      PartyNode.start({
        config,
        tls: { ca: ca.cert, ...issuePartyCert({ ca, party: 'government' }) },
        env: { NODE_ENV: 'production', [TEST_KILL_AFTER_EPOCH_ENV]: '1' },
      }),
    ).rejects.toMatchObject({ code: 'invalid_config', field: TEST_KILL_AFTER_EPOCH_ENV });
    expect(existsSync(stateDir)).toBe(false);
  });
});
