/** The transport's configuration: TLS material and limits, with their defaults and checks. */
import { FedscoreError } from '@fedscore/core';

export interface TlsMaterial {
  /** PEM of the CA that issued every party's certificate. */
  readonly ca: string;
  /** PEM of this party's certificate and private key. */
  readonly cert: string;
  readonly key: string;
}

export interface TransportLimits {
  /** Largest encoded envelope sent or accepted. Default 64 MiB (the wire codec's default). */
  readonly maxMessageBytes?: number;
  /** Bytes per Deliver chunk. Default 1 MiB. */
  readonly chunkBytes?: number;
  /** Deadline of one call, in ms. Default 120 000. */
  readonly deadlineMs?: number;
  /** Retries of a send after a transient failure. Default 5. */
  readonly retries?: number;
  /** First backoff between retries, doubled each time. Default 200 ms. */
  readonly retryBaseMs?: number;
  /** Unread bytes per stage attempt before acknowledgements wait. Default 256 MiB. */
  readonly maxQueuedBytes?: number;
  /**
   * HTTP/2 flow-control window this node opens to a sender, per stream and per connection. Default
   * 16 MiB. A sender can have at most this much unacknowledged data in flight, so one stream moves at most
   * window / round-trip time: HTTP/2's default of 64 KiB caps a 100 ms round trip at ~5 Mbit/s, whatever
   * the link (issue 20: the `wan` profile moved ~3 Mbit/s of its 100). 16 MiB covers 1 Gbit/s at 130 ms.
   */
  readonly windowBytes?: number;
}

export interface ResolvedLimits {
  readonly maxMessageBytes: number;
  readonly chunkBytes: number;
  readonly deadlineMs: number;
  readonly retries: number;
  readonly retryBaseMs: number;
  readonly maxQueuedBytes: number;
  readonly windowBytes: number;
}

export function resolveLimits(l: TransportLimits = {}): ResolvedLimits {
  const int = (v: number | undefined, d: number, field: string, min: number, max: number): number => {
    const x = v ?? d;
    if (!Number.isInteger(x) || x < min || x > max) {
      throw new FedscoreError('out_of_range', `${x} is outside [${min}, ${max}]`, {
        field: `limits.${field}`,
      });
    }
    return x;
  };
  return {
    maxMessageBytes: int(l.maxMessageBytes, 64 * 1024 * 1024, 'maxMessageBytes', 1024, 2 ** 31 - 1),
    chunkBytes: int(l.chunkBytes, 1024 * 1024, 'chunkBytes', 1024, 16 * 1024 * 1024),
    deadlineMs: int(l.deadlineMs, 120_000, 'deadlineMs', 100, 86_400_000),
    retries: int(l.retries, 5, 'retries', 0, 100),
    retryBaseMs: int(l.retryBaseMs, 200, 'retryBaseMs', 1, 60_000),
    maxQueuedBytes: int(l.maxQueuedBytes, 256 * 1024 * 1024, 'maxQueuedBytes', 1024, 2 ** 40),
    // 65 535 is HTTP/2's default and smallest sensible value; 2^31 - 1 its largest (RFC 9113 6.9.1).
    windowBytes: int(l.windowBytes, 16 * 1024 * 1024, 'windowBytes', 65_535, 2 ** 31 - 1),
  };
}
