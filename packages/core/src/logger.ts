/**
 * Logging and progress. Library code never prints: it takes a `Logger` and a `ProgressCallback`.
 * Log fields carry metadata only (counts, sizes, durations, party and step names) -- never features,
 * labels, keys or scores. `redactingLogger` enforces the field-type part of that rule.
 */

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
export type LogFields = Readonly<Record<string, string | number | boolean | undefined>>;

export interface Logger {
  debug(message: string, fields?: LogFields): void;
  info(message: string, fields?: LogFields): void;
  warn(message: string, fields?: LogFields): void;
  error(message: string, fields?: LogFields): void;
  /** A logger that adds `fields` to every record. */
  child(fields: LogFields): Logger;
}

export interface LogRecord {
  readonly level: LogLevel;
  readonly message: string;
  readonly fields: LogFields;
  readonly time: number;
}

/** Discards everything. The default wherever a logger is optional. */
export const noopLogger: Logger = {
  debug() {},
  info() {},
  warn() {},
  error() {},
  child() {
    return noopLogger;
  },
};

const LEVEL_RANK: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

/** A logger that hands each record at or above `minLevel` to `sink` (the CLI writes them to stderr). */
export function createLogger(
  sink: (record: LogRecord) => void,
  minLevel: LogLevel = 'info',
  base: LogFields = {},
): Logger {
  const emit = (level: LogLevel, message: string, fields?: LogFields): void => {
    if (LEVEL_RANK[level] < LEVEL_RANK[minLevel]) return;
    sink({ level, message, fields: { ...base, ...fields }, time: Date.now() });
  };
  return {
    debug: (m, f) => emit('debug', m, f),
    info: (m, f) => emit('info', m, f),
    warn: (m, f) => emit('warn', m, f),
    error: (m, f) => emit('error', m, f),
    child: (fields) => createLogger(sink, minLevel, { ...base, ...fields }),
  };
}

/** `logger` without the records below `minLevel` (e.g. a node's config `log.level` over the CLI's logger). */
export function atLevel(logger: Logger, minLevel: LogLevel): Logger {
  const keep = (l: LogLevel): boolean => LEVEL_RANK[l] >= LEVEL_RANK[minLevel];
  return {
    debug: (m, f) => (keep('debug') ? logger.debug(m, f) : undefined),
    info: (m, f) => (keep('info') ? logger.info(m, f) : undefined),
    warn: (m, f) => (keep('warn') ? logger.warn(m, f) : undefined),
    error: (m, f) => logger.error(m, f),
    child: (fields) => atLevel(logger.child(fields), minLevel),
  };
}

/** Collects records in memory (tests check that no data value reaches a log). */
export function memoryLogger(minLevel: LogLevel = 'debug'): Logger & { readonly records: LogRecord[] } {
  const records: LogRecord[] = [];
  const logger = createLogger((r) => records.push(r), minLevel);
  return Object.assign(logger, { records });
}

/** Progress of a long operation. `total` is absent when unknown. */
export interface ProgressEvent {
  readonly stage: string;
  readonly done: number;
  readonly total?: number;
  readonly unit?: string;
}

export type ProgressCallback = (event: ProgressEvent) => void;

export const noProgress: ProgressCallback = () => {};
