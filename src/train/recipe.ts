import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { FormatError } from '../errors.js';
import type { FfnActivation } from '../model/config.js';

/** One entry of a phase's data mix: a text file and its sampling weight. */
export interface DataSource {
  file: string;
  weight: number;
}

/** A training phase (recipe JSON `phases[i]`; snake_case like the file). */
export interface Phase {
  name: string;
  data: DataSource[];
  /** Training tokens of the phase; steps = ceil(tokens / batch_tokens). */
  tokens: number;
  /** Tokens per optimizer step (gradient accumulation over micro-batches of micro_batch * seq_len). */
  batch_tokens: number;
  peak_lr: number;
  min_lr: number;
  warmup_steps: number;
  weight_decay: number;
  /** ProSparse L1 strength on FFN activations (0 = off). */
  l1: number;
  /**
   * Weight a in [0, 1] of distillation from the initial (unconverted) model: the loss is
   * (1 - a) CE + a KL(teacher || model) per position (0 = off).
   */
  distill: number;
}

export interface Recipe {
  name: string;
  /** Convert the initial model's FFN to this activation first (dense -> dReLU / ReGLU). */
  activation?: FfnActivation;
  seq_len: number;
  micro_batch: number;
  seed: number;
  grad_clip: number;
  checkpoint_every: number;
  /** Keep this many most recent checkpoints (>= 2, so a damaged newest one leaves one to resume from). */
  keep_checkpoints: number;
  eval_every: number;
  /** Held-out text: separate files, or a fraction cut from the end of each training file. */
  validation: { files: string[]; tokens: number } | { holdout: number; tokens: number };
  phases: Phase[];
}

/**
 * Reads a JSON recipe. Relative file paths are resolved against the recipe's folder.
 * @throws FormatError(file, problem) naming the bad field.
 */
export function readRecipe(path: string): Recipe {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new FormatError(path, `not a readable JSON recipe (${(e as Error).message})`);
  }
  return parseRecipe(raw, path, dirname(resolve(path)));
}

export function parseRecipe(raw: unknown, file: string, baseDir: string): Recipe {
  const bad = (field: string, want: string): never => {
    throw new FormatError(file, `${field}: expected ${want}`);
  };
  const obj = (v: unknown, field: string): Record<string, unknown> =>
    typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : bad(field, 'an object');
  const num = (o: Record<string, unknown>, k: string, field: string, def?: number, min = 0): number => {
    const v = o[k] ?? def;
    if (typeof v !== 'number' || !Number.isFinite(v) || v < min) return bad(`${field}.${k}`, `a number >= ${min}`);
    return v;
  };
  const int = (o: Record<string, unknown>, k: string, field: string, def?: number, min = 1): number => {
    const v = num(o, k, field, def, min);
    return Number.isInteger(v) ? v : bad(`${field}.${k}`, `an integer >= ${min}`);
  };
  const r = obj(raw, 'recipe');
  const files = (v: unknown, field: string): string[] =>
    Array.isArray(v) && v.length > 0 && v.every((f) => typeof f === 'string') ? v.map((f) => resolve(baseDir, f as string)) : bad(field, 'a non-empty list of file paths');
  const act = r.activation;
  if (act !== undefined && act !== 'drelu' && act !== 'reglu' && act !== 'swiglu') bad('activation', '"drelu", "reglu" or "swiglu"');
  const v = obj(r.validation, 'validation');
  const validation = v.files !== undefined
    ? { files: files(v.files, 'validation.files'), tokens: int(v, 'tokens', 'validation', 32768) }
    : { holdout: num(v, 'holdout', 'validation'), tokens: int(v, 'tokens', 'validation', 32768) };
  if ('holdout' in validation && !((validation.holdout ?? 0) > 0 && (validation.holdout ?? 1) < 1)) bad('validation.holdout', 'a fraction between 0 and 1');
  if (!Array.isArray(r.phases) || r.phases.length === 0) bad('phases', 'a non-empty list');
  const phases = (r.phases as unknown[]).map((pv, i): Phase => {
    const f = `phases[${i}]`;
    const p = obj(pv, f);
    if (!Array.isArray(p.data) || p.data.length === 0) bad(`${f}.data`, 'a non-empty list of {file, weight}');
    const data = (p.data as unknown[]).map((dv, j) => {
      const d = obj(dv, `${f}.data[${j}]`);
      if (typeof d.file !== 'string') bad(`${f}.data[${j}].file`, 'a file path');
      return { file: resolve(baseDir, d.file as string), weight: num(d, 'weight', `${f}.data[${j}]`, 1, Number.MIN_VALUE) };
    });
    const peak = num(p, 'peak_lr', f);
    return {
      name: typeof p.name === 'string' ? p.name : `phase${i + 1}`,
      data,
      tokens: int(p, 'tokens', f),
      batch_tokens: int(p, 'batch_tokens', f),
      peak_lr: peak,
      min_lr: num(p, 'min_lr', f, peak / 10),
      warmup_steps: int(p, 'warmup_steps', f, 0, 0),
      weight_decay: num(p, 'weight_decay', f, 0),
      l1: num(p, 'l1', f, 0),
      distill: num(p, 'distill', f, 0),
    };
  });
  const recipe: Recipe = {
    name: typeof r.name === 'string' ? r.name : 'recipe',
    seq_len: int(r, 'seq_len', 'recipe'),
    micro_batch: int(r, 'micro_batch', 'recipe', 1),
    seed: int(r, 'seed', 'recipe', 1, 0),
    grad_clip: num(r, 'grad_clip', 'recipe', 1),
    checkpoint_every: int(r, 'checkpoint_every', 'recipe', 50),
    keep_checkpoints: int(r, 'keep_checkpoints', 'recipe', 2, 2),
    eval_every: int(r, 'eval_every', 'recipe', 50),
    validation,
    phases,
  };
  if (act !== undefined) recipe.activation = act as FfnActivation;
  for (const [i, p] of phases.entries()) {
    if (p.distill > 1) bad(`phases[${i}].distill`, 'a weight between 0 and 1');
    if (p.batch_tokens % (recipe.seq_len * recipe.micro_batch) !== 0)
      bad(`phases[${i}].batch_tokens`, `a multiple of seq_len * micro_batch = ${recipe.seq_len * recipe.micro_batch}`);
  }
  return recipe;
}

/** Steps of each phase and the global step at which each starts. */
export function phaseSteps(recipe: Recipe): { steps: number[]; starts: number[]; total: number } {
  const steps = recipe.phases.map((p) => Math.ceil(p.tokens / p.batch_tokens));
  const starts: number[] = [];
  let s = 0;
  for (const n of steps) {
    starts.push(s);
    s += n;
  }
  return { steps, starts, total: s };
}
