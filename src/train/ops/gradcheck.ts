/**
 * Finite-difference gradient check for the ops in this folder (ggml test-backend-ops MODE_GRAD).
 *
 * The scalar loss is L = sum_k sum_i out_k[i] * R_k[i] with fixed random R_k, summed in float64, so
 * dL/dout_k = R_k is what the backward receives. For sampled entries j of each input the numeric
 * gradient is (L(x_j + h) - L(x_j - h)) / 2h. Forward math is float32, so each L carries rounding
 * error of about 6e-8 * sqrt(#outputs) * |out|; with h = 1e-2 that is ~1e-4 relative in the
 * numeric gradient, and the central-difference truncation error is O(h^2 |f'''|) ~ 1e-4. The check
 * therefore passes when max_j |analytic_j - numeric_j| <= tol * max(max_j |numeric_j|, 1e-6), with
 * tol = 1e-2: two orders above the expected noise, and far below a real bug (a missing term or a
 * wrong factor shows as an error of 10% or more; the self-test injects a 3% error and expects a failure).
 */
export interface GradCheckCase {
  /** Inputs that get gradients (perturbed in place during the check). */
  inputs: Float32Array[];
  /** Runs the forward pass from the current inputs and returns the outputs. */
  forward: () => Float32Array[];
  /** Runs the backward for douts (one per output) and accumulates into grads (one per input, pre-zeroed). */
  backward: (douts: Float32Array[], grads: Float32Array[]) => void;
}

export interface GradCheckResult {
  /** Per input: max |analytic - numeric| / max |numeric|. */
  relErrors: number[];
  /** Whether the backward added to (rather than overwrote) pre-filled gradient buffers. */
  accumulates: boolean;
}

export function gradCheck(c: GradCheckCase, options: { h?: number; samples?: number; seed?: number } = {}): GradCheckResult {
  const h = options.h ?? 1e-2;
  const samples = options.samples ?? 40;
  const rand = lcg(options.seed ?? 7);
  const outs0 = c.forward().map((o) => o.slice());
  const R = outs0.map((o) => Float32Array.from(o, () => rand() * 2 - 1));
  const loss = (): number => {
    const outs = c.forward();
    let s = 0;
    for (let k = 0; k < outs.length; k++) for (let i = 0; i < outs[k]!.length; i++) s += outs[k]![i]! * R[k]![i]!;
    return s;
  };
  c.forward();
  const grads = c.inputs.map((x) => new Float32Array(x.length));
  c.backward(R, grads);
  // accumulate contract: running the backward again onto filled buffers must add, not overwrite
  const twice = grads.map((g) => g.slice());
  c.forward();
  c.backward(R, twice);
  let accumulates = true;
  for (let k = 0; k < grads.length; k++) {
    for (let i = 0; i < grads[k]!.length; i++) {
      if (Math.abs(twice[k]![i]! - 2 * grads[k]![i]!) > 1e-5 * (1 + Math.abs(grads[k]![i]!))) accumulates = false;
    }
  }
  const relErrors: number[] = [];
  for (let k = 0; k < c.inputs.length; k++) {
    const x = c.inputs[k]!;
    const picks = x.length <= samples ? [...x.keys()] : Array.from({ length: samples }, () => Math.floor(rand() * x.length));
    let maxErr = 0;
    let maxNum = 1e-6;
    for (const j of picks) {
      const orig = x[j]!;
      x[j] = orig + h;
      const lp = loss();
      x[j] = orig - h;
      const lm = loss();
      x[j] = orig;
      const num = (lp - lm) / (2 * h);
      maxErr = Math.max(maxErr, Math.abs(num - grads[k]![j]!));
      maxNum = Math.max(maxNum, Math.abs(num));
    }
    relErrors.push(maxErr / maxNum);
  }
  c.forward();
  return { relErrors, accumulates };
}

/** Deterministic uniform [0, 1) generator for test data. */
export function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 4294967296;
  };
}

/** max |x - y| / max |y| (y the reference). */
export function relErr(x: Float32Array, y: Float32Array): number {
  let e = 0, m = 0;
  for (let i = 0; i < y.length; i++) {
    e = Math.max(e, Math.abs(x[i]! - y[i]!));
    m = Math.max(m, Math.abs(y[i]!));
  }
  return m === 0 ? e : e / m;
}
