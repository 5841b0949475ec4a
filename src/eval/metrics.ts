/**
 * Per-sample metrics and their aggregations, as lm-evaluation-harness computes them
 * (eval-spec §2.8, §3.4, §3.6, §3.11; harness `lm_eval/api/metrics.py`, `api/task.py`
 * `process_results`, `filters/extraction.py`). Pure functions over log-likelihoods and strings.
 */
import { pyLen, pyStrip, utf8Length } from './pytext.js';

/** numpy `argmax`: index of the first maximum (a NaN counts as the maximum, first one wins). */
export function argmax(values: readonly number[]): number {
  let best = 0;
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    if (Number.isNaN(v)) return i;
    if (v > values[best]!) best = i;
  }
  return best;
}

/** `acc`: 1 when the highest log-likelihood (ties → lowest index) is the gold choice, else 0. */
export function accuracy(lls: readonly number[], gold: number): number {
  return argmax(lls) === gold ? 1 : 0;
}

/**
 * `acc_norm`: argmax of `ll_i / len(choice_i)` with `len` the **code-point count** of the choice
 * text without the leading target delimiter (harness `completion_len`, issue #3278).
 */
export function accuracyNorm(lls: readonly number[], choices: readonly string[], gold: number): number {
  return argmax(lls.map((ll, i) => ll / pyLen(choices[i]!))) === gold ? 1 : 0;
}

/** `acc_bytes` (harness ≥ 0.4.9.2): like `acc_norm` with UTF-8 byte lengths. */
export function accuracyBytes(lls: readonly number[], choices: readonly string[], gold: number): number {
  return argmax(lls.map((ll, i) => ll / utf8Length(choices[i]!))) === gold ? 1 : 0;
}

/**
 * TruthfulQA MC2: the normalized probability mass of the true answers, computed in float64 as
 * `exp(ll) / Σ exp(ll)` without log-sum-exp (§2.9, so underflow gives NaN as in Python).
 * `mode 'mask'` (mc2 v3.0, harness ≥ 0.4.9) sums over labels equal to 1; `'split'` (v2.0 and the
 * old harness) treats every choice before the first 0 label as true.
 * @throws RangeError when lls and labels differ in length.
 */
export function mc2Score(lls: readonly number[], labels: readonly number[], mode: 'mask' | 'split'): number {
  if (lls.length !== labels.length) throw new RangeError(`mc2Score: ${lls.length} log-likelihoods for ${labels.length} labels`);
  const p = lls.map((ll) => Math.exp(ll));
  const total = p.reduce((a, b) => a + b, 0);
  if (mode === 'mask') {
    let s = 0;
    for (let i = 0; i < p.length; i++) if (labels[i] === 1) s += p[i]! / total;
    return s;
  }
  let split = labels.indexOf(0);
  if (split < 0) split = labels.length; // Python would raise ValueError; all-true is the only sane reading
  let s = 0;
  for (let i = 0; i < split; i++) s += p[i]! / total;
  return s;
}

/**
 * The harness `regex` filter: `re.findall(pattern, resp)`, take match `groupSelect` (−1 = last);
 * a tuple of groups gives its first non-empty group; the result is `.strip()`ped. No match (or an
 * all-empty tuple) gives `fallback`. `pattern` must be a JS port of the Python regex (no `g` flag needed).
 */
export function regexFilter(resp: string, pattern: RegExp, groupSelect: number, fallback = '[invalid]'): string {
  const re = new RegExp(pattern.source, pattern.flags.includes('g') ? pattern.flags : pattern.flags + 'g');
  const matches: string[][] = [];
  // Python findall: the whole match without groups, the group's text with one, a tuple with several.
  for (const m of resp.matchAll(re)) matches.push(m.length === 1 ? [m[0]] : m.slice(1).map((g) => g ?? ''));
  if (matches.length === 0) return fallback;
  const idx = groupSelect < 0 ? matches.length + groupSelect : groupSelect;
  const m = matches[idx];
  if (m === undefined) return fallback; // Python IndexError; never reached with 0 / -1
  let chosen: string;
  if (m.length === 1) chosen = m[0]!;
  else {
    const nonEmpty = m.filter((g) => g !== '');
    if (nonEmpty.length === 0) return fallback;
    chosen = nonEmpty[0]!;
  }
  return pyStrip(chosen);
}

/**
 * `exact_match` (harness `exact_match_hf_evaluate`): remove each `regexesToIgnore` pattern (as
 * Python `re.sub(p, "", s)`, all occurrences) from both strings in order, then lowercase when
 * `ignoreCase`, then compare. Returns 1 or 0.
 */
export function exactMatch(prediction: string, reference: string, regexesToIgnore: readonly RegExp[], ignoreCase: boolean): number {
  let p = prediction;
  let r = reference;
  for (const re of regexesToIgnore) {
    const g = new RegExp(re.source, re.flags.includes('g') ? re.flags : re.flags + 'g');
    p = p.replace(g, '');
    r = r.replace(g, '');
  }
  if (ignoreCase) {
    p = p.toLowerCase();
    r = r.toLowerCase();
  }
  return p === r ? 1 : 0;
}

/** Arithmetic mean (`mean` aggregation). NaN for an empty list. */
export function mean(xs: readonly number[]): number {
  if (xs.length === 0) return Number.NaN;
  let s = 0;
  for (const x of xs) s += x;
  return s / xs.length;
}

/**
 * Standard error of the mean as the harness reports it (`mean_stderr`):
 * `sqrt(Σ(x−μ)²/(n−1)) / sqrt(n)`, or `"N/A"` when n ≤ 1.
 */
export function meanStderr(xs: readonly number[]): number | 'N/A' {
  const n = xs.length;
  if (n <= 1) return 'N/A';
  const mu = mean(xs);
  let ss = 0;
  for (const x of xs) ss += (x - mu) * (x - mu);
  return Math.sqrt(ss / (n - 1)) / Math.sqrt(n);
}

/**
 * `weighted_perplexity`: `exp(−Σ ll / Σ count)` over (log-likelihood in nats, count) pairs
 * (word_perplexity with word counts, byte_perplexity with byte counts; §3.11).
 */
export function weightedPerplexity(items: readonly (readonly [number, number])[]): number {
  return Math.exp(weightedMeanNll(items));
}

/** `bits_per_byte`: `(−Σ ll / Σ bytes) / ln 2` over (log-likelihood in nats, bytes) pairs. */
export function bitsPerByte(items: readonly (readonly [number, number])[]): number {
  return weightedMeanNll(items) / Math.LN2;
}

function weightedMeanNll(items: readonly (readonly [number, number])[]): number {
  let ll = 0;
  let count = 0;
  for (const [a, b] of items) {
    ll += a;
    count += b;
  }
  return -ll / count;
}

/** One leaf subtask's score for group aggregation. */
export interface SubtaskScore {
  score: number;
  stderr: number | 'N/A';
  /** Number of evaluated documents. */
  size: number;
}

/**
 * Group aggregate over leaf subtasks (harness `aggregate_subtask_metrics` +
 * `pooled_sample_stderr`): item-weighted mean `Σ s·n / Σ n` when `weightBySize` (MMLU in every
 * v0.4.x), else the plain mean of the subtask scores (the leaderboard-v1 MMLU "macro" average).
 * Stderr is the pooled `sqrt(Σ (n−1)·se²·n / (Σn − T) / Σn)`; `"N/A"` when any subtask's is.
 */
export function aggregateGroup(subtasks: readonly SubtaskScore[], weightBySize: boolean): { score: number; stderr: number | 'N/A'; size: number } {
  const size = subtasks.reduce((a, t) => a + t.size, 0);
  const score = weightBySize
    ? subtasks.reduce((a, t) => a + t.score * t.size, 0) / size
    : mean(subtasks.map((t) => t.score));
  let stderr: number | 'N/A' = 'N/A';
  if (subtasks.length > 0 && subtasks.every((t) => typeof t.stderr === 'number') && size - subtasks.length > 0) {
    let v = 0;
    for (const t of subtasks) v += (t.size - 1) * (t.stderr as number) ** 2 * t.size;
    stderr = Math.sqrt(v / (size - subtasks.length) / size);
  }
  return { score, stderr, size };
}
