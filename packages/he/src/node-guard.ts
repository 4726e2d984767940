/**
 * Imported first by this package's index: on Node.js older than 22.18 importing `@fedscore/he` throws
 * `FedscoreError('unsupported')` with one sentence naming the version needed and why, instead of the
 * WebAssembly `CompileError` node-seal 7 would raise on first use (see core's `runtime.ts`).
 */
import { assertSupportedNode } from '@fedscore/core';

assertSupportedNode();
