/**
 * The task interface: what each lm-evaluation-harness task contributes (data, prompt, requests,
 * metrics), with the shared prompt assembly left to the harness (eval-spec §2.2).
 */
import type { Row } from '../data/files.js';
import type { Request, Response } from '../requests.js';
import type { HarnessProfile } from '../versions.js';

/** Where dataset files are searched (in order). */
export interface DataSource {
  dataDirs: string[];
}

export interface LoadedDocs<D> {
  docs: D[];
  /** Files the docs came from. */
  files: string[];
  /** How the data differs from the dataset the harness reads (set for the ../shared/data forms). */
  caveats: string[];
}

/** A per-sample metric value: a number, or a (log-likelihood, count) pair for perplexities. */
export type MetricValue = number | readonly [number, number];
export type Aggregation = 'mean' | 'weighted_perplexity' | 'bits_per_byte';

export interface MetricSpec {
  name: string;
  aggregation: Aggregation;
  higher_is_better: boolean;
}

/** One result stream of a doc (a task without `filter_list` has the single filter `none`). */
export interface FilteredResult {
  filter: string;
  /** `filtered_resps` as logged. */
  filtered: unknown;
  metrics: Record<string, MetricValue>;
}

export type OutputType = 'multiple_choice' | 'loglikelihood_rolling' | 'generate_until';

export interface Task<D = Row> {
  /** Harness task name (`arc_challenge`, `mmlu_anatomy`). */
  readonly name: string;
  readonly outputType: OutputType;
  /** YAML `num_fewshot` (0 when the YAML has none). */
  readonly defaultFewshot: number;
  /** `num_fewshot: 0` in the YAML: `--num-fewshot` does not override it (TruthfulQA). */
  readonly fixedFewshot: boolean;
  /** `random` (default sampler) or `first_n` (MMLU). */
  readonly sampler: 'random' | 'first_n';
  /** v0.4 quirk: `fewshot_split == test_split` holds (both None), so k+1 are drawn (§2.3). */
  readonly drawExtra: boolean;
  /** `versions` entry. */
  version(h: HarnessProfile): number | string;
  /** Eval split documents in dataset order. @throws FormatError naming the expected layout. */
  loadEval(src: DataSource, h: HarnessProfile): Promise<LoadedDocs<D>>;
  /** Few-shot pool in dataset order. @throws FormatError naming the expected layout. */
  loadFewshot(src: DataSource, h: HarnessProfile): Promise<LoadedDocs<D>>;
  /** Rendered `description` (MMLU only), prepended with no separator. */
  description(doc: D): string;
  /** `X(e) + target_delimiter + Y(e)` for a few-shot example (the harness appends `fewshot_delimiter`). */
  fewshotExample(doc: D): string;
  /** The doc's requests, given `prefix` = description + few-shot block. */
  requests(doc: D, prefix: string, h: HarnessProfile): Request[];
  /** `target` as logged (stringified). */
  target(doc: D): string;
  process(doc: D, responses: Response[], h: HarnessProfile): FilteredResult[];
  metrics(h: HarnessProfile): MetricSpec[];
  filters(h: HarnessProfile): string[];
  /** The task's config as the harness writes it under `configs` (None fields dropped). */
  config(h: HarnessProfile): Record<string, unknown>;
}

/** A group of tasks aggregated by `aggregate_metric_list` (MMLU and its four categories). */
export interface TaskGroup {
  name: string;
  /** Printed alias (`" - humanities"`). */
  alias: string;
  version(h: HarnessProfile): number | string;
  /** Direct children: group names or task names. */
  children: string[];
  /** Item-weighted (`weight_by_size: True`). */
  weightBySize: boolean;
  metric: string;
}
