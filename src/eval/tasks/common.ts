/**
 * Helpers shared by the task files: field validation with errors that name the file and the
 * expected columns, split loading with the ../shared/data forms as a fallback, and the
 * multiple-choice request/metric pattern (eval-spec §2.2, §2.8).
 */
import { FormatError } from '../../errors.js';
import { expectedLayout, findFile, findSplitFiles, readAllRows, type Row, type SplitRef } from '../data/files.js';
import { accuracy, accuracyNorm } from '../metrics.js';
import type { LoglikelihoodResult, Request, Response } from '../requests.js';
import type { DataSource, FilteredResult, LoadedDocs, MetricSpec } from './types.js';

/** A non-HF file form (../shared/data/eval) that holds the same items as one split. */
export interface AltForm<D> {
  /** Paths relative to a data dir, tried in order. */
  rels: string[];
  load(file: string): Promise<LoadedDocs<D>> | LoadedDocs<D>;
}

/** Reads a string field. @throws FormatError naming the file, row and the expected columns. */
export function str(row: Row, key: string, file: string, i: number, expected: string): string {
  const v = row[key];
  if (typeof v !== 'string') throw new FormatError(file, `row ${i}: field "${key}" is ${v === undefined ? 'missing' : `a ${typeof v}, not a string`} (expected columns: ${expected})`);
  return v;
}

/** Reads an integer field (numbers, or strings of digits as HF ClassLabel/strings give). */
export function int(row: Row, key: string, file: string, i: number, expected: string): number {
  const v = row[key];
  const n = typeof v === 'number' ? v : typeof v === 'string' && /^-?\d+$/.test(v.trim()) ? Number(v.trim()) : Number.NaN;
  if (!Number.isInteger(n)) throw new FormatError(file, `row ${i}: field "${key}" must be an integer (got ${JSON.stringify(v)}; expected columns: ${expected})`);
  return n;
}

/** Reads an array of strings. */
export function strArray(v: unknown, what: string, file: string, i: number, expected: string): string[] {
  if (!Array.isArray(v) || !v.every((x) => typeof x === 'string')) throw new FormatError(file, `row ${i}: ${what} must be a list of strings (expected columns: ${expected})`);
  return v as string[];
}

/** Reads a `{text: [...], label: [...]}` struct (ARC / CSQA `choices`). */
export function choicesStruct(row: Row, file: string, i: number, expected: string): { text: string[]; label: string[] } {
  const c = row['choices'];
  if (c === null || typeof c !== 'object' || Array.isArray(c)) throw new FormatError(file, `row ${i}: field "choices" must be a struct {text, label} (expected columns: ${expected})`);
  const o = c as Row;
  const text = strArray(o['text'], 'choices.text', file, i, expected);
  const label = strArray(o['label'], 'choices.label', file, i, expected);
  if (text.length !== label.length) throw new FormatError(file, `row ${i}: choices.text and choices.label differ in length`);
  return { text, label };
}

/**
 * Loads one split: HF files under the data dirs first, then the alternative forms.
 * @throws FormatError listing the data dirs and the expected layouts when nothing is found.
 */
export async function loadSplit<D>(
  src: DataSource,
  ref: SplitRef,
  task: string,
  convert: (rows: Row[], file: string) => D[],
  alts: readonly AltForm<D>[] = [],
): Promise<LoadedDocs<D>> {
  const files = findSplitFiles(src.dataDirs, ref);
  if (files !== null) {
    const rows = await readAllRows(files);
    return { docs: convert(rows, files.length === 1 ? files[0]! : `${files[0]} (+${files.length - 1} shards)`), files, caveats: [] };
  }
  for (const alt of alts) {
    const f = findFile(src.dataDirs, alt.rels);
    if (f !== null) return alt.load(f);
  }
  const also = alts.flatMap((a) => a.rels.map((r) => `<data-dir>/${r}`));
  throw new FormatError(
    src.dataDirs.length > 0 ? src.dataDirs.join(', ') : '(no --data-dir)',
    `no ${ref.split} split for task ${task}; expected ${expectedLayout(ref)}${also.length > 0 ? `, or ${also.join(' or ')}` : ''}`,
  );
}

/** A few-shot split that cannot come from the alternative forms (they hold eval splits only). */
export function fewshotHint(task: string): string {
  return `the few-shot examples of ${task} come from its training split; supply it or run with --num-fewshot 0`;
}

/** One loglikelihood request per choice: `(ctx, " " + choice)` (§2.2). */
export function choiceRequests(ctx: string, choices: readonly string[], delimiter = ' '): Request[] {
  return choices.map((c) => ({ type: 'loglikelihood', context: ctx, continuation: delimiter + c }));
}

/** Log-likelihoods out of loglikelihood responses. */
export function lls(responses: readonly Response[]): number[] {
  return responses.map((r) => (r as LoglikelihoodResult).logprob);
}

/**
 * The multiple-choice result: `acc` and optionally `acc_norm` (character-normalized), filter `none`;
 * `filtered_resps` = `[logprob, is_greedy]` per choice, as the harness logs them.
 */
export function mcResult(responses: readonly Response[], choices: readonly string[], gold: number, withNorm: boolean): FilteredResult[] {
  const l = lls(responses);
  const metrics: Record<string, number> = { acc: gold < 0 ? 0 : accuracy(l, gold) };
  if (withNorm) metrics['acc_norm'] = gold < 0 ? 0 : accuracyNorm(l, choices, gold);
  return [{ filter: 'none', filtered: (responses as LoglikelihoodResult[]).map((r) => [r.logprob, r.is_greedy]), metrics }];
}

/** `metric_list` entries for acc (and acc_norm). */
export function accMetrics(withNorm: boolean): MetricSpec[] {
  const m: MetricSpec[] = [{ name: 'acc', aggregation: 'mean', higher_is_better: true }];
  if (withNorm) m.push({ name: 'acc_norm', aggregation: 'mean', higher_is_better: true });
  return m;
}

/** Drops undefined/null fields (the harness writes configs without None values). */
export function compact(o: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(o)) if (v !== undefined && v !== null) out[k] = v;
  return out;
}

/** Standard config fields of a multiple-choice task. */
export function mcConfig(fields: {
  task: string;
  dataset_path: string;
  dataset_name?: string | null;
  training_split?: string | null;
  validation_split?: string | null;
  test_split?: string | null;
  fewshot_split?: string | null;
  doc_to_text: string;
  doc_to_target: string;
  doc_to_choice: string | string[];
  description?: string;
  metrics: MetricSpec[];
  num_fewshot?: number;
  version: number | string;
  output_type?: string;
  extra?: Record<string, unknown>;
}): Record<string, unknown> {
  return compact({
    task: fields.task,
    dataset_path: fields.dataset_path,
    dataset_name: fields.dataset_name,
    training_split: fields.training_split,
    validation_split: fields.validation_split,
    test_split: fields.test_split,
    fewshot_split: fields.fewshot_split,
    doc_to_text: fields.doc_to_text,
    doc_to_target: fields.doc_to_target,
    doc_to_choice: fields.doc_to_choice,
    description: fields.description ?? '',
    target_delimiter: ' ',
    fewshot_delimiter: '\n\n',
    num_fewshot: fields.num_fewshot,
    metric_list: fields.metrics.map((m) => ({ metric: m.name, aggregation: m.aggregation, higher_is_better: m.higher_is_better })),
    output_type: fields.output_type ?? 'multiple_choice',
    repeats: 1,
    should_decontaminate: false,
    ...fields.extra,
    metadata: { version: fields.version },
  });
}

/** Loads a few-shot split (HF files only); the error adds how to run without one. */
export async function loadFewshotSplit<D>(src: DataSource, ref: SplitRef, task: string, convert: (rows: Row[], file: string) => D[], alts: readonly AltForm<D>[] = []): Promise<LoadedDocs<D>> {
  try {
    return await loadSplit(src, ref, task, convert, alts);
  } catch (e) {
    if (e instanceof FormatError) throw new FormatError(e.file, `${e.problem}; ${fewshotHint(task)}`);
    throw e;
  }
}
