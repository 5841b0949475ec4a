/** BoolQ (eval-spec §3.10; harness `lm_eval/tasks/super_glue/boolq/default.yaml`). Eval on validation, few-shots from train (k+1 drawn). */
import { FormatError } from '../../errors.js';
import { parseJsonl, readText, type Row } from '../data/files.js';
import { atLeast, type HarnessProfile } from '../versions.js';
import { accMetrics, choiceRequests, int, loadFewshotSplit, loadSplit, mcConfig, mcResult, str } from './common.js';
import type { Task } from './types.js';

export interface BoolqDoc {
  question: string;
  passage: string;
  /** 0 = no, 1 = yes. */
  label: number;
  idx?: number;
}

const COLUMNS = 'question, passage, idx, label (0 = no, 1 = yes)';
const CHOICES = ['no', 'yes'];

function fromHf(rows: Row[], file: string): BoolqDoc[] {
  return rows.map((r, i) => ({ question: str(r, 'question', file, i, COLUMNS), passage: str(r, 'passage', file, i, COLUMNS), label: int(r, 'label', file, i, COLUMNS), idx: typeof r['idx'] === 'number' ? r['idx'] : undefined }));
}

/** llm-foundry form `{query: "Passage: P\nQuestion: Q?", choices: ["no","yes"], gold}`. */
function fromFoundry(file: string): BoolqDoc[] {
  return parseJsonl(readText(file), file).map((r, i) => {
    const q = str(r, 'query', file, i, 'query, choices, gold');
    const cut = q.lastIndexOf('\nQuestion: ');
    if (!q.startsWith('Passage: ') || cut < 0 || !q.endsWith('?')) throw new FormatError(file, `row ${i}: query is not "Passage: …\\nQuestion: …?" (llm-foundry BoolQ form)`);
    return { passage: q.slice('Passage: '.length, cut), question: q.slice(cut + '\nQuestion: '.length, -1), label: int(r, 'gold', file, i, 'query, choices, gold') };
  });
}

const paths = (h: HarnessProfile): string[] => (h.era === 'v0.4' && atLeast(h.version, '0.4.10') ? ['aps/super_glue', 'super_glue'] : ['super_glue', 'aps/super_glue']);
const text = (d: BoolqDoc): string => `${d.passage}\nQuestion: ${d.question}?\nAnswer:`;

export const boolq: Task<BoolqDoc> = {
  name: 'boolq',
  outputType: 'multiple_choice',
  defaultFewshot: 0,
  fixedFewshot: false,
  sampler: 'random',
  drawExtra: true,
  version: (h) => (h.era === 'old' ? 1 : 2.0),
  loadEval: (src, h) =>
    loadSplit(src, { paths: paths(h), name: 'boolq', split: 'validation' }, 'boolq', fromHf, [
      {
        rels: ['llm-foundry/boolq.jsonl'],
        load: (f) => ({ docs: fromFoundry(f), files: [f], caveats: [`${f}: llm-foundry form of BoolQ validation; its passages lack the "Title -- " prefix of super_glue/boolq, so prompts differ from the harness's and scores are not directly comparable`] }),
      },
    ]),
  loadFewshot: (src, h) => loadFewshotSplit(src, { paths: paths(h), name: 'boolq', split: 'train' }, 'boolq', fromHf),
  description: () => '',
  fewshotExample: (d) => `${text(d)} ${CHOICES[d.label]}`,
  requests: (d, prefix) => choiceRequests(prefix + text(d), CHOICES),
  target: (d) => String(d.label),
  process: (d, resps) => mcResult(resps, CHOICES, d.label, false),
  metrics: () => accMetrics(false),
  filters: () => ['none'],
  config: (h) =>
    mcConfig({ task: 'boolq', dataset_path: paths(h)[0]!, dataset_name: 'boolq', training_split: 'train', validation_split: 'validation', doc_to_text: '{{passage}}\nQuestion: {{question}}?\nAnswer:', doc_to_target: 'label', doc_to_choice: CHOICES, metrics: accMetrics(false), version: h.era === 'old' ? 1 : 2.0 }),
};
