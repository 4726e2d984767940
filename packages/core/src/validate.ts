/**
 * Tiny validators that name the field that failed. Type errors and range errors are distinct codes
 * (`invalid_argument` vs `out_of_range`).
 */
import { FedscoreError } from './errors.ts';

export function assertInteger(value: unknown, field: string, min = -Infinity, max = Infinity): number {
  if (typeof value !== 'number' || !Number.isInteger(value)) {
    throw new FedscoreError('invalid_argument', `expected an integer, got ${describe(value)}`, { field });
  }
  if (value < min || value > max) {
    throw new FedscoreError('out_of_range', `${value} is outside [${min}, ${max}]`, { field });
  }
  return value;
}

export function assertFiniteNumber(value: unknown, field: string, min = -Infinity, max = Infinity): number {
  if (typeof value !== 'number' || !Number.isFinite(value)) {
    throw new FedscoreError('invalid_argument', `expected a finite number, got ${describe(value)}`, {
      field,
    });
  }
  if (value < min || value > max) {
    throw new FedscoreError('out_of_range', `${value} is outside [${min}, ${max}]`, { field });
  }
  return value;
}

export function assertBytes(value: unknown, field: string, length?: number): Uint8Array {
  if (!(value instanceof Uint8Array)) {
    throw new FedscoreError('invalid_argument', `expected bytes, got ${describe(value)}`, { field });
  }
  if (length !== undefined && value.length !== length) {
    throw new FedscoreError('out_of_range', `expected ${length} bytes, got ${value.length}`, { field });
  }
  return value;
}

export function assertNonEmptyString(value: unknown, field: string): string {
  if (typeof value !== 'string' || value.length === 0) {
    throw new FedscoreError('invalid_argument', `expected a non-empty string, got ${describe(value)}`, {
      field,
    });
  }
  return value;
}

export function assertOneOf<T extends string>(value: unknown, allowed: readonly T[], field: string): T {
  if (typeof value !== 'string' || !(allowed as readonly string[]).includes(value)) {
    throw new FedscoreError(
      'invalid_argument',
      `expected one of ${allowed.join(', ')}, got ${describe(value)}`,
      {
        field,
      },
    );
  }
  return value as T;
}

/** Describe a value for an error message without echoing long or sensitive content. */
export function describe(value: unknown): string {
  if (value === null) return 'null';
  if (value === undefined) return 'undefined';
  if (typeof value === 'string')
    return value.length > 40 ? `a string of ${value.length} characters` : `'${value}'`;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  if (value instanceof Uint8Array) return `${value.length} bytes`;
  if (Array.isArray(value)) return `an array of ${value.length}`;
  return `a ${typeof value}`;
}
