/**
 * The envelope codec: core's `Envelope` to protobuf bytes (`proto/envelope.proto`) and back.
 *
 * Decoding is defensive because the bytes come from another party: the size limit is checked before a
 * single byte is parsed (`wire_too_large`), every parse failure -- truncated bytes, garbage, invalid
 * UTF-8, a value out of range, a required field absent -- is a `FedscoreError('wire_decode')` naming the
 * envelope field, and nothing else ever escapes. Unknown fields (from a newer sender) are skipped.
 *
 * Decoded payloads are views into the received buffer (no copy of large ciphertext batches); a consumer
 * that keeps a payload beyond the buffer's lifetime, or reads `payload.buffer`, must copy it first.
 */
import {
  assertBytes,
  assertInteger,
  assertNonEmptyString,
  type Envelope,
  type EnvelopeCodec,
  FedscoreError,
  safeUint64,
} from '@fedscore/core';
import protobuf from 'protobufjs/minimal.js';
import { fedscore } from './generated/messages.js';

/**
 * Default largest encoded envelope, in bytes: 64 MiB.
 *
 * Ciphertexts are large (../shared/ANCHORS.md): a fresh CKKS N=8192 ciphertext is ~384 KiB and a full
 * set of Galois keys at N=8192 is ~36 MiB, so 64 MiB carries the keys in one message, or ~170 fresh
 * ciphertexts (one column of ~700,000 values), with room for the envelope. It is also small enough that a
 * faulty or hostile peer cannot make a receiver allocate gigabytes, and far below protobuf's 2 GiB hard
 * limit. Protocols whose batches can grow beyond it send them in chunks, one step message per chunk.
 */
export const DEFAULT_MAX_MESSAGE_BYTES = 64 * 1024 * 1024;

/** Protobuf messages cannot exceed 2 GiB - 1 bytes. */
const PROTOBUF_MAX_BYTES = 2 ** 31 - 1;
const UINT32_MAX = 2 ** 32 - 1;
const ENVELOPE = 'fedscore.Envelope';
/** Field 8 (payload), wire type 2 (length-delimited): 8 << 3 | 2. */
const PAYLOAD_TAG = 0x42;

export interface EnvelopeCodecLimits {
  /** Largest encoded envelope accepted on decode and produced on encode (default 64 MiB). */
  readonly maxMessageBytes?: number;
}

/** core's `EnvelopeCodec`, plus the limit it enforces. */
export interface WireEnvelopeCodec extends EnvelopeCodec {
  readonly maxMessageBytes: number;
}

/** Field numbers of `fedscore.Envelope`, to name the field at which a parse failed. */
const ENVELOPE_FIELDS: Readonly<Record<number, string>> = {
  1: 'protocol',
  2: 'protocol_version',
  3: 'session_id',
  4: 'step',
  5: 'sender',
  6: 'receiver',
  7: 'seq',
  8: 'payload',
};
const ENVELOPE_STRING_FIELDS: ReadonlySet<number> = new Set([1, 3, 4, 5, 6]);

export function createEnvelopeCodec(limits: EnvelopeCodecLimits = {}): WireEnvelopeCodec {
  const maxMessageBytes = assertInteger(
    limits.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES,
    'maxMessageBytes',
    1,
    PROTOBUF_MAX_BYTES,
  );

  const tooLarge = (size: number, what: string): FedscoreError =>
    new FedscoreError('wire_too_large', `${what} of ${size} bytes exceeds the limit of ${maxMessageBytes}`, {
      field: ENVELOPE,
      details: { bytes: size, limit: maxMessageBytes },
    });

  return {
    maxMessageBytes,

    encode(envelope: Envelope): Uint8Array {
      const payload = assertBytes(envelope.payload, 'payload');
      // Refuse early: a payload over the limit cannot make an envelope under it.
      if (payload.length > maxMessageBytes) throw tooLarge(payload.length, 'payload');
      const header: fedscore.Envelope.$Properties = {
        protocol: assertNonEmptyString(envelope.protocol, 'protocol'),
        protocolVersion: assertInteger(envelope.version, 'version', 1, UINT32_MAX),
        sessionId: assertNonEmptyString(envelope.session, 'session'),
        step: assertNonEmptyString(envelope.step, 'step'),
        sender: assertNonEmptyString(envelope.sender, 'sender'),
        receiver: assertNonEmptyString(envelope.receiver, 'receiver'),
        seq: assertInteger(envelope.seq, 'seq', 0, Number.MAX_SAFE_INTEGER),
      };
      // Fields 1-7 by the generated encoder, then field 8 (payload) appended by hand into a buffer of the
      // exact final size: the payload (up to the limit, often tens of MiB) is copied once, where the
      // generated writer would copy it up to three times while growing its buffer. The bytes are
      // identical to the generated encoder's, which also writes fields in number order.
      const head = fedscore.Envelope.encode(header);
      const total = head.pos + 1 + varintSize(payload.length) + payload.length;
      if (total > maxMessageBytes) throw tooLarge(total, 'envelope');
      const bytes = head.finishInto(new Uint8Array(total));
      let pos = head.pos;
      bytes[pos++] = PAYLOAD_TAG;
      for (let n = payload.length; ; n = Math.floor(n / 128)) {
        if (n < 128) {
          bytes[pos++] = n;
          break;
        }
        bytes[pos++] = (n % 128) | 128;
      }
      bytes.set(payload, pos);
      return bytes;
    },

    decode(bytes: Uint8Array): Envelope {
      if (!(bytes instanceof Uint8Array)) {
        throw new FedscoreError('wire_decode', 'expected the bytes of an envelope', { field: ENVELOPE });
      }
      if (bytes.length > maxMessageBytes) throw tooLarge(bytes.length, 'envelope');
      let m: fedscore.Envelope;
      try {
        m = fedscore.Envelope.decode(plainView(bytes));
      } catch (e) {
        const field = locateFailure(bytes, ENVELOPE_FIELDS, ENVELOPE_STRING_FIELDS);
        throw new FedscoreError(
          'wire_decode',
          `malformed envelope (${e instanceof Error ? e.message : String(e)})`,
          { field: field === undefined ? ENVELOPE : `${ENVELOPE}.${field}`, cause: e },
        );
      }
      return {
        protocol: required(m.protocol, 'protocol'),
        version: m.protocolVersion >= 1 ? m.protocolVersion : missing('protocol_version'),
        session: required(m.sessionId, 'session_id'),
        step: required(m.step, 'step'),
        sender: required(m.sender, 'sender'),
        receiver: required(m.receiver, 'receiver'),
        seq: safeUint64(m.seq, `${ENVELOPE}.seq`),
        // Always written by the encoder (last), so its absence means the message was cut short.
        payload: m.payload == null ? missing('payload') : plainBytes(m.payload),
      };
    },
  };
}

/** The default codec (64 MiB limit), for `createInMemoryNetwork(parties, envelopeCodec)` and transports. */
export const envelopeCodec: WireEnvelopeCodec = createEnvelopeCodec();

function missing(field: string): never {
  throw new FedscoreError('wire_decode', 'required field is absent or empty (or the message was cut short)', {
    field: `${ENVELOPE}.${field}`,
  });
}

function required(value: string, field: string): string {
  return value.length > 0 ? value : missing(field);
}

/**
 * The encoded bytes in a Uint8Array of their own. protobufjs's `finish()` returns a Node `Buffer` (or a
 * slice of a shared pool) whose `.buffer` holds other data; a transport that sends or transfers
 * `bytes.buffer` must see exactly the message.
 */
export function finishOwned(writer: protobuf.Writer): Uint8Array {
  return writer.finishInto(new Uint8Array(writer.pos));
}

/** Bytes of the varint encoding of a non-negative integer below 2^53. */
export function varintSize(n: number): number {
  let size = 1;
  while (n >= 128) {
    n = Math.floor(n / 128);
    size++;
  }
  return size;
}

/**
 * A writer whose buffer already holds `size` bytes, so that encoding a large message of about that size
 * does not grow (and copy) the buffer repeatedly. Pair with `finishPresized`.
 */
export function presizedWriter(size: number): protobuf.Writer {
  const writer = new protobuf.Writer();
  writer.buf = new Uint8Array(size);
  return writer;
}

/**
 * The bytes written, without copying: the writer's buffer itself when the size hint was exact, else a
 * view of it with unused capacity after the end (fine for a payload, which is copied into its envelope
 * next; use `finishOwned` for bytes whose `.buffer` must hold exactly the message).
 */
export function finishPresized(writer: protobuf.Writer): Uint8Array {
  return writer.pos === writer.buf.length ? writer.buf : writer.buf.subarray(0, writer.pos);
}

/**
 * A plain Uint8Array view of `bytes` (no copy). Given a Node `Buffer`, protobufjs decodes bytes fields as
 * Buffers; given a plain view, as plain `Uint8Array` views, which compare equal to what was encoded.
 */
export function plainView(bytes: Uint8Array): Uint8Array {
  return Object.getPrototypeOf(bytes) === Uint8Array.prototype
    ? bytes
    : new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/**
 * protobufjs returns a Node `Buffer` for empty bytes fields; return a plain `Uint8Array` view so that
 * decoded values compare equal to what was encoded.
 */
export function plainBytes(value: Uint8Array): Uint8Array {
  return plainView(value);
}

/**
 * Walk the top-level fields of a message that failed to parse and return the name of the field at
 * which the bytes stop making sense: a length or varint running past the end, or (for the field numbers
 * in `stringFields`) text that is not valid UTF-8. Undefined when the tag itself is unreadable.
 */
export function locateFailure(
  bytes: Uint8Array,
  fields: Readonly<Record<number, string>>,
  stringFields: ReadonlySet<number> = new Set(),
): string | undefined {
  const reader = protobuf.Reader.create(bytes);
  let current: string | undefined;
  try {
    while (reader.pos < reader.len) {
      current = undefined;
      const tag = reader.uint32();
      const id = tag >>> 3;
      current = fields[id] ?? `#${id}`;
      if ((tag & 7) === 2 && stringFields.has(id)) reader.stringVerify();
      else reader.skipType(tag & 7);
    }
  } catch {
    return current;
  }
  return undefined;
}
