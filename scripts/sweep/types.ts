/**
 * The bad-input and fault sweep (issue: no silent wrong result). Each case feeds one bad input or fault
 * to the real CLI, library or node and classifies what happened. The sweep passes only when no case is
 * a silent wrong result, a crash or a hang.
 */

/** What a case observed. */
export type SweepOutcome =
  /** A typed error naming the file/line/column or field, process still healthy. */
  | 'refused-clearly'
  /** The input was valid after all (e.g. an explicit opt-in) and the result is right. */
  | 'handled'
  /** A result came out that is wrong, with no error. */
  | 'silent-wrong'
  /** An untyped error, a stack trace, a WebAssembly fault, or a process that died. */
  | 'crash'
  /** Did not finish within the case's time limit. */
  | 'hang';

export interface SweepResult {
  readonly outcome: SweepOutcome;
  /** One line: the error code and message, or what was wrong. Never a data value. */
  readonly detail: string;
}

export interface SweepCase {
  /** Stable id, e.g. `csv/inf-in-numeric-column`. */
  readonly id: string;
  /** The class of the issue it belongs to: `csv`, `ckks-range`, `cli-flags`, `node-start`, ... */
  readonly group: string;
  /** Time limit in milliseconds; past it the case is a hang. */
  readonly timeoutMs?: number;
  run(workDir: string): Promise<SweepResult>;
}
