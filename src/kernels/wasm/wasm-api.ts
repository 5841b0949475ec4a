/**
 * The few WebAssembly JS-API members relufy uses, typed locally: the project compiles with
 * `lib: ES2022` and no DOM, and @types/node 20 does not declare the `WebAssembly` namespace.
 */
export interface WasmMemory {
  readonly buffer: SharedArrayBuffer | ArrayBuffer;
  grow(deltaPages: number): number;
}

/** A compiled module (opaque; can be posted to worker threads). */
export interface WasmCompiled {
  readonly __wasmModule?: never;
}

interface WasmApi {
  Module: new (bytes: Uint8Array) => WasmCompiled;
  Instance: new (m: WasmCompiled, imports: Record<string, Record<string, unknown>>) => { exports: Record<string, unknown> };
  Memory: new (d: { initial: number; maximum?: number; shared?: boolean }) => WasmMemory;
  validate(bytes: Uint8Array): boolean;
}

/** globalThis.WebAssembly with the types above. */
export const WA: WasmApi = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;

type WaitAsync = (a: Int32Array, i: number, v: number, t?: number) => { async: false; value: string } | { async: true; value: Promise<string> };

/** Atomics.waitAsync (ES2024; present in Node >= 16). */
export const waitAsync: WaitAsync = (Atomics as unknown as { waitAsync: WaitAsync }).waitAsync;
