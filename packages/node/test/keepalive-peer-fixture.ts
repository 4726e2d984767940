/**
 * Child process of transport-keepalive.test.ts: the government's `GrpcTransport` (its own event loop,
 * unlike a second transport in the test's process), which on the stdin line `block MS` prints `blocking`
 * and then keeps its event loop busy for MS ms with synchronous work -- as a node busy with a CPU-bound
 * step on a loaded machine -- then prints `unblocked`. Prints `port N` once listening. Its Control calls
 * are answered (a typed `unsupported` refusal: no handler), but only when its loop runs.
 * Usage: node keepalive-peer-fixture.ts (TLS material as JSON in FEDSCORE_TEST_TLS).
 */
import { createHash } from 'node:crypto';
import { createInterface } from 'node:readline';
import { GrpcTransport } from '@fedscore/node';

const tls = JSON.parse(process.env['FEDSCORE_TEST_TLS'] ?? 'null') as {
  ca: string;
  cert: string;
  key: string;
};
if (tls === null) throw new Error('FEDSCORE_TEST_TLS is not set');
const transport = await GrpcTransport.start({
  party: 'government',
  listen: '127.0.0.1:0',
  tls,
  peers: { bank: '127.0.0.1:1' },
});
// stdout on a pipe is synchronous on Linux: each line is out before the next statement runs.
process.stdout.write(`port ${transport.port}\n`);

/** Hash in a loop until `ms` have passed: CPU-bound work that never yields to the event loop. */
function busy(ms: number): void {
  const end = Date.now() + ms;
  let h = Buffer.alloc(32);
  while (Date.now() < end) h = createHash('sha256').update(h).digest();
}

for await (const line of createInterface({ input: process.stdin })) {
  const m = /^block (\d+)$/.exec(line);
  if (m !== null) {
    process.stdout.write('blocking\n');
    busy(Number(m[1]));
    process.stdout.write('unblocked\n');
  }
}
await transport.close();
