/**
 * The lm-evaluation-harness versions we reproduce and what changes between them
 * (eval-spec §0, §2.3–2.6, §4). Each entry is data; tasks read the flags instead of comparing
 * version strings.
 */
import { UsageError } from '../errors.js';

/** Releases in order. `b281b09` is the pre-refactor commit the Open LLM Leaderboard v1 used. */
export const HARNESS_VERSIONS = [
  'b281b09', '0.4.0', '0.4.1', '0.4.2', '0.4.3', '0.4.4', '0.4.5', '0.4.6', '0.4.7', '0.4.8',
  '0.4.9', '0.4.9.1', '0.4.9.2', '0.4.10', '0.4.11', '0.4.12',
] as const;
export type HarnessVersion = (typeof HARNESS_VERSIONS)[number];

/** The latest v0.4.x release described by the spec: the default. */
export const DEFAULT_HARNESS_VERSION: HarnessVersion = '0.4.12';

export interface HarnessProfile {
  version: HarnessVersion;
  /** `old` = b281b09 (Python task classes); `v0.4` = the YAML harness. */
  era: 'old' | 'v0.4';
  /**
   * BOS default for causal models (§2.5.4): `false` through v0.4.9.1 (`add_special_tokens=False`),
   * `'tokenizer'` from v0.4.9.2 (the tokenizer's own `add_bos_token`).
   */
  bosDefault: false | 'tokenizer';
  /** Empty contexts and the rolling-window prefix: `eos` in the old harness, else BOS (EOS when none). */
  prefixToken: 'bos' | 'eos';
  /** Few-shot RNG seed: 42 (old, shared with a shuffle of the eval docs) or 1234 (v0.4 `fewshot_random_seed`). */
  fewshotSeed: number;
  /** Old harness: `rnd.shuffle(eval_docs)` before `--limit`, exactly k draws per doc. */
  shuffleEvalDocs: boolean;
  /** `random` sampler draws k+1 when `fewshot_split == test_split` (v0.4 quirk, §2.3). */
  extraDrawQuirk: boolean;
  /** TruthfulQA mc2 true-answer rule: `split` (v2.0 / old) or `mask` (v3.0, ≥ 0.4.9). */
  mc2Mode: 'split' | 'mask';
  /** GSM8K variant: `old` (b281b09), `v1` (0.4.0), `v2` (0.4.1), `v3` (≥ 0.4.2). */
  gsm8k: 'old' | 'v1' | 'v2' | 'v3';
  /** `versions` entry of an MMLU subject (0.0 before 0.4.4, 1.0 after; old task VERSION 1). */
  mmluSubtaskVersion: number;
  /** ≥ 0.4.9.2: if enc(continuation) of an empty context starts with the prefix token, that token is the context. */
  emptyContextReusesPrefix: boolean;
}

function index(v: HarnessVersion): number {
  return HARNESS_VERSIONS.indexOf(v);
}

/** True when `v` is `other` or later. */
export function atLeast(v: HarnessVersion, other: HarnessVersion): boolean {
  return index(v) >= index(other);
}

/**
 * Resolves a `--harness-version` value ("0.4.9.1", "v0.4.9.1", "b281b09", "leaderboard-v1",
 * "latest") to its profile.
 * @throws UsageError naming `--harness-version` and the accepted values.
 */
export function harnessProfile(spec: string = DEFAULT_HARNESS_VERSION): HarnessProfile {
  let s = spec.trim().toLowerCase().replace(/^v(?=\d)/, '');
  if (s === 'latest') s = DEFAULT_HARNESS_VERSION;
  if (s === 'leaderboard-v1' || s === 'old' || s === 'b281b0921b636bc36ad05c0b0b0763bd6dd43463') s = 'b281b09';
  if (!(HARNESS_VERSIONS as readonly string[]).includes(s)) {
    throw new UsageError('--harness-version', `unknown version "${spec}"; use one of ${HARNESS_VERSIONS.join(', ')}, leaderboard-v1 (= b281b09) or latest`);
  }
  const v = s as HarnessVersion;
  const old = v === 'b281b09';
  return {
    version: v,
    era: old ? 'old' : 'v0.4',
    bosDefault: atLeast(v, '0.4.9.2') ? 'tokenizer' : false,
    prefixToken: old ? 'eos' : 'bos',
    fewshotSeed: old ? 42 : 1234,
    shuffleEvalDocs: old,
    extraDrawQuirk: !old,
    mc2Mode: atLeast(v, '0.4.9') ? 'mask' : 'split',
    gsm8k: old ? 'old' : v === '0.4.0' ? 'v1' : v === '0.4.1' ? 'v2' : 'v3',
    mmluSubtaskVersion: old ? 1 : atLeast(v, '0.4.4') ? 1.0 : 0.0,
    emptyContextReusesPrefix: atLeast(v, '0.4.9.2'),
  };
}

/** The `lm_eval_version` string written to results JSON. */
export function lmEvalVersionString(p: HarnessProfile): string {
  return p.era === 'old' ? '0.3.0+b281b09' : p.version;
}
