/** Seeded random data and error measures shared by the conformance suites. */
import { mulberry32 } from '../../src/rng.js';

/** Seeded PRNG, uniform in [0, 1) (the project's mulberry32). */
export const rng = mulberry32;

/** n values uniform in [-scale, scale). */
export function randn(r: () => number, n: number, scale = 1): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = (r() * 2 - 1) * scale;
  return a;
}

/**
 * Normalized mean squared error sum((a-b)^2) / sum(b^2) (ggml test-backend-ops `nmse`), with b the reference.
 * Returns Infinity when a has a non-finite value the reference does not.
 */
export function nmse(a: Float32Array, b: Float32Array): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < b.length; i++) {
    if (!Number.isFinite(a[i]!) && Number.isFinite(b[i]!)) return Infinity;
    const d = a[i]! - b[i]!;
    num += d * d;
    den += b[i]! * b[i]!;
  }
  return den === 0 ? num : num / den;
}
