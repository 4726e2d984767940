/** Messages between `BlindingPool` (pool.ts) and its workers (blind-worker.ts), over the core pool. In-process only. */

export type WorkerRequest =
  | {
      readonly op: 'hash';
      /** UTF-8 ids back to back. */
      readonly ids: Uint8Array;
      /** n + 1 offsets into `ids`. */
      readonly offsets: Uint32Array;
      /** Blind each hashed point with this scalar; null = return the unblinded points (tests only). */
      readonly scalar: Uint8Array | null;
      /** Hash-to-group domain tag (names the id kind; ids.ts `psiHashDomain`). */
      readonly domain: string;
    }
  | {
      readonly op: 'blind';
      /** n x 32-byte points. */
      readonly points: Uint8Array;
      readonly scalar: Uint8Array;
      /** Bytes kept of each product (32, or a prefix for comparison keys). */
      readonly outBytes: number;
    };

/** A job's answer. An unexpected exception inside the worker is the task's error instead (core pool). */
export type WorkerReply =
  | {
      readonly type: 'done';
      readonly out: Uint8Array;
      /** Wall time inside the job. */
      readonly busyMs: number;
      /** This thread's CPU time inside the job (excludes time the OS gave to other processes). */
      readonly cpuMs: number;
    }
  /** Element `index` of the batch is not a valid ristretto255 point (or an id too long to hash). */
  | {
      readonly type: 'rejected';
      readonly index: number;
      readonly busyMs: number;
      readonly cpuMs: number;
    };
