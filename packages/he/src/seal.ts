/**
 * The node-seal binding: one WASM instance per thread, loaded lazily, and the only place that knows how
 * SEAL reports errors. Every call into SEAL goes through `sealCall`, which turns the Emscripten
 * `WebAssembly.Exception` (or a JS error from the binding) into `FedscoreError('he_error')`.
 *
 * Memory policy: every SEAL object is freed with `.delete()` by the code that made it (try/finally or the
 * owning wrapper's `dispose()`); `deleteLater()` is never used because it leaks until the event loop
 * drains, and the WASM heap never shrinks.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { FedscoreError } from '@fedscore/core';
import initialize, { type MainModule } from 'node-seal';

export type Seal = MainModule;

let sealPromise: Promise<Seal> | undefined;
let sealInstance: Seal | undefined;
let wasmMemory: WebAssembly.Memory | undefined;

/** Find node-seal's WASM file next to its JS (walking up from this file through node_modules). */
function wasmPath(): string | undefined {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 8; i++) {
    const p = join(dir, 'node_modules', 'node-seal', 'dist', 'seal_throws.wasm');
    if (existsSync(p)) return p;
    const parent = dirname(dir);
    if (parent === dir) break;
    dir = parent;
  }
  return undefined;
}

/** The node-seal module of this thread (created on first use). */
export function loadSeal(): Promise<Seal> {
  if (sealPromise === undefined) {
    const path = wasmPath();
    const options: Record<string, unknown> = {};
    if (path !== undefined) {
      // Instantiate ourselves so we can read the heap size (the module does not export its memory).
      options['instantiateWasm'] = (
        imports: WebAssembly.Imports,
        done: (instance: WebAssembly.Instance, module: WebAssembly.Module) => void,
      ): Record<string, never> => {
        const bytes = readFileSync(path);
        WebAssembly.instantiate(bytes, imports).then(
          ({ instance, module }) => {
            for (const v of Object.values(instance.exports)) {
              if (v instanceof WebAssembly.Memory) wasmMemory = v;
            }
            done(instance, module);
          },
          (e: unknown) => {
            sealPromise = undefined;
            throw e;
          },
        );
        return {};
      };
    }
    sealPromise = initialize(options).then(
      (s) => {
        sealInstance = s;
        return s;
      },
      (e: unknown) => {
        sealPromise = undefined;
        throw new FedscoreError('he_error', `cannot load node-seal: ${String(e)}`, { cause: e });
      },
    );
  }
  return sealPromise;
}

/** The loaded module (throws if `loadSeal()` has not resolved on this thread). */
export function sealSync(): Seal {
  if (sealInstance === undefined) {
    throw new FedscoreError('internal', 'node-seal is not loaded on this thread; await loadSeal() first');
  }
  return sealInstance;
}

/** Current size of the WASM linear memory in bytes (it only grows), or undefined if unknown. */
export function wasmHeapBytes(): number | undefined {
  return wasmMemory?.buffer.byteLength;
}

/** Text of an error thrown by SEAL (C++ exceptions arrive as WebAssembly.Exception). */
export function sealErrorMessage(e: unknown): string {
  if (typeof WebAssembly.Exception === 'function' && e instanceof WebAssembly.Exception) {
    const s = sealInstance as unknown as {
      getExceptionMessage?: (e: unknown) => [string, string];
      decrementExceptionRefcount?: (e: unknown) => void;
    };
    try {
      const [type, message] = s.getExceptionMessage?.(e) ?? ['exception', ''];
      return `${type}: ${message}`;
    } catch {
      return 'SEAL exception';
    } finally {
      // The C++ exception object is reference counted; we own the last reference once caught in JS.
      try {
        s.decrementExceptionRefcount?.(e);
      } catch {}
    }
  }
  return e instanceof Error ? e.message : String(e);
}

/** Run `fn`; turn any SEAL failure into a typed error naming `what`. FedscoreErrors pass through. */
export function sealCall<T>(what: string, fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    throw wrapSealError(what, e);
  }
}

export function wrapSealError(what: string, e: unknown): FedscoreError {
  if (e instanceof FedscoreError) return e;
  return new FedscoreError('he_error', `${what} failed: ${sealErrorMessage(e)}`, { field: what, cause: e });
}
