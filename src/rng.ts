/**
 * mulberry32 (Tommy Ettinger's 32-bit generator): small, fast, seedable; uniform in [0, 1).
 * The one PRNG of the project (sampling, training data order, seeded tests). Its state is a single
 * uint32, exposed so checkpoints can save and restore it.
 */
export class Rng {
  state: number;
  constructor(seed: number) {
    this.state = seed >>> 0;
  }
  /** Next uint32. */
  nextU32(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  }
  /** Next float, uniform in [0, 1). */
  next(): number {
    return this.nextU32() / 4294967296;
  }
}

/** A closure over a fresh Rng: uniform floats in [0, 1). */
export function mulberry32(seed: number): () => number {
  const r = new Rng(seed);
  return () => r.next();
}
