/**
 * The node-seal binding: one WASM instance per thread, loaded lazily, and the only place that knows how
 * SEAL reports errors. Every call into SEAL goes through `sealCall`, which turns the Emscripten
 * `WebAssembly.Exception` (or a JS error from the binding) into `FedscoreError('he_error')`.
 *
 * Memory policy: every SEAL object is freed with `.delete()` by the code that made it (try/finally or the
 * owning wrapper's `dispose()`); `deleteLater()` is never used because it leaks until the event loop
 * drains, and the WASM heap never shrinks.
 */
import { FedscoreError } from '@fedscore/core';
import initialize, { type MainModule } from 'node-seal';

export type Seal = MainModule;

let sealPromise: Promise<Seal> | undefined;
let sealInstance: Seal | undefined;
let wasmMemory: WebAssembly.Memory | undefined;

/**
 * The node-seal module of this thread (created on first use). The module does not export its linear
 * memory, so while it initializes we observe `WebAssembly.instantiate` to keep a reference to the memory
 * it creates (for `wasmHeapBytes()`), and restore the original function as soon as it has run.
 */
export function loadSeal(): Promise<Seal> {
  if (sealPromise === undefined) {
    const original = WebAssembly.instantiate;
    const observed = (async (...args: Parameters<typeof WebAssembly.instantiate>) => {
      const result = (await (original as (...a: unknown[]) => Promise<unknown>)(...args)) as
        | WebAssembly.WebAssemblyInstantiatedSource
        | WebAssembly.Instance;
      const instance = result instanceof WebAssembly.Instance ? result : result.instance;
      for (const v of Object.values(instance.exports)) {
        if (v instanceof WebAssembly.Memory) wasmMemory = v;
      }
      return result;
    }) as typeof WebAssembly.instantiate;
    WebAssembly.instantiate = observed;
    sealPromise = initialize().then(
      (s) => {
        if (WebAssembly.instantiate === observed) WebAssembly.instantiate = original;
        sealInstance = s;
        return s;
      },
      (e: unknown) => {
        if (WebAssembly.instantiate === observed) WebAssembly.instantiate = original;
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
