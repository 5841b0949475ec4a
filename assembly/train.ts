// fp32 matrix product for the trainer (src/train/ops/gemm.ts):
//   out (M,P) (= or +=) A (M,K) @ Bm (K,P)
// A is given by element strides (A[m,k] at a + 4*(m*sam + k*sak)), so A may be a transpose
// (sam = 1, sak = rows) or one head of a (T, H*D) activation; Bm is row-major with P contiguous
// and row stride ldb; out row stride ldo. Register tiles of 4 rows x 8 columns (8 f32x4
// accumulators), then 4 x 4 and 4 x 1, and single rows for M % 4. Each output element is summed
// over k in increasing order with f32 multiply then f32 add (no fused / relaxed madd), so the
// result is the same in both builds and does not depend on which tile computes the element.
//
// `tri` (causal attention, M = P = T or M = K = T), per 4-row block m..m+3 (per row in the M % 4
// tail): TRI_P_LE_M only columns p < m+4 (the others are left unspecified); TRI_K_LE_M only
// k < m+4 (A's entries with k > row are zero); TRI_K_GE_M only k >= m (A's entries with k < row
// are zero). Same shortcuts as the JS reference `matmulNT` (src/train/ops/linear.ts).

const TRI_P_LE_M: i32 = 1;
const TRI_K_LE_M: i32 = 2;
const TRI_K_GE_M: i32 = 3;

@inline function acc4(o: usize, c: v128, accumulate: i32): void {
  v128.store(o, accumulate ? f32x4.add(v128.load(o), c) : c);
}

@inline function acc1(o: usize, c: f32, accumulate: i32): void {
  store<f32>(o, accumulate ? load<f32>(o) + c : c);
}

/** 4 rows x 8 columns; o, a, b point at the tile's first element (a, b at k = k0 already). */
@inline function tile4x8(o: usize, ldo: usize, a: usize, sam: usize, sak: usize, b: usize, ldb: usize, n: i32, accumulate: i32): void {
  let c00 = f32x4.splat(0), c01 = f32x4.splat(0), c10 = f32x4.splat(0), c11 = f32x4.splat(0);
  let c20 = f32x4.splat(0), c21 = f32x4.splat(0), c30 = f32x4.splat(0), c31 = f32x4.splat(0);
  const a1 = sam, a2 = sam << 1, a3 = sam * 3;
  for (let k = 0; k < n; k++) {
    const b0 = v128.load(b);
    const b1 = v128.load(b, 16);
    const x0 = v128.load32_splat(a);
    const x1 = v128.load32_splat(a + a1);
    const x2 = v128.load32_splat(a + a2);
    const x3 = v128.load32_splat(a + a3);
    c00 = f32x4.add(c00, f32x4.mul(x0, b0)); c01 = f32x4.add(c01, f32x4.mul(x0, b1));
    c10 = f32x4.add(c10, f32x4.mul(x1, b0)); c11 = f32x4.add(c11, f32x4.mul(x1, b1));
    c20 = f32x4.add(c20, f32x4.mul(x2, b0)); c21 = f32x4.add(c21, f32x4.mul(x2, b1));
    c30 = f32x4.add(c30, f32x4.mul(x3, b0)); c31 = f32x4.add(c31, f32x4.mul(x3, b1));
    a += sak;
    b += ldb;
  }
  acc4(o, c00, accumulate); acc4(o + 16, c01, accumulate); o += ldo;
  acc4(o, c10, accumulate); acc4(o + 16, c11, accumulate); o += ldo;
  acc4(o, c20, accumulate); acc4(o + 16, c21, accumulate); o += ldo;
  acc4(o, c30, accumulate); acc4(o + 16, c31, accumulate);
}

/** 4 rows x 4 columns. */
@inline function tile4x4(o: usize, ldo: usize, a: usize, sam: usize, sak: usize, b: usize, ldb: usize, n: i32, accumulate: i32): void {
  let c0 = f32x4.splat(0), c1 = f32x4.splat(0), c2 = f32x4.splat(0), c3 = f32x4.splat(0);
  const a1 = sam, a2 = sam << 1, a3 = sam * 3;
  for (let k = 0; k < n; k++) {
    const b0 = v128.load(b);
    c0 = f32x4.add(c0, f32x4.mul(v128.load32_splat(a), b0));
    c1 = f32x4.add(c1, f32x4.mul(v128.load32_splat(a + a1), b0));
    c2 = f32x4.add(c2, f32x4.mul(v128.load32_splat(a + a2), b0));
    c3 = f32x4.add(c3, f32x4.mul(v128.load32_splat(a + a3), b0));
    a += sak;
    b += ldb;
  }
  acc4(o, c0, accumulate); o += ldo;
  acc4(o, c1, accumulate); o += ldo;
  acc4(o, c2, accumulate); o += ldo;
  acc4(o, c3, accumulate);
}

/** 4 rows x 1 column (scalar f32, same rounding as one SIMD lane). */
@inline function tile4x1(o: usize, ldo: usize, a: usize, sam: usize, sak: usize, b: usize, ldb: usize, n: i32, accumulate: i32): void {
  let c0: f32 = 0, c1: f32 = 0, c2: f32 = 0, c3: f32 = 0;
  const a1 = sam, a2 = sam << 1, a3 = sam * 3;
  for (let k = 0; k < n; k++) {
    const w = load<f32>(b);
    c0 += load<f32>(a) * w;
    c1 += load<f32>(a + a1) * w;
    c2 += load<f32>(a + a2) * w;
    c3 += load<f32>(a + a3) * w;
    a += sak;
    b += ldb;
  }
  acc1(o, c0, accumulate); o += ldo;
  acc1(o, c1, accumulate); o += ldo;
  acc1(o, c2, accumulate); o += ldo;
  acc1(o, c3, accumulate);
}

/** One row x 8 columns. */
@inline function tile1x8(o: usize, a: usize, sak: usize, b: usize, ldb: usize, n: i32, accumulate: i32): void {
  let c0 = f32x4.splat(0), c1 = f32x4.splat(0);
  for (let k = 0; k < n; k++) {
    const x = v128.load32_splat(a);
    c0 = f32x4.add(c0, f32x4.mul(x, v128.load(b)));
    c1 = f32x4.add(c1, f32x4.mul(x, v128.load(b, 16)));
    a += sak;
    b += ldb;
  }
  acc4(o, c0, accumulate);
  acc4(o + 16, c1, accumulate);
}

/** One row x 4 columns. */
@inline function tile1x4(o: usize, a: usize, sak: usize, b: usize, ldb: usize, n: i32, accumulate: i32): void {
  let c0 = f32x4.splat(0);
  for (let k = 0; k < n; k++) {
    c0 = f32x4.add(c0, f32x4.mul(v128.load32_splat(a), v128.load(b)));
    a += sak;
    b += ldb;
  }
  acc4(o, c0, accumulate);
}

/** One row x 1 column. */
@inline function tile1x1(o: usize, a: usize, sak: usize, b: usize, ldb: usize, n: i32, accumulate: i32): void {
  let c: f32 = 0;
  for (let k = 0; k < n; k++) {
    c += load<f32>(a) * load<f32>(b);
    a += sak;
    b += ldb;
  }
  acc1(o, c, accumulate);
}

/**
 * out (M,P) (= or +=) A (M,K) @ Bm (K,P). Pointers are byte offsets, strides are in elements:
 * A[m,k] at a + 4*(m*sam + k*sak), Bm[k,p] at b + 4*(k*ldb + p), out[m,p] at out + 4*(m*ldo + p).
 * accumulate: 0 store, 1 add. tri: 0 full product, else the causal shortcut described above.
 */
export function gemm_f32(
  out: usize, ldo: i32, a: usize, sam: i32, sak: i32, b: usize, ldb: i32,
  M: i32, K: i32, P: i32, accumulate: i32, tri: i32,
): void {
  const ldoB = <usize>ldo << 2, samB = <usize>sam << 2, sakB = <usize>sak << 2, ldbB = <usize>ldb << 2;
  let m = 0;
  for (; m + 4 <= M; m += 4) {
    const pEnd = tri == TRI_P_LE_M ? min(P, m + 4) : P;
    const k0 = tri == TRI_K_GE_M ? m : 0;
    const k1 = tri == TRI_K_LE_M ? min(K, m + 4) : K;
    const n = max(k1 - k0, 0);
    const o = out + <usize>m * ldoB;
    const ar = a + <usize>m * samB + <usize>k0 * sakB;
    const br = b + <usize>k0 * ldbB;
    let p = 0;
    for (; p + 8 <= pEnd; p += 8) tile4x8(o + (<usize>p << 2), ldoB, ar, samB, sakB, br + (<usize>p << 2), ldbB, n, accumulate);
    for (; p + 4 <= pEnd; p += 4) tile4x4(o + (<usize>p << 2), ldoB, ar, samB, sakB, br + (<usize>p << 2), ldbB, n, accumulate);
    for (; p < pEnd; p++) tile4x1(o + (<usize>p << 2), ldoB, ar, samB, sakB, br + (<usize>p << 2), ldbB, n, accumulate);
  }
  for (; m < M; m++) {
    const pEnd = tri == TRI_P_LE_M ? min(P, m + 1) : P;
    const k0 = tri == TRI_K_GE_M ? m : 0;
    const k1 = tri == TRI_K_LE_M ? min(K, m + 1) : K;
    const n = max(k1 - k0, 0);
    const o = out + <usize>m * ldoB;
    const ar = a + <usize>m * samB + <usize>k0 * sakB;
    const br = b + <usize>k0 * ldbB;
    let p = 0;
    for (; p + 8 <= pEnd; p += 8) tile1x8(o + (<usize>p << 2), ar, sakB, br + (<usize>p << 2), ldbB, n, accumulate);
    for (; p + 4 <= pEnd; p += 4) tile1x4(o + (<usize>p << 2), ar, sakB, br + (<usize>p << 2), ldbB, n, accumulate);
    for (; p < pEnd; p++) tile1x1(o + (<usize>p << 2), ar, sakB, br + (<usize>p << 2), ldbB, n, accumulate);
  }
}

/** dst (C,R) = transpose of src (R,C), both row-major contiguous (byte offsets). */
export function transpose_f32(dst: usize, src: usize, R: i32, C: i32): void {
  for (let r = 0; r < R; r++) {
    const s = src + (<usize>r * <usize>C << 2);
    const d = dst + (<usize>r << 2);
    const ldd = <usize>R << 2;
    for (let c = 0; c < C; c++) store<f32>(d + <usize>c * ldd, load<f32>(s + (<usize>c << 2)));
  }
}

// ---- Softmax kernels (attention and cross-entropy), fp32 --------------------------------------
// exp is evaluated as e^x = 2^n e^r with n = round(x log2 e), r = x - n ln2 (ln2 split in a short
// high part, exact times n, and a low correction; Cephes expf), e^r ~ 1 + r + r^2 P(r) with a
// degree-5 polynomial on |r| <= ln2/2, and 2^n built from exponent bits. Relative error ~1-2 ulp for
// x in [ln 2^-126, 88]; x < ln 2^-126 (~ -87.34, results < 2^-126) gives 0 (also -Infinity), x > 88
// is clamped to 88 (the softmaxes only evaluate x - max <= 0), NaN stays NaN. Scalar tails run the
// same f32 operations as one SIMD lane, and only plain mul / add are used, so the results do not
// depend on the build (simd / relaxed) or on where a row starts.

const LOG2E: f32 = 1.44269504088896341;
const LN2_HI: f32 = 0.693359375;
const LN2_LO: f32 = -2.12194440e-4;
const EXP_LO: f32 = -87.33654475; // ln 2^-126
const EXP_HI: f32 = 88.0;
const EP0: f32 = 1.9875691500e-4;
const EP1: f32 = 1.3981999507e-3;
const EP2: f32 = 8.3334519073e-3;
const EP3: f32 = 4.1665795894e-2;
const EP4: f32 = 1.6666665459e-1;
const EP5: f32 = 5.0000001201e-1;

/** e^x per lane (see above). */
@inline function exp4(x: v128): v128 {
  const tiny = f32x4.lt(x, f32x4.splat(EXP_LO));
  x = f32x4.min(f32x4.max(x, f32x4.splat(EXP_LO)), f32x4.splat(EXP_HI));
  const n = f32x4.nearest(f32x4.mul(x, f32x4.splat(LOG2E)));
  let r = f32x4.sub(x, f32x4.mul(n, f32x4.splat(LN2_HI)));
  r = f32x4.sub(r, f32x4.mul(n, f32x4.splat(LN2_LO)));
  let p = f32x4.add(f32x4.mul(f32x4.splat(EP0), r), f32x4.splat(EP1));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(EP2));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(EP3));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(EP4));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(EP5));
  const er = f32x4.add(f32x4.add(f32x4.mul(p, f32x4.mul(r, r)), r), f32x4.splat(1));
  const pow2 = i32x4.shl(i32x4.add(i32x4.trunc_sat_f32x4_s(n), i32x4.splat(127)), 23);
  return v128.andnot(f32x4.mul(er, pow2), tiny);
}

/** e^x, the same f32 operations as one lane of `exp4`. */
@inline function exp1(x: f32): f32 {
  if (x != x) return x;
  const tiny = x < EXP_LO;
  x = min(max(x, EXP_LO), EXP_HI);
  const n = nearest<f32>(x * LOG2E);
  let r = x - n * LN2_HI;
  r = r - n * LN2_LO;
  let p = EP0 * r + EP1;
  p = p * r + EP2;
  p = p * r + EP3;
  p = p * r + EP4;
  p = p * r + EP5;
  const er = p * (r * r) + r + <f32>1;
  const e = er * reinterpret<f32>((<i32>n + 127) << 23);
  return tiny ? <f32>0 : e;
}

/** Horizontal max / sum of 4 lanes (fixed order). */
@inline function hmax(v: v128): f32 {
  return max(max(f32x4.extract_lane(v, 0), f32x4.extract_lane(v, 1)), max(f32x4.extract_lane(v, 2), f32x4.extract_lane(v, 3)));
}
@inline function hsum(v: v128): f32 {
  return (f32x4.extract_lane(v, 0) + f32x4.extract_lane(v, 1)) + (f32x4.extract_lane(v, 2) + f32x4.extract_lane(v, 3));
}

/** dst[i] = e^src[i], i < n (byte pointers; dst may equal src). */
export function exp_f32(dst: usize, src: usize, n: i32): void {
  let i = 0;
  for (; i + 4 <= n; i += 4) v128.store(dst + (<usize>i << 2), exp4(v128.load(src + (<usize>i << 2))));
  for (; i < n; i++) store<f32>(dst + (<usize>i << 2), exp1(load<f32>(src + (<usize>i << 2))));
}

/**
 * Softmax of the n values x[i] * scale at src into dst (dst = 0: nothing written; dst may equal
 * src). Returns the sum of e^(x*scale - max) and leaves the max in `rowMax`.
 */
let rowMax: f32 = 0;
@inline function softmaxRange(dst: usize, src: usize, n: i32, scale: f32): f32 {
  const vs = f32x4.splat(scale);
  let vm = f32x4.splat(-Infinity);
  let i = 0;
  for (; i + 4 <= n; i += 4) vm = f32x4.max(vm, f32x4.mul(v128.load(src + (<usize>i << 2)), vs));
  let m = hmax(vm);
  for (; i < n; i++) m = max(m, load<f32>(src + (<usize>i << 2)) * scale);
  const vmax = f32x4.splat(m);
  let vsum = f32x4.splat(0);
  let sum: f32 = 0;
  i = 0;
  if (dst) {
    for (; i + 4 <= n; i += 4) {
      const e = exp4(f32x4.sub(f32x4.mul(v128.load(src + (<usize>i << 2)), vs), vmax));
      v128.store(dst + (<usize>i << 2), e);
      vsum = f32x4.add(vsum, e);
    }
    sum = hsum(vsum);
    for (; i < n; i++) {
      const e = exp1(load<f32>(src + (<usize>i << 2)) * scale - m);
      store<f32>(dst + (<usize>i << 2), e);
      sum += e;
    }
    const inv: f32 = <f32>1 / sum;
    const vinv = f32x4.splat(inv);
    i = 0;
    for (; i + 4 <= n; i += 4) v128.store(dst + (<usize>i << 2), f32x4.mul(v128.load(dst + (<usize>i << 2)), vinv));
    for (; i < n; i++) store<f32>(dst + (<usize>i << 2), load<f32>(dst + (<usize>i << 2)) * inv);
  } else {
    for (; i + 4 <= n; i += 4) vsum = f32x4.add(vsum, exp4(f32x4.sub(f32x4.mul(v128.load(src + (<usize>i << 2)), vs), vmax)));
    sum = hsum(vsum);
    for (; i < n; i++) sum += exp1(load<f32>(src + (<usize>i << 2)) * scale - m);
  }
  rowMax = m;
  return sum;
}

/**
 * Causal attention softmax, in place on one head's scores S (T,T) (byte pointer s, row-major):
 * row t becomes softmax over s in [lo, t] of S[t,s] * scale, lo = max(0, t - window + 1) with a
 * sliding window (window > 0) else 0; entries s < lo and s > t become 0.
 */
export function causal_softmax_f32(s: usize, T: i32, scale: f32, window: i32): void {
  const ld = <usize>T << 2;
  for (let t = 0; t < T; t++) {
    const lo = window > 0 ? max(0, t - window + 1) : 0;
    const row = s + <usize>t * ld;
    const p = row + (<usize>lo << 2);
    softmaxRange(p, p, t + 1 - lo, scale);
    if (lo > 0) memory.fill(row, 0, <usize>lo << 2);
    if (t + 1 < T) memory.fill(row + (<usize>(t + 1) << 2), 0, <usize>(T - t - 1) << 2);
  }
}

/**
 * Backward of `causal_softmax_f32`, in place: dP (T,T) <- dS with, within the window [lo, t] of row
 * t, dS[t,s] = P[t,s] (dP[t,s] - sum_s' P[t,s'] dP[t,s']) * scale, and 0 outside. P (T,T) the
 * saved probabilities (byte pointers dp, p).
 */
export function causal_softmax_bwd_f32(dp: usize, p: usize, T: i32, scale: f32, window: i32): void {
  const ld = <usize>T << 2;
  const vs = f32x4.splat(scale);
  for (let t = 0; t < T; t++) {
    const lo = window > 0 ? max(0, t - window + 1) : 0;
    const n = t + 1 - lo;
    const drow = dp + <usize>t * ld, d = drow + (<usize>lo << 2), pr = p + <usize>t * ld + (<usize>lo << 2);
    let vdot = f32x4.splat(0);
    let i = 0;
    for (; i + 4 <= n; i += 4) vdot = f32x4.add(vdot, f32x4.mul(v128.load(pr + (<usize>i << 2)), v128.load(d + (<usize>i << 2))));
    let dot = hsum(vdot);
    for (; i < n; i++) dot += load<f32>(pr + (<usize>i << 2)) * load<f32>(d + (<usize>i << 2));
    const vdt = f32x4.splat(dot);
    i = 0;
    for (; i + 4 <= n; i += 4) {
      const o = <usize>i << 2;
      v128.store(d + o, f32x4.mul(f32x4.mul(v128.load(pr + o), f32x4.sub(v128.load(d + o), vdt)), vs));
    }
    for (; i < n; i++) {
      const o = <usize>i << 2;
      store<f32>(d + o, load<f32>(pr + o) * (load<f32>(d + o) - dot) * scale);
    }
    if (lo > 0) memory.fill(drow, 0, <usize>lo << 2);
    if (t + 1 < T) memory.fill(drow + (<usize>(t + 1) << 2), 0, <usize>(T - t - 1) << 2);
  }
}

/**
 * Row softmax: out (N,V) = softmax(inp (N,V)) per row (out may equal inp; out = 0: not written).
 * stats (N,2), unless 0, receives per row [max, sum of e^(x - max)], so log-sum-exp = max + log sum.
 */
export function softmax_rows_f32(out: usize, inp: usize, N: i32, V: i32, stats: usize): void {
  const ld = <usize>V << 2;
  for (let n = 0; n < N; n++) {
    const sum = softmaxRange(out ? out + <usize>n * ld : 0, inp + <usize>n * ld, V, 1);
    if (stats) {
      store<f32>(stats + (<usize>n << 3), rowMax);
      store<f32>(stats + (<usize>n << 3), sum, 4);
    }
  }
}
