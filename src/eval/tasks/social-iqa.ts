/** Social IQa (eval-spec §3.8; harness `lm_eval/tasks/siqa/siqa.yaml`). Eval on validation, few-shots from train (k+1 drawn). */
import { FormatError } from '../../errors.js';
import type { Row } from '../data/files.js';
import { atLeast, type HarnessProfile } from '../versions.js';
import { accMetrics, choiceRequests, int, loadFewshotSplit, loadSplit, mcConfig, mcResult, str } from './common.js';
import type { Task } from './types.js';

export interface SiqaDoc {
  context: string;
  question: string;
  answerA: string;
  answerB: string;
  answerC: string;
  /** "1".."3" in the dataset. */
  label: string;
}

const COLUMNS = 'context, question, answerA, answerB, answerC, label ("1"-"3")';

function fromHf(rows: Row[], file: string): SiqaDoc[] {
  return rows.map((r, i) => {
    const label = String(int(r, 'label', file, i, COLUMNS));
    return { context: str(r, 'context', file, i, COLUMNS), question: str(r, 'question', file, i, COLUMNS), answerA: str(r, 'answerA', file, i, COLUMNS), answerB: str(r, 'answerB', file, i, COLUMNS), answerC: str(r, 'answerC', file, i, COLUMNS), label };
  });
}

const paths = (h: HarnessProfile): string[] => (h.era === 'v0.4' && atLeast(h.version, '0.4.10') ? ['allenai/social_i_qa', 'social_i_qa', 'lighteval/siqa'] : ['social_i_qa', 'allenai/social_i_qa', 'lighteval/siqa']);
const text = (d: SiqaDoc): string => `Q: ${d.context} ${d.question}\nA:`;
const choices = (d: SiqaDoc): string[] => [d.answerA, d.answerB, d.answerC];
const gold = (d: SiqaDoc): number => Number(d.label) - 1;

export const socialIqa: Task<SiqaDoc> = {
  name: 'social_iqa',
  outputType: 'multiple_choice',
  defaultFewshot: 0,
  fixedFewshot: false,
  sampler: 'random',
  drawExtra: true,
  version: () => 0.0,
  loadEval: (src, h) =>
    loadSplit(src, { paths: paths(h), name: null, split: 'validation' }, 'social_iqa', fromHf, [
      {
        rels: ['llm-foundry/siqa.jsonl'],
        load: (f) => {
          throw new FormatError(f, 'the llm-foundry Social IQa form keeps only 2 of the 3 answers per item, so it does not hold the harness items; supply social_i_qa validation (context, question, answerA-C, label) as parquet/JSONL');
        },
      },
    ]),
  loadFewshot: (src, h) => loadFewshotSplit(src, { paths: paths(h), name: null, split: 'train' }, 'social_iqa', fromHf),
  description: () => '',
  fewshotExample: (d) => `${text(d)} ${choices(d)[gold(d)]}`,
  requests: (d, prefix) => choiceRequests(prefix + text(d), choices(d)),
  target: (d) => String(gold(d)),
  process: (d, resps) => mcResult(resps, choices(d), gold(d), false),
  metrics: () => accMetrics(false),
  filters: () => ['none'],
  config: (h) =>
    mcConfig({ task: 'social_iqa', dataset_path: paths(h)[0]!, training_split: 'train', validation_split: 'validation', doc_to_text: 'Q: {{context}} {{question}}\nA:', doc_to_target: '{{ (label|int) - 1 }}', doc_to_choice: '{{[answerA, answerB, answerC]}}', metrics: accMetrics(false), version: 0.0 }),
};
