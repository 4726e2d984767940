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
  /**
   * HTTP/2 keepalive: a connection with calls in flight (client) or any connection (server) is pinged after
   * this long without a ping. Default 30 000 ms.
   */
  readonly keepaliveTimeMs?: number;
  /**
   * How long a keepalive ping may go unacknowledged before the connection is dropped, failing every call
   * on it (`Connection dropped`). Default: `deadlineMs` (120 000 ms), so that no stall a call's own
   * deadline would survive drops the connection. A ping is answered by the peer's event loop, and this
   * node's timer is checked by its own: a loop busy with CPU-bound work on the main thread answers late --
   * the government's consent filter of 200k ids is one synchronous call of 1.7-2.0 CPU s (so ~20 CPU s at
   * 2M), 3-21 s of wall clock at load 17 on 2 cores -- and when this node's own loop stalls while its ping
   * is in flight, its expired timer runs before the socket holding the ack is polled (libuv's phase
   * order). At the former fixed 10 s, 2M x 2M PSI runs at load 18-22 lost their connections (issue 20).
   * test/transport-keepalive.test.ts reproduces the drop with a blocked event loop.
   */
  readonly keepaliveTimeoutMs?: number;
}

export interface ResolvedLimits {
  readonly maxMessageBytes: number;
  readonly chunkBytes: number;
  readonly deadlineMs: number;
  readonly retries: number;
  readonly retryBaseMs: number;
  readonly maxQueuedBytes: number;
  readonly windowBytes: number;
  readonly keepaliveTimeMs: number;
  readonly keepaliveTimeoutMs: number;
}

/** Keepalive ping interval by default (`TransportLimits`; the node config's `limits` uses the same). */
export const KEEPALIVE_TIME_MS = 30_000;

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
  const deadlineMs = int(l.deadlineMs, 120_000, 'deadlineMs', 100, 86_400_000);
  return {
    maxMessageBytes: int(l.maxMessageBytes, 64 * 1024 * 1024, 'maxMessageBytes', 1024, 2 ** 31 - 1),
    chunkBytes: int(l.chunkBytes, 1024 * 1024, 'chunkBytes', 1024, 16 * 1024 * 1024),
    deadlineMs,
    retries: int(l.retries, 5, 'retries', 0, 100),
    retryBaseMs: int(l.retryBaseMs, 200, 'retryBaseMs', 1, 60_000),
    maxQueuedBytes: int(l.maxQueuedBytes, 256 * 1024 * 1024, 'maxQueuedBytes', 1024, 2 ** 40),
    // 65 535 is HTTP/2's default and smallest sensible value; 2^31 - 1 its largest (RFC 9113 6.9.1).
    windowBytes: int(l.windowBytes, 16 * 1024 * 1024, 'windowBytes', 65_535, 2 ** 31 - 1),
    keepaliveTimeMs: int(l.keepaliveTimeMs, KEEPALIVE_TIME_MS, 'keepaliveTimeMs', 100, 86_400_000),
    keepaliveTimeoutMs: int(l.keepaliveTimeoutMs, deadlineMs, 'keepaliveTimeoutMs', 100, 86_400_000),
  };
}
