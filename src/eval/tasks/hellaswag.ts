/**
 * HellaSwag (eval-spec §3.2; harness `lm_eval/tasks/hellaswag/hellaswag.yaml` + `utils.py`).
 * Eval on validation, few-shots from train (k+1 drawn in v0.4), acc and acc_norm.
 */
import { FormatError } from '../../errors.js';
import type { Row } from '../data/files.js';
import { readText } from '../data/files.js';
import { pyCapitalize, pyStrip } from '../pytext.js';
import { atLeast, type HarnessProfile } from '../versions.js';
import { accMetrics, choiceRequests, int, loadFewshotSplit, loadSplit, mcConfig, mcResult, str, strArray } from './common.js';
import type { Task } from './types.js';

/** The processed doc (`process_docs` output: query, choices, gold), with the raw fields when known. */
export interface HellaswagDoc {
  query: string;
  choices: string[];
  gold: number;
  [raw: string]: unknown;
}

/**
 * The harness's `preprocess(text)`: strip, `" [title]"` → `". "`, delete `[...]` spans (non-greedy),
 * then one non-overlapping pass of `"  "` → `" "`.
 */
export function hellaswagPreprocess(text: string): string {
  let t = pyStrip(text);
  t = t.replaceAll(' [title]', '. ');
  t = t.replace(/\[.*?\]/g, '');
  t = t.replaceAll('  ', ' ');
  return t;
}

const COLUMNS = 'activity_label, ctx_a, ctx_b, endings[], label';

/** `process_docs` on HF rows: `query = pre(activity_label + ": " + ctx_a + " " + capitalize(ctx_b))`. */
export function hellaswagFromHf(rows: Row[], file: string): HellaswagDoc[] {
  return rows.map((r, i) => {
    const ctx = `${str(r, 'ctx_a', file, i, COLUMNS)} ${pyCapitalize(str(r, 'ctx_b', file, i, COLUMNS))}`;
    const endings = strArray(r['endings'], 'endings', file, i, COLUMNS);
    const label = r['label'];
    const gold = label === '' ? -1 : int(r, 'label', file, i, COLUMNS);
    return { ...r, query: hellaswagPreprocess(`${str(r, 'activity_label', file, i, COLUMNS)}: ${ctx}`), choices: endings.map(hellaswagPreprocess), gold };
  });
}

/**
 * Rebuilds the harness query from a llama.cpp context line `activity_label: ctx_a ctx_b`, where
 * `ctx_b` was not capitalized: for ActivityNet items (not WikiHow "How to …" items), a trailing
 * fragment after the last ". " that starts lower-case is taken as `ctx_b` and `capitalize()`d.
 * This is a heuristic: the split between ctx_a and ctx_b is not stored in that file.
 */
export function llamaCppQuery(line: string): string {
  const colon = line.indexOf(': ');
  const body = colon >= 0 ? line.slice(colon + 2) : line;
  let q = line;
  if (!body.startsWith('How to ')) {
    const m = /^(.*\. |)([a-z][^]*)$/.exec(body);
    if (m !== null && !m[2]!.includes('. ') && !/[.!?]$/.test(m[2]!)) {
      q = `${colon >= 0 ? line.slice(0, colon + 2) : ''}${m[1]}${pyCapitalize(m[2]!)}`;
    }
  }
  return hellaswagPreprocess(q);
}

/**
 * llama.cpp's 6-lines-per-task HellaSwag text (`hellaswag_val_full.txt`): context line, gold index,
 * four endings. @throws FormatError for a truncated task or a bad gold line.
 */
export function hellaswagFromLlamaCpp(file: string): HellaswagDoc[] {
  const lines = readText(file).split('\n');
  while (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
  if (lines.length % 6 !== 0) throw new FormatError(file, `${lines.length} lines is not a multiple of 6 (expected per task: context, gold index 0-3, four endings)`);
  const docs: HellaswagDoc[] = [];
  for (let t = 0; t < lines.length / 6; t++) {
    const g = lines[t * 6 + 1]!.trim();
    if (!/^[0-3]$/.test(g)) throw new FormatError(file, `line ${t * 6 + 2}: gold index "${g}" is not 0-3`);
    docs.push({ query: llamaCppQuery(lines[t * 6]!), choices: lines.slice(t * 6 + 2, t * 6 + 6).map(hellaswagPreprocess), gold: Number(g) });
  }
  return docs;
}

const paths = (h: HarnessProfile): string[] => (atLeast(h.version, '0.4.9.1') ? ['Rowan/hellaswag', 'hellaswag'] : ['hellaswag', 'Rowan/hellaswag']);

export const hellaswag: Task<HellaswagDoc> = {
  name: 'hellaswag',
  outputType: 'multiple_choice',
  defaultFewshot: 0,
  fixedFewshot: false,
  sampler: 'random',
  drawExtra: true,
  version: (h) => (h.era === 'old' ? 0 : 1.0),
  loadEval: (src, h) =>
    loadSplit(src, { paths: paths(h), name: null, split: 'validation' }, 'hellaswag', hellaswagFromHf, [
      {
        rels: ['hellaswag/hellaswag_val_full.txt', 'hellaswag_val_full.txt'],
        load: (f) => ({
          docs: hellaswagFromLlamaCpp(f),
          files: [f],
          caveats: [`${f}: llama.cpp HellaSwag text (validation, same items and gold); ctx_b capitalization is reconstructed heuristically and the harness preprocessing re-applied, so a few prompts may differ from the harness's`],
        }),
      },
    ]),
  loadFewshot: (src, h) => loadFewshotSplit(src, { paths: paths(h), name: null, split: 'train' }, 'hellaswag', hellaswagFromHf),
  description: () => '',
  fewshotExample: (d) => `${d.query} ${d.choices[d.gold]}`,
  requests: (d, prefix) => choiceRequests(prefix + d.query, d.choices),
  target: (d) => String(d.gold),
  process: (d, resps) => mcResult(resps, d.choices, d.gold, true),
  metrics: () => accMetrics(true),
  filters: () => ['none'],
  config: (h) =>
    mcConfig({
      task: 'hellaswag',
      dataset_path: paths(h)[0]!,
      training_split: 'train',
      validation_split: 'validation',
      doc_to_text: '{{query}}',
      doc_to_target: '{{label}}',
      doc_to_choice: 'choices',
      metrics: accMetrics(true),
      version: h.era === 'old' ? 0 : 1.0,
      extra: { process_docs: 'hellaswag utils.process_docs: query = preprocess(activity_label + ": " + ctx_a + " " + ctx_b.capitalize())' },
    }),
};
