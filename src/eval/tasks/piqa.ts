/** PIQA (eval-spec §3.7; harness `lm_eval/tasks/piqa/piqa.yaml`). Eval on validation, few-shots from train (k+1 drawn). */
import { FormatError } from '../../errors.js';
import { parseJsonl, readText, type Row } from '../data/files.js';
import { atLeast, type HarnessProfile } from '../versions.js';
import { accMetrics, choiceRequests, int, loadFewshotSplit, loadSplit, mcConfig, mcResult, str } from './common.js';
import type { Task } from './types.js';

export interface PiqaDoc {
  goal: string;
  sol1: string;
  sol2: string;
  label: number;
}

const COLUMNS = 'goal, sol1, sol2, label (0 or 1)';

function fromHf(rows: Row[], file: string): PiqaDoc[] {
  return rows.map((r, i) => ({ goal: str(r, 'goal', file, i, COLUMNS), sol1: str(r, 'sol1', file, i, COLUMNS), sol2: str(r, 'sol2', file, i, COLUMNS), label: int(r, 'label', file, i, COLUMNS) }));
}

/** llm-foundry form `{query: "Question: <goal>\n", choices: [sol1, sol2], gold}`. */
function fromFoundry(file: string): PiqaDoc[] {
  const expected = 'query ("Question: <goal>\\n"), choices[2], gold';
  return parseJsonl(readText(file), file).map((r, i) => {
    const q = str(r, 'query', file, i, expected);
    const ch = r['choices'];
    if (!q.startsWith('Question: ') || !Array.isArray(ch) || ch.length !== 2) throw new FormatError(file, `row ${i}: not the llm-foundry PIQA form (${expected})`);
    return { goal: q.slice('Question: '.length).replace(/\n$/, ''), sol1: String(ch[0]), sol2: String(ch[1]), label: int(r, 'gold', file, i, expected) };
  });
}

const paths = (h: HarnessProfile): string[] => (atLeast(h.version, '0.4.9') && h.era === 'v0.4' ? ['baber/piqa', 'piqa', 'ybisk/piqa'] : ['piqa', 'baber/piqa', 'ybisk/piqa']);
const text = (d: PiqaDoc): string => `Question: ${d.goal}\nAnswer:`;
const choices = (d: PiqaDoc): string[] => [d.sol1, d.sol2];

export const piqa: Task<PiqaDoc> = {
  name: 'piqa',
  outputType: 'multiple_choice',
  defaultFewshot: 0,
  fixedFewshot: false,
  sampler: 'random',
  drawExtra: true,
  version: (h) => (h.era === 'old' ? 0 : 1.0),
  loadEval: (src, h) =>
    loadSplit(src, { paths: paths(h), name: null, split: 'validation' }, 'piqa', fromHf, [
      { rels: ['llm-foundry/piqa.jsonl'], load: (f) => ({ docs: fromFoundry(f), files: [f], caveats: [`${f}: llm-foundry form of PIQA validation (goal recovered from "Question: <goal>\\n")`] }) },
    ]),
  loadFewshot: (src, h) => loadFewshotSplit(src, { paths: paths(h), name: null, split: 'train' }, 'piqa', fromHf),
  description: () => '',
  fewshotExample: (d) => `${text(d)} ${choices(d)[d.label]}`,
  requests: (d, prefix) => choiceRequests(prefix + text(d), choices(d)),
  target: (d) => String(d.label),
  process: (d, resps) => mcResult(resps, choices(d), d.label, true),
  metrics: () => accMetrics(true),
  filters: () => ['none'],
  config: (h) =>
    mcConfig({ task: 'piqa', dataset_path: paths(h)[0]!, training_split: 'train', validation_split: 'validation', doc_to_text: 'Question: {{goal}}\nAnswer:', doc_to_target: 'label', doc_to_choice: '{{[sol1, sol2]}}', metrics: accMetrics(true), version: h.era === 'old' ? 0 : 1.0 }),
};
