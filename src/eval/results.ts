/**
 * Output in the harness's shapes (eval-spec §5): the aggregated results JSON (v0.4.x keys), the
 * per-sample JSONL, the console markdown tables (`lm_eval/utils.py` `make_table`), a dense-vs-sparse
 * comparison table, and the Open LLM Leaderboard v1 layout.
 */
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { basename, dirname, extname, join } from 'node:path';
import type { EvalOutput, GroupResult, TaskResult } from './harness.js';
import { lmEvalVersionString } from './versions.js';

/** What the caller knows about the model run (the harness's `config` block and tokenizer fields). */
export interface ResultsMeta {
  /** Model path or name (`model_name`). */
  model: string;
  /** `model_args` string, e.g. `pretrained=/m.gguf,sparse=off`. */
  modelArgs: string;
  numParameters?: number;
  dtype?: string;
  maxLength: number;
  addBos: boolean;
  sparse: string;
  cacheDir: string | null;
  bosToken?: [string, string] | null;
  eosToken?: [string, string] | null;
  padToken?: [string, string] | null;
  eotTokenId?: number | null;
  /** Unix start time in seconds. */
  startDate: number;
}

/** Model name sanitizing: each run of `"<>:/\|?*[]` becomes `__` (eval-spec §5.1). */
export function sanitizeModelName(name: string): string {
  return name.replace(/["<>:/\\|?*[\]]+/g, '__');
}

/** `YYYY-MM-DDTHH-MM-SS.ffffff` (ISO date-time with ":" → "-"), as in result file names. */
export function fileDateTime(d = new Date()): string {
  return d.toISOString().replace(/Z$/, '').replaceAll(':', '-').replace(/\.(\d{3})$/, '.$1000');
}

function orderedEntries(out: EvalOutput): { name: string; values: Record<string, number | 'N/A'>; alias: string; group: boolean }[] {
  const rows: { name: string; values: Record<string, number | 'N/A'>; alias: string; group: boolean }[] = [];
  const placed = new Set<string>();
  const placeGroup = (g: GroupResult): void => {
    rows.push({ name: g.name, values: g.values, alias: g.alias, group: true });
    placed.add(g.name);
    for (const c of g.children) {
      const sub = out.groups.find((x) => x.name === c);
      if (sub !== undefined) placeGroup(sub);
      else {
        const t = out.tasks.find((x) => x.name === c);
        if (t !== undefined && !placed.has(t.name)) {
          rows.push({ name: t.name, values: t.values, alias: `  - ${t.name.replace(/^mmlu_/, '')}`, group: false });
          placed.add(t.name);
        }
      }
    }
  };
  const childOf = new Set(out.groups.flatMap((g) => g.children));
  for (const t of out.tasks) {
    if (placed.has(t.name)) continue;
    const top = out.groups.find((g) => !childOf.has(g.name) && g.leaves.includes(t.name));
    if (top !== undefined && !placed.has(top.name)) placeGroup(top);
    if (!placed.has(t.name)) {
      rows.push({ name: t.name, values: t.values, alias: t.alias, group: false });
      placed.add(t.name);
    }
  }
  return rows;
}

/** The aggregated results object (v0.4.x top-level keys, `indent=2` when written). */
export function buildResultsJson(out: EvalOutput, meta: ResultsMeta, endDate = Date.now() / 1000): Record<string, unknown> {
  const results: Record<string, unknown> = {};
  for (const e of orderedEntries(out)) results[e.name] = e.group ? { ...e.values, alias: e.alias } : { alias: e.alias, ...e.values };
  const groups: Record<string, unknown> = {};
  for (const g of out.groups) groups[g.name] = { ...g.values, alias: g.alias };
  const groupSubtasks: Record<string, string[]> = {};
  for (const g of out.groups) groupSubtasks[g.name] = g.children.filter((c) => out.groups.some((x) => x.name === c) || out.tasks.some((t) => t.name === c));
  const inGroup = new Set(out.groups.flatMap((g) => g.children));
  for (const t of out.tasks) if (!inGroup.has(t.name)) groupSubtasks[t.name] = [];
  const configs: Record<string, unknown> = {};
  const versions: Record<string, unknown> = {};
  const nShot: Record<string, number> = {};
  const hib: Record<string, Record<string, boolean>> = {};
  const nSamples: Record<string, unknown> = {};
  const hashes: Record<string, string> = {};
  for (const t of out.tasks) {
    configs[t.name] = t.config;
    versions[t.name] = t.version;
    nShot[t.name] = t.nShot;
    hib[t.name] = Object.fromEntries(t.metrics.map((m) => [m.name, m.higher_is_better]));
    nSamples[t.name] = { original: t.nOriginal, effective: t.nEffective };
    hashes[t.name] = t.taskHash;
  }
  for (const g of out.groups) {
    versions[g.name] = g.version;
    hib[g.name] = { acc: true };
  }
  const h = out.harness;
  return {
    results,
    groups,
    group_subtasks: groupSubtasks,
    configs,
    versions,
    'n-shot': nShot,
    higher_is_better: hib,
    'n-samples': nSamples,
    config: {
      model: 'relufy',
      model_args: meta.modelArgs,
      model_num_parameters: meta.numParameters ?? 0,
      model_dtype: meta.dtype ?? 'float32',
      model_revision: 'main',
      model_sha: '',
      batch_size: '1',
      batch_sizes: [],
      device: 'cpu',
      use_cache: meta.cacheDir,
      limit: out.limit,
      bootstrap_iters: 100000,
      gen_kwargs: null,
      random_seed: 0,
      numpy_seed: 1234,
      torch_seed: 1234,
      fewshot_seed: h.fewshotSeed,
      harness_version: h.version,
      add_bos_token: meta.addBos,
      max_length: meta.maxLength,
      sparse: meta.sparse,
    },
    git_hash: null,
    date: meta.startDate,
    pretty_env_info: `relufy on Node ${process.version} (${process.platform}-${process.arch})`,
    transformers_version: null,
    lm_eval_version: lmEvalVersionString(h),
    upper_git_hash: null,
    tokenizer_pad_token: meta.padToken ?? null,
    tokenizer_eos_token: meta.eosToken ?? null,
    tokenizer_bos_token: meta.bosToken ?? null,
    eot_token_id: meta.eotTokenId ?? null,
    max_length: meta.maxLength,
    task_hashes: hashes,
    model_source: 'relufy',
    model_name: meta.model,
    model_name_sanitized: sanitizeModelName(meta.model),
    system_instruction: null,
    system_instruction_sha: null,
    fewshot_as_multiturn: false,
    chat_template: null,
    chat_template_sha: null,
    start_time: 0,
    end_time: out.seconds,
    total_evaluation_time_seconds: String(out.seconds),
  };
}

/** Writes `text` to `file` through a temporary file and a rename (no half-written outputs). */
export function writeFileAtomic(file: string, text: string): void {
  mkdirSync(dirname(file) || '.', { recursive: true });
  const tmp = `${file}.tmp-${process.pid}`;
  writeFileSync(tmp, text);
  renameSync(tmp, file);
}

/**
 * Where results go: a path ending in `.json` is used as is; otherwise it is a folder and the file is
 * `<dir>/<model_sanitized>/results_<datetime>.json` (harness layout). Samples go beside it as
 * `samples_<task>_<datetime>.jsonl`.
 */
export function outputPaths(output: string, model: string, when = new Date()): { results: string; samples: (task: string) => string } {
  const dt = fileDateTime(when);
  const results = extname(output).toLowerCase() === '.json' ? output : join(output, sanitizeModelName(model), `results_${dt}.json`);
  const dir = dirname(results);
  const stem = extname(output).toLowerCase() === '.json' ? `${basename(output, extname(output))}_` : '';
  return { results, samples: (task) => join(dir, `${stem}samples_${task}_${dt}.jsonl`) };
}

/** Writes the results JSON and, when samples were logged, one JSONL per task; returns the paths written. */
export function writeOutputs(out: EvalOutput, json: Record<string, unknown>, output: string, model: string): string[] {
  const p = outputPaths(output, model);
  writeFileAtomic(p.results, `${JSON.stringify(json, null, 2)}\n`);
  const written = [p.results];
  for (const t of out.tasks) {
    if (t.samples.length === 0) continue;
    const f = p.samples(t.name);
    writeFileAtomic(f, t.samples.map((s) => JSON.stringify(s)).join('\n') + '\n');
    written.push(f);
  }
  return written;
}

/** Python `"%.4f" % v`. */
export function fmt4(v: number): string {
  return Number.isNaN(v) ? 'nan' : !Number.isFinite(v) ? (v > 0 ? 'inf' : '-inf') : v.toFixed(4);
}

type Align = 'l' | 'r';

/** A markdown table with padded columns (pytablewriter style: header centered, numbers right-aligned). */
export function markdownTable(headers: string[], rows: string[][], align: Align[]): string {
  const width = headers.map((h, i) => Math.max(3, [...h].length, ...rows.map((r) => [...(r[i] ?? '')].length)));
  const pad = (s: string, w: number, a: Align | 'c'): string => {
    const n = w - [...s].length;
    if (a === 'r') return ' '.repeat(n) + s;
    if (a === 'l') return s + ' '.repeat(n);
    return ' '.repeat(Math.floor(n / 2)) + s + ' '.repeat(n - Math.floor(n / 2));
  };
  const line = (cells: string[], a: (i: number) => Align | 'c'): string => `|${cells.map((c, i) => pad(c, width[i]!, a(i))).join('|')}|`;
  const sep = `|${width.map((w, i) => (align[i] === 'r' ? `${'-'.repeat(w - 1)}:` : '-'.repeat(w))).join('|')}|`;
  return [line(headers, () => 'c'), sep, ...rows.map((r) => line(r, (i) => align[i]!))].join('\n');
}

const HIB: Record<string, string> = { true: '↑', false: '↓' };

function versionText(v: number | string): string {
  return typeof v === 'number' ? String(v) : v;
}

/** Rows of `make_table` for one results entry (metrics sorted by key, stderr beside each value). */
function tableRows(label: string, version: string, nShot: string, values: Record<string, number | 'N/A'>, hib: Record<string, boolean>): string[][] {
  const rows: string[][] = [];
  let k = label;
  let ver = version;
  for (const key of Object.keys(values).sort()) {
    const [m, f = ''] = key.split(',');
    if (m!.endsWith('_stderr')) continue;
    const v = values[key]!;
    const se = values[`${m}_stderr,${f}`];
    const arrow = hib[m!] === undefined ? '' : HIB[String(hib[m!])]!;
    rows.push([k, ver, f, nShot, m!, arrow, typeof v === 'number' ? fmt4(v) : v, se === undefined ? '' : '±', se === undefined ? '' : se === 'N/A' ? '   N/A' : fmt4(se)]);
    k = '';
    ver = '';
  }
  return rows;
}

const HEAD = ['Version', 'Filter', 'n-shot', 'Metric', '', 'Value', '', 'Stderr'];
const ALIGN: Align[] = ['l', 'r', 'l', 'r', 'l', 'l', 'r', 'l', 'r'];

/** The harness's console output: the tasks table, then a "Groups" table when groups aggregate. */
export function formatTables(out: EvalOutput): string {
  const rows: string[][] = [];
  for (const e of orderedEntries(out)) {
    if (e.group) {
      const g = out.groups.find((x) => x.name === e.name)!;
      rows.push(...tableRows(e.alias, versionText(g.version), ' ', e.values, { acc: true, acc_macro: true }));
    } else {
      const t = out.tasks.find((x) => x.name === e.name)!;
      rows.push(...tableRows(e.alias, versionText(t.version), String(t.nShot), e.values, Object.fromEntries(t.metrics.map((m) => [m.name, m.higher_is_better]))));
    }
  }
  let text = markdownTable(['Tasks', ...HEAD], rows, ALIGN);
  if (out.groups.length > 0) {
    const grows = out.groups.flatMap((g) => tableRows(g.alias, versionText(g.version), ' ', g.values, { acc: true, acc_macro: true }));
    text += `\n\n${markdownTable(['Groups', ...HEAD], grows, ALIGN)}`;
  }
  return text;
}

/**
 * One table with a value column per run (e.g. sparse off / lossless / predictor), so the quality cost
 * of sparsity reads off one row. Δ is each run minus the first.
 */
export function formatComparison(runs: readonly { label: string; out: EvalOutput }[]): string {
  const first = runs[0]!.out;
  const headers = ['Tasks', 'Filter', 'n-shot', 'Metric', '', ...runs.flatMap((r, i) => (i === 0 ? [r.label, '±'] : [r.label, '±', 'Δ']))];
  const rows: string[][] = [];
  for (const e of orderedEntries(first)) {
    const t = first.tasks.find((x) => x.name === e.name);
    const hib = t !== undefined ? Object.fromEntries(t.metrics.map((m) => [m.name, m.higher_is_better])) : { acc: true, acc_macro: true };
    let label = e.alias;
    for (const key of Object.keys(e.values).sort()) {
      const [m, f = ''] = key.split(',');
      if (m!.endsWith('_stderr')) continue;
      const base = e.values[key];
      const cells = [label, f, t !== undefined ? String(t.nShot) : ' ', m!, hib[m!] === undefined ? '' : HIB[String(hib[m!])]!];
      runs.forEach((r, i) => {
        const src = [...r.out.tasks.map((x) => [x.name, x.values] as const), ...r.out.groups.map((x) => [x.name, x.values] as const)].find(([n]) => n === e.name)?.[1];
        const v = src?.[key];
        const se = src?.[`${m}_stderr,${f}`];
        cells.push(typeof v === 'number' ? fmt4(v) : (v ?? '-'), typeof se === 'number' ? fmt4(se) : (se ?? ''));
        if (i > 0) cells.push(typeof v === 'number' && typeof base === 'number' ? `${v - base >= 0 ? '+' : ''}${fmt4(v - base)}` : '');
      });
      rows.push(cells);
      label = '';
    }
  }
  const align: Align[] = ['l', 'l', 'r', 'l', 'l', ...runs.flatMap((_, i): Align[] => (i === 0 ? ['r', 'r'] : ['r', 'r', 'r']))];
  return markdownTable(headers, rows, align);
}

/** The six leaderboard-v1 columns: task, result key, display name. */
export const LEADERBOARD_V1: { task: string; key: string; altKey?: string; column: string; shots: number }[] = [
  { task: 'arc_challenge', key: 'acc_norm,none', column: 'ARC (25-shot)', shots: 25 },
  { task: 'hellaswag', key: 'acc_norm,none', column: 'HellaSwag (10-shot)', shots: 10 },
  { task: 'mmlu', key: 'acc_macro,none', column: 'MMLU (5-shot)', shots: 5 },
  { task: 'truthfulqa_mc2', key: 'acc,none', column: 'TruthfulQA (0-shot)', shots: 0 },
  { task: 'winogrande', key: 'acc,none', column: 'Winogrande (5-shot)', shots: 5 },
  { task: 'gsm8k', key: 'acc,none', altKey: 'exact_match,strict-match', column: 'GSM8K (5-shot)', shots: 5 },
];

/** The leaderboard layout: each benchmark ×100 with two decimals, and their plain average. */
export function formatLeaderboard(model: string, out: EvalOutput): string {
  const vals = LEADERBOARD_V1.map((c) => {
    const src = c.task === 'mmlu' ? out.groups.find((g) => g.name === 'mmlu')?.values : out.tasks.find((t) => t.name === c.task)?.values;
    const v = src?.[c.key] ?? (c.altKey !== undefined ? src?.[c.altKey] : undefined);
    return typeof v === 'number' ? v * 100 : null;
  });
  const present = vals.filter((v): v is number => v !== null);
  const avg = present.length === vals.length ? present.reduce((a, b) => a + b, 0) / present.length : null;
  const cell = (v: number | null): string => (v === null ? '-' : v.toFixed(2));
  return markdownTable(['Model', 'Average', ...LEADERBOARD_V1.map((c) => c.column)], [[model, cell(avg), ...vals.map(cell)]], ['l', 'r', ...LEADERBOARD_V1.map((): Align => 'r')]);
}

/** Summary line for data caveats, printed under the table. */
export function caveatNotes(tasks: readonly TaskResult[]): string[] {
  return tasks.flatMap((t) => t.caveats.map((c) => `note (${t.name}): ${c}`));
}
