export type { EnvelopeCodecLimits, WireEnvelopeCodec } from './envelope.ts';
export { createEnvelopeCodec, DEFAULT_MAX_MESSAGE_BYTES, envelopeCodec } from './envelope.ts';
export { fedscore } from './generated/messages.js';
