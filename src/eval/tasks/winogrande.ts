/**
 * Winogrande with partial scoring (eval-spec §3.3; harness `lm_eval/tasks/winogrande/default.yaml`
 * + `preprocess_winogrande.py`): the same continuation (the text after "_") is scored after each
 * option substituted into the text before "_". acc only; a tie goes to option 1.
 */
import { FormatError } from '../../errors.js';
import type { Row } from '../data/files.js';
import { parseJsonl, readText } from '../data/files.js';
import { accuracy } from '../metrics.js';
import { pyStrip } from '../pytext.js';
import { atLeast, type HarnessProfile } from '../versions.js';
import { accMetrics, int, lls, loadFewshotSplit, loadSplit, mcConfig, str } from './common.js';
import type { Task } from './types.js';

export interface WinograndeDoc {
  sentence?: string;
  option1?: string;
  option2?: string;
  answer?: string;
  /** `sentence[:i] + option_j` for j = 1, 2 (the harness's `doc_to_choice`). */
  context_options: [string, string];
  /** `sentence[i+1:].strip()` (the harness's `doc_to_target`). */
  continuation: string;
  gold: number;
}

const COLUMNS = 'sentence (with one "_"), option1, option2, answer ("1" or "2")';

export function winograndeFromHf(rows: Row[], file: string): WinograndeDoc[] {
  return rows.map((r, i) => {
    const sentence = str(r, 'sentence', file, i, COLUMNS);
    const option1 = str(r, 'option1', file, i, COLUMNS);
    const option2 = str(r, 'option2', file, i, COLUMNS);
    const answer = String(r['answer'] ?? '');
    const idx = sentence.indexOf('_');
    if (idx < 0) throw new FormatError(file, `row ${i}: sentence has no "_"`);
    const gold = answer === '1' ? 0 : answer === '2' ? 1 : -1;
    if (gold < 0 && answer !== '') throw new FormatError(file, `row ${i}: answer must be "1" or "2" (got ${JSON.stringify(r['answer'])})`);
    return {
      sentence, option1, option2, answer,
      context_options: [sentence.slice(0, idx) + option1, sentence.slice(0, idx) + option2],
      continuation: pyStrip(sentence.slice(idx + 1)),
      gold,
    };
  });
}

/** llm-foundry schema form `{context_options: [2], continuation, gold}`: the same partial-scoring strings. */
export function winograndeFromFoundry(file: string): WinograndeDoc[] {
  const expected = 'context_options[2], continuation, gold';
  return parseJsonl(readText(file), file).map((r, i) => {
    const co = r['context_options'];
    if (!Array.isArray(co) || co.length !== 2 || !co.every((c) => typeof c === 'string')) throw new FormatError(file, `row ${i}: context_options must be two strings (expected ${expected})`);
    const gold = int(r, 'gold', file, i, expected);
    if (gold !== 0 && gold !== 1) throw new FormatError(file, `row ${i}: gold must be 0 or 1`);
    return { context_options: [co[0] as string, co[1] as string], continuation: str(r, 'continuation', file, i, expected), gold };
  });
}

const paths = (h: HarnessProfile): string[] => (atLeast(h.version, '0.4.10') ? ['allenai/winogrande', 'winogrande'] : ['winogrande', 'allenai/winogrande']);

export const winogrande: Task<WinograndeDoc> = {
  name: 'winogrande',
  outputType: 'multiple_choice',
  defaultFewshot: 0,
  fixedFewshot: false,
  sampler: 'random',
  drawExtra: true,
  version: (h) => (h.era === 'old' ? 0 : 1.0),
  loadEval: (src, h) =>
    loadSplit(src, { paths: paths(h), name: 'winogrande_xl', split: 'validation' }, 'winogrande', winograndeFromHf, [
      { rels: ['llm-foundry/winogrande.jsonl'], load: (f) => ({ docs: winograndeFromFoundry(f), files: [f], caveats: [`${f}: llm-foundry form of winogrande_xl validation (same partial-scoring strings; raw sentence/options not stored)`] }) },
    ]),
  loadFewshot: (src, h) => loadFewshotSplit(src, { paths: paths(h), name: 'winogrande_xl', split: 'train' }, 'winogrande', winograndeFromHf),
  description: () => '',
  fewshotExample: (d) => `${d.context_options[d.gold]} ${d.continuation}`,
  requests: (d, prefix) => d.context_options.map((c) => ({ type: 'loglikelihood' as const, context: prefix + c, continuation: ` ${d.continuation}` })),
  target: (d) => d.continuation,
  process: (d, resps) => [{ filter: 'none', filtered: resps.map((r) => [(r as { logprob: number }).logprob, (r as { is_greedy: boolean }).is_greedy]), metrics: { acc: d.gold < 0 ? 0 : accuracy(lls(resps), d.gold) } }],
  metrics: () => accMetrics(false),
  filters: () => ['none'],
  config: (h) =>
    mcConfig({
      task: 'winogrande',
      dataset_path: paths(h)[0]!,
      dataset_name: 'winogrande_xl',
      training_split: 'train',
      validation_split: 'validation',
      doc_to_text: 'preprocess_winogrande.doc_to_text: answer_to_num[doc["answer"]]',
      doc_to_target: 'preprocess_winogrande.doc_to_target: doc["sentence"][idx + 1:].strip() (idx = index of "_")',
      doc_to_choice: 'preprocess_winogrande.doc_to_choice: [doc["sentence"][:idx] + opt for opt in (option1, option2)]',
      metrics: accMetrics(false),
      version: h.era === 'old' ? 0 : 1.0,
    }),
};
