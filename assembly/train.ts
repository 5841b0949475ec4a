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
