/** CommonsenseQA (eval-spec §3.9; harness `lm_eval/tasks/commonsense_qa/default.yaml`). Eval on validation, few-shots from train (k+1 drawn). */
import { FormatError } from '../../errors.js';
import { parseJsonl, readText, type Row } from '../data/files.js';
import { pyStrip } from '../pytext.js';
import { accMetrics, choiceRequests, choicesStruct, loadFewshotSplit, loadSplit, mcConfig, mcResult, str } from './common.js';
import type { Task } from './types.js';

export interface CsqaDoc {
  id?: string;
  question: string;
  question_concept?: string;
  choices: { label: string[]; text: string[] };
  answerKey: string;
}

const LETTERS = ['A', 'B', 'C', 'D', 'E'];
const COLUMNS = 'id, question, question_concept, choices{label[5], text[5]}, answerKey';

/** HF rows, or the original CommonsenseQA JSONL (`question: {stem, choices: [{label, text}], question_concept}`). */
export function csqaFromRows(rows: Row[], file: string): CsqaDoc[] {
  return rows.map((r, i) => {
    const q = r['question'];
    let doc: CsqaDoc;
    if (q !== null && typeof q === 'object') {
      const o = q as Row;
      const ch = o['choices'];
      if (!Array.isArray(ch)) throw new FormatError(file, `row ${i}: question.choices must be a list of {label, text} (original CommonsenseQA form)`);
      doc = {
        id: typeof r['id'] === 'string' ? r['id'] : undefined,
        question: str(o, 'stem', file, i, 'question{stem, choices[{label, text}]}, answerKey'),
        question_concept: typeof o['question_concept'] === 'string' ? o['question_concept'] : undefined,
        choices: { label: ch.map((c: Row) => String(c['label'])), text: ch.map((c: Row) => String(c['text'])) },
        answerKey: str(r, 'answerKey', file, i, 'answerKey'),
      };
    } else {
      doc = { id: typeof r['id'] === 'string' ? r['id'] : undefined, question: str(r, 'question', file, i, COLUMNS), question_concept: typeof r['question_concept'] === 'string' ? r['question_concept'] : undefined, choices: choicesStruct(r, file, i, COLUMNS), answerKey: str(r, 'answerKey', file, i, COLUMNS) };
    }
    if (doc.choices.text.length !== 5) throw new FormatError(file, `row ${i}: expected 5 choices, got ${doc.choices.text.length}`);
    return doc;
  });
}

const text = (d: CsqaDoc): string => `Question: ${pyStrip(d.question)}\nA. ${d.choices.text[0]}\nB. ${d.choices.text[1]}\nC. ${d.choices.text[2]}\nD. ${d.choices.text[3]}\nE. ${d.choices.text[4]}\nAnswer:`;
const gold = (d: CsqaDoc): number => {
  const g = LETTERS.indexOf(d.answerKey);
  return g < 0 ? -100 : g;
};
const jsonl = (rels: string[]) => ({ rels, load: (f: string) => ({ docs: csqaFromRows(parseJsonl(readText(f), f), f), files: [f], caveats: [] }) });

export const commonsenseQa: Task<CsqaDoc> = {
  name: 'commonsense_qa',
  outputType: 'multiple_choice',
  defaultFewshot: 0,
  fixedFewshot: false,
  sampler: 'random',
  drawExtra: true,
  version: () => 'Yaml',
  loadEval: (src) => loadSplit(src, { paths: ['tau/commonsense_qa', 'commonsense_qa'], name: null, split: 'validation' }, 'commonsense_qa', csqaFromRows, [jsonl(['commonsense_qa/dev_rand_split.jsonl', 'dev_rand_split.jsonl'])]),
  loadFewshot: (src) => loadFewshotSplit(src, { paths: ['tau/commonsense_qa', 'commonsense_qa'], name: null, split: 'train' }, 'commonsense_qa', csqaFromRows, [jsonl(['commonsense_qa/train_rand_split.jsonl', 'train_rand_split.jsonl'])]),
  description: () => '',
  fewshotExample: (d) => `${text(d)} ${d.answerKey}`,
  requests: (d, prefix) => choiceRequests(prefix + text(d), LETTERS),
  target: (d) => d.answerKey,
  process: (d, resps) => mcResult(resps, LETTERS, gold(d), false),
  metrics: () => accMetrics(false),
  filters: () => ['none'],
  config: () =>
    mcConfig({
      task: 'commonsense_qa',
      dataset_path: 'tau/commonsense_qa',
      training_split: 'train',
      validation_split: 'validation',
      doc_to_text: "Question: {{ question.strip() }}\nA. {{choices['text'][0]}}\nB. {{choices['text'][1]}}\nC. {{choices['text'][2]}}\nD. {{choices['text'][3]}}\nE. {{choices['text'][4]}}\nAnswer:",
      doc_to_target: 'answerKey',
      doc_to_choice: LETTERS,
      metrics: accMetrics(false),
      version: 'Yaml',
    }),
};
