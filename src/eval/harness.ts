/**
 * The evaluation loop (harness `lm_eval/evaluator.py` `simple_evaluate` / `evaluate`): load each
 * task's docs, build few-shot contexts and requests, answer them through the request cache and the
 * language model, then compute per-sample metrics, per-task aggregates and group aggregates.
 */
import { FormatError, RelufyError } from '../errors.js';
import { RequestCache, requestKey, sha256 } from './cache.js';
import { FewshotSampler, taskRng } from './fewshot.js';
import { aggregateGroup, bitsPerByte, mean, meanStderr, weightedPerplexity } from './metrics.js';
import { runRequest, type LanguageModel, type Request, type Response } from './requests.js';
import { GROUPS, leafTasks, selectTasks } from './tasks/registry.js';
import type { MetricSpec, MetricValue, Task, TaskGroup } from './tasks/types.js';
import { harnessProfile, type HarnessProfile } from './versions.js';

export interface EvalProgress {
  task: string;
  /** Requests answered so far over all tasks (cached ones included). */
  done: number;
  total: number;
  cached: number;
}

export interface EvalOptions {
  /** Task names as for `--tasks` (tasks, groups, aliases). */
  tasks: string[];
  lm: LanguageModel;
  dataDirs: string[];
  /** Overrides every task's default shot count (not a fixed `num_fewshot: 0`). */
  numFewshot?: number;
  /** Per-task shot counts (leaderboard preset); a group name applies to its leaves. Wins over `numFewshot`. */
  fewshotByTask?: Record<string, number>;
  /** First N docs per task, or a fraction < 1 (`ceil(len·limit)`; old harness: `int(len·limit)`). */
  limit?: number;
  harness?: HarnessProfile;
  cache?: RequestCache;
  logSamples?: boolean;
  onProgress?: (p: EvalProgress) => void;
  /** Notes such as an ignored `num_fewshot` (data caveats are returned in `TaskResult.caveats`). */
  warn?: (message: string) => void;
}

/** One logged sample (harness `--log_samples` line), per doc per filter. */
export interface SampleRecord {
  doc_id: number;
  doc: unknown;
  target: string;
  arguments: Record<string, { arg_0: string; arg_1: unknown }>;
  resps: unknown[];
  filtered_resps: unknown;
  filter: string;
  metrics: string[];
  doc_hash: string;
  prompt_hash: string;
  target_hash: string;
  [metric: string]: unknown;
}

export interface TaskResult {
  name: string;
  alias: string;
  version: number | string;
  nShot: number;
  /** `"<metric>,<filter>"` and `"<metric>_stderr,<filter>"` → value (`"N/A"` for no stderr). */
  values: Record<string, number | 'N/A'>;
  metrics: MetricSpec[];
  filters: string[];
  nOriginal: number;
  nEffective: number;
  config: Record<string, unknown>;
  files: string[];
  caveats: string[];
  samples: SampleRecord[];
  /** sha256 over logged samples (empty string when samples were not logged). */
  taskHash: string;
}

export interface GroupResult {
  name: string;
  alias: string;
  version: number | string;
  /** Item-weighted `acc,none` (+ stderr), plus `acc_macro,none`: the unweighted mean over leaf subtasks (leaderboard v1 MMLU). */
  values: Record<string, number | 'N/A'>;
  children: string[];
  leaves: string[];
  size: number;
}

export interface EvalOutput {
  harness: HarnessProfile;
  tasks: TaskResult[];
  groups: GroupResult[];
  /** Requests answered from the cache / by the model. */
  cacheHits: number;
  computed: number;
  /** Wall time in seconds. */
  seconds: number;
  limit: number | null;
}

interface Prepared {
  task: Task<unknown>;
  docs: unknown[];
  nOriginal: number;
  nShot: number;
  requests: Request[][];
  files: string[];
  caveats: string[];
}

/** Runs `f`, prefixing a RelufyError's message with the task and doc (`piqa doc 314: …`). */
function withDoc<T>(task: string, doc: number, f: () => T): T {
  try {
    return f();
  } catch (e) {
    if (e instanceof RelufyError && !(e instanceof FormatError)) throw new RelufyError(`eval: ${task} doc ${doc}: ${e.message.replace(/^eval: /, '')}`);
    throw e;
  }
}

/** Yields to the event loop (lets timers such as the progress bar and signals run). */
const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

function shotsFor(task: Task<unknown>, opts: EvalOptions, warn: (m: string) => void): number {
  let k: number | undefined;
  if (opts.fewshotByTask !== undefined) {
    for (const [name, n] of Object.entries(opts.fewshotByTask)) if (name === task.name || leafTasks(name).includes(task.name)) k = n;
  }
  k ??= opts.numFewshot;
  if (task.fixedFewshot) {
    if (k !== undefined && k !== task.defaultFewshot) warn(`${task.name}: num_fewshot is fixed at ${task.defaultFewshot} by the task; ignoring ${k}`);
    return task.defaultFewshot;
  }
  return k ?? task.defaultFewshot;
}

/** Builds docs, few-shot contexts and requests for one task (no model calls). */
async function prepare(task: Task<unknown>, opts: EvalOptions, h: HarnessProfile, warn: (m: string) => void): Promise<Prepared> {
  const src = { dataDirs: opts.dataDirs };
  const loaded = await task.loadEval(src, h);
  let docs = loaded.docs;
  const rng = taskRng(h);
  if (h.shuffleEvalDocs) {
    docs = docs.slice();
    rng.shuffle(docs);
  }
  const nOriginal = docs.length;
  if (opts.limit !== undefined) {
    const n = opts.limit < 1 ? (h.era === 'old' ? Math.floor(docs.length * opts.limit) : Math.ceil(docs.length * opts.limit)) : Math.floor(opts.limit);
    docs = docs.slice(0, n);
  }
  const nShot = shotsFor(task, opts, warn);
  const files = [...loaded.files];
  const caveats = [...loaded.caveats];
  let sampler: FewshotSampler<unknown> | null = null;
  if (nShot > 0) {
    const pool = await task.loadFewshot(src, h);
    files.push(...pool.files.filter((f) => !files.includes(f)));
    caveats.push(...pool.caveats);
    sampler = new FewshotSampler(h.era === 'old' ? rng : taskRng(h), pool.docs, task, h);
  }
  const requests = docs.map((doc) => {
    const shots = sampler === null ? [] : sampler.sample(doc, nShot);
    const prefix = task.description(doc) + shots.map((e) => `${task.fewshotExample(e)}\n\n`).join('');
    return task.requests(doc, prefix, h);
  });
  return { task, docs, nOriginal, nShot, requests, files, caveats };
}

function aggregateMetric(spec: MetricSpec, values: MetricValue[]): { value: number; stderr: number | 'N/A' } {
  if (spec.aggregation === 'mean') {
    const xs = values as number[];
    return { value: mean(xs), stderr: meanStderr(xs) };
  }
  const pairs = values as [number, number][];
  return { value: spec.aggregation === 'bits_per_byte' ? bitsPerByte(pairs) : weightedPerplexity(pairs), stderr: 'N/A' };
}

const pyBool = (b: boolean): string => (b ? 'True' : 'False');

/** Python `str(float)` for finite values is close to JS `String` except for integral floats ("1.0"). */
const pyFloat = (x: number): string => (Number.isInteger(x) && Math.abs(x) < 1e16 ? `${x}.0` : String(x));

function sampleRecords(p: Prepared, docIndex: number, reqs: Request[], resps: Response[], results: ReturnType<Task<unknown>['process']>): SampleRecord[] {
  const doc = p.docs[docIndex];
  const target = p.task.target(doc);
  const args: SampleRecord['arguments'] = {};
  reqs.forEach((r, i) => {
    args[`gen_args_${i}`] =
      r.type === 'loglikelihood' ? { arg_0: r.context, arg_1: r.continuation } : r.type === 'generate_until' ? { arg_0: r.context, arg_1: { until: r.until, do_sample: false, temperature: 0.0, max_gen_toks: r.max_gen_toks } } : { arg_0: r.text, arg_1: null };
  });
  const raw = resps.map((r) => (typeof r === 'object' ? [[pyFloat(r.logprob), pyBool(r.is_greedy)]] : [typeof r === 'number' ? pyFloat(r) : r]));
  const first = reqs[0];
  const prompt = first === undefined ? '' : first.type === 'loglikelihood_rolling' ? first.text : first.context;
  const docHash = sha256(JSON.stringify(doc, null, 2) ?? 'null');
  return results.map((fr) => {
    const rec: SampleRecord = {
      doc_id: docIndex,
      doc,
      target,
      arguments: args,
      resps: raw,
      filtered_resps: fr.filtered,
      filter: fr.filter,
      metrics: Object.keys(fr.metrics),
      doc_hash: docHash,
      prompt_hash: sha256(prompt),
      target_hash: sha256(target),
    };
    for (const [m, v] of Object.entries(fr.metrics)) rec[m] = v;
    return rec;
  });
}

/**
 * Runs an evaluation.
 * @throws UsageError for unknown task names; FormatError for missing/malformed data files (naming the
 *   file and the expected layout); RelufyError from the model (e.g. a continuation longer than max_length).
 */
export async function evaluate(opts: EvalOptions): Promise<EvalOutput> {
  const t0 = performance.now();
  const h = opts.harness ?? harnessProfile();
  const warn = opts.warn ?? ((): void => {});
  const cache = opts.cache ?? RequestCache.memory();
  const selection = selectTasks(opts.tasks);
  const prepared: Prepared[] = [];
  for (const task of selection.tasks) {
    prepared.push(await prepare(task as Task<unknown>, opts, h, warn));
  }
  if (opts.lm.checkRequest !== undefined) {
    for (const p of prepared) p.requests.forEach((reqs, d) => reqs.forEach((r) => withDoc(p.task.name, d, () => opts.lm.checkRequest!(r))));
  }
  const total = prepared.reduce((a, p) => a + p.requests.reduce((b, r) => b + r.length, 0), 0);
  let done = 0;
  let hits = 0;
  let computed = 0;
  let lastYield = performance.now();
  const results: TaskResult[] = [];
  for (const p of prepared) {
    const perFilter = new Map<string, Map<string, MetricValue[]>>();
    const samples: SampleRecord[] = [];
    let hashText = '';
    for (let d = 0; d < p.docs.length; d++) {
      const reqs = p.requests[d]!;
      const resps: Response[] = [];
      for (const req of reqs) {
        const key = requestKey(req);
        let resp = cache.get(key);
        if (resp === undefined) {
          resp = withDoc(p.task.name, d, () => runRequest(opts.lm, req));
          cache.put(key, resp);
          computed++;
        } else hits++;
        resps.push(resp);
        done++;
        if (performance.now() - lastYield > 100) {
          opts.onProgress?.({ task: p.task.name, done, total, cached: hits });
          await tick();
          lastYield = performance.now();
        }
      }
      const fr = p.task.process(p.docs[d], resps, h);
      for (const r of fr) {
        let m = perFilter.get(r.filter);
        if (m === undefined) perFilter.set(r.filter, (m = new Map()));
        for (const [name, v] of Object.entries(r.metrics)) {
          let arr = m.get(name);
          if (arr === undefined) m.set(name, (arr = []));
          arr.push(v);
        }
      }
      if (opts.logSamples) {
        const recs = sampleRecords(p, d, reqs, resps, fr);
        for (const r of recs) hashText += r.doc_hash + r.prompt_hash + r.target_hash;
        samples.push(...recs);
      }
    }
    opts.onProgress?.({ task: p.task.name, done, total, cached: hits });
    const specs = p.task.metrics(h);
    const filters = p.task.filters(h);
    const values: Record<string, number | 'N/A'> = {};
    for (const f of filters) {
      for (const spec of specs) {
        const vals = perFilter.get(f)?.get(spec.name) ?? [];
        if (vals.length === 0) continue;
        const a = aggregateMetric(spec, vals);
        values[`${spec.name},${f}`] = a.value;
        values[`${spec.name}_stderr,${f}`] = a.stderr;
      }
    }
    const inGroup = selection.groups.some((g) => g.children.includes(p.task.name));
    results.push({
      name: p.task.name,
      alias: inGroup ? `  - ${p.task.name.replace(/^mmlu_/, '')}` : p.task.name,
      version: p.task.version(h),
      nShot: p.nShot,
      values,
      metrics: specs,
      filters,
      nOriginal: p.nOriginal,
      nEffective: p.docs.length,
      config: { ...p.task.config(h), num_fewshot: p.nShot, ...(p.caveats.length > 0 ? { data_caveats: p.caveats } : {}), data_files: p.files },
      files: p.files,
      caveats: p.caveats,
      samples,
      taskHash: opts.logSamples ? sha256(hashText) : '',
    });
  }
  const groups = aggregateGroups(selection.groups, results, h);
  return { harness: h, tasks: results, groups, cacheHits: hits, computed, seconds: (performance.now() - t0) / 1000, limit: opts.limit ?? null };
}

/**
 * Group aggregates over leaf subtasks (item-weighted per `weight_by_size`), plus the unweighted
 * per-subject mean as `acc_macro,none` (leaderboard v1 MMLU, eval-spec §2.8).
 */
export function aggregateGroups(groups: readonly TaskGroup[], tasks: readonly TaskResult[], h: HarnessProfile): GroupResult[] {
  const out: GroupResult[] = [];
  for (const g of groups) {
    const leaves = leafTasks(g.name).filter((n) => tasks.some((t) => t.name === n));
    const subs = leaves.map((n) => tasks.find((t) => t.name === n)!);
    const key = `${g.metric},none`;
    const scores = subs.filter((t) => typeof t.values[key] === 'number').map((t) => ({ score: t.values[key] as number, stderr: t.values[`${g.metric}_stderr,none`] ?? ('N/A' as const), size: t.nEffective }));
    if (scores.length === 0) continue;
    const weighted = aggregateGroup(scores, g.weightBySize);
    const macro = aggregateGroup(scores, false);
    out.push({
      name: g.name,
      alias: g.alias,
      version: g.version(h),
      values: { [key]: weighted.score, [`${g.metric}_stderr,none`]: weighted.stderr, [`${g.metric}_macro,none`]: macro.score },
      children: g.children,
      leaves,
      size: weighted.size,
    });
  }
  return out;
}

/** Groups a task belongs to, for callers that need the hierarchy. */
export function groupOf(task: string): TaskGroup | undefined {
  for (const g of GROUPS.values()) if (g.children.includes(task)) return g;
  return undefined;
}
