/**
 * Typed errors. Every failure a user can cause (bad CSV, bad config, bad flag, bad wire message) is a
 * `FedscoreError` with a machine-readable `code` and, where known, the offending field, file, line and
 * column, so that callers can react to it and the CLI can print it without a stack trace.
 */

/** Every error code the project raises. Extend here, never with ad-hoc strings elsewhere. */
export const ERROR_CODES = [
  'invalid_argument', // a function argument or CLI flag is wrong
  'invalid_config', // a config file or options object failed validation
  'out_of_range', // a number outside its allowed range
  'csv_parse', // malformed CSV text (quotes, column count)
  'csv_schema', // a CSV value does not fit the declared schema
  'duplicate_id', // an id occurs twice where ids must be unique
  'missing_value', // a missing value where the imputation policy forbids it
  'invalid_uscc', // a malformed Unified Social Credit Code
  'invalid_id', // a malformed non-USCC ('opaque') id: empty, too long, or not well-formed Unicode
  'wire_decode', // bytes that do not decode as the expected message
  'wire_too_large', // a message over the size limit
  'protocol_step', // a message at the wrong step
  'protocol_version', // a message for an unknown protocol version
  'protocol_sequence', // a replayed or out-of-order message
  'protocol_abort', // the peer aborted the protocol
  'channel_closed', // the channel was closed while waiting
  'timeout', // a deadline passed
  'peer_identity', // a peer's certificate is missing, untrusted, or speaks for another party
  'job_state', // a job request that conflicts with the job's persisted state (unknown job, stale attempt)
  'lease_lost', // a replica's write or command for a job it no longer coordinates: another replica took the job's lease over (fencing in its store and at the peers)
  'not_lease_holder', // a peer's message reached a replica that does not coordinate the job: retry at the holder it names
  'he_insecure_params', // HE parameters below 128-bit security without the insecure flag
  'he_context_mismatch', // a serialized HE object made under other parameters
  'he_corrupt', // corrupt or truncated HE bytes
  'he_error', // an error raised inside the HE library
  'he_precision', // a decrypted value that must be an exact integer (a count) is not close to one
  'checksum_mismatch', // a downloaded file's digest differs from the expected one
  'io', // a file or network operation failed
  'not_found', // a named thing does not exist
  'unsupported', // a valid request this build cannot serve
  'consent', // no valid consent for the requested use
  'policy', // a request this node's own policy does not accept (e.g. a plaintext job its config refuses)
  'single_class', // labels hold one class where a metric or model needs both
  'diverged', // training diverged: weights or residuals no longer finite or representable (lower the learning rate)
  'psi_invalid_point', // a received PSI group element is not a valid ristretto255 encoding
  'psi_cache_mismatch', // a PSI host cache was built for other ids, another hash domain or key
  'psi_mismatch', // the parties of a PSI run disagree (mode, parameters, or the aligned result)
  'psi_policy', // a PSI run the data owner's policy refuses (a submitted id set above its bound)
  'psi_key_expired', // a PSI key (host cache) past its rotation policy: too old or used for too many sessions
  'store', // the node's state store (SQLite) failed: unreadable, locked, or a schema mismatch
  'invalid_state', // a valid request not allowed in the current state (e.g. promoting a retired model)
  'audit_tampered', // an audit log whose hash chain does not verify
  'policy_refused', // the serving party's policy refuses the request (e.g. exact online scores, too many thresholds)
  'quota_exceeded', // a per-(requester, subject) query quota is used up for its window
  'rate_limited', // too many requests for one (requester, subject) in a short window: retry later
  'consent_missing', // the data owner refuses one request: the subject has not authorized this requester's use
  'model_unavailable', // the serving party does not serve the named model to this requester
  'unusable_record', // the data owner holds a record of the subject that its model part cannot use (e.g. a value missing where training had none)
  'checkpoint', // a training checkpoint that is corrupt, of another format version, or made for another run, party or data
  'insecure_rng', // a secret (mask, noise, key) asked to come from a non-cryptographic generator
  'privacy_floor', // a peer's plan asks for less privacy than this party's floor (e.g. mask bits)
  'release_budget', // more decryptions released under one key than its flooding was sized for
  'aborted', // the caller cancelled the operation (its AbortSignal fired)
  'queue_full', // a worker pool's queue is at its limit: retry later or submit less at once
  'worker_failed', // a worker thread crashed or exited mid-task (its pool starts a replacement)
  'internal', // a bug: an invariant of our own code failed
] as const;

export type ErrorCode = (typeof ERROR_CODES)[number];

export interface ErrorLocation {
  /** The offending field, option, flag, column or message field. */
  readonly field?: string;
  /** File path, when the error comes from a file. */
  readonly file?: string;
  /** 1-based line number within `file`. */
  readonly line?: number;
  /** 1-based column number within the line (CSV: the field index). */
  readonly column?: number;
}

export interface FedscoreErrorOptions extends ErrorLocation {
  readonly cause?: unknown;
  /** Structured, non-sensitive details (never feature values, labels, keys or scores). */
  readonly details?: Readonly<Record<string, string | number | boolean>>;
}

export class FedscoreError extends Error {
  readonly code: ErrorCode;
  readonly field: string | undefined;
  readonly file: string | undefined;
  readonly line: number | undefined;
  readonly column: number | undefined;
  readonly details: Readonly<Record<string, string | number | boolean>> | undefined;

  constructor(code: ErrorCode, message: string, options: FedscoreErrorOptions = {}) {
    super(
      formatMessage(message, options),
      options.cause === undefined ? undefined : { cause: options.cause },
    );
    this.name = 'FedscoreError';
    this.code = code;
    this.field = options.field;
    this.file = options.file;
    this.line = options.line;
    this.column = options.column;
    this.details = options.details;
  }

  /** A plain object for JSON output and logs. */
  toJSON(): Record<string, unknown> {
    return {
      code: this.code,
      message: this.message,
      ...(this.field !== undefined && { field: this.field }),
      ...(this.file !== undefined && { file: this.file }),
      ...(this.line !== undefined && { line: this.line }),
      ...(this.column !== undefined && { column: this.column }),
      ...(this.details !== undefined && { details: this.details }),
    };
  }
}

function formatMessage(message: string, loc: ErrorLocation): string {
  const where: string[] = [];
  if (loc.file !== undefined) {
    let w = loc.file;
    if (loc.line !== undefined) w += `:${loc.line}`;
    if (loc.column !== undefined) w += `:${loc.column}`;
    where.push(w);
  } else if (loc.line !== undefined) {
    where.push(`line ${loc.line}${loc.column !== undefined ? `, column ${loc.column}` : ''}`);
  }
  if (loc.field !== undefined) where.push(`field '${loc.field}'`);
  return where.length > 0 ? `${where.join(', ')}: ${message}` : message;
}

export function isFedscoreError(e: unknown, code?: ErrorCode): e is FedscoreError {
  return e instanceof FedscoreError && (code === undefined || e.code === code);
}
