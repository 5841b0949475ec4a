/**
 * ARC-Easy / ARC-Challenge (eval-spec §3.1; harness `lm_eval/tasks/arc/arc_easy.yaml`,
 * `arc_challenge.yaml`). Eval on test, few-shots from train, exactly k drawn.
 */
import { FormatError } from '../../errors.js';
import type { Row } from '../data/files.js';
import { parseJsonl, readText } from '../data/files.js';
import { atLeast, type HarnessProfile } from '../versions.js';
import { accMetrics, choiceRequests, choicesStruct, int, loadFewshotSplit, loadSplit, mcConfig, mcResult, str } from './common.js';
import type { Task } from './types.js';

export interface ArcDoc {
  id?: string;
  question: string;
  choices: { text: string[]; label: string[] };
  answerKey: string;
}

const COLUMNS = 'id, question, choices{text[], label[]}, answerKey';

function fromHf(rows: Row[], file: string): ArcDoc[] {
  return rows.map((r, i) => {
    const d: ArcDoc = { id: typeof r['id'] === 'string' ? r['id'] : undefined, question: str(r, 'question', file, i, COLUMNS), choices: choicesStruct(r, file, i, COLUMNS), answerKey: str(r, 'answerKey', file, i, COLUMNS) };
    if (!d.choices.label.includes(d.answerKey)) throw new FormatError(file, `row ${i}: answerKey "${d.answerKey}" is not one of choices.label`);
    return d;
  });
}

/** llm-foundry ICL form `{query: "Question: …", choices: [...], gold}` (labels A, B, … reconstructed). */
function fromFoundry(file: string): ArcDoc[] {
  const expected = 'query ("Question: …"), choices[], gold';
  return parseJsonl(readText(file), file).map((r, i) => {
    const q = str(r, 'query', file, i, expected);
    if (!q.startsWith('Question: ')) throw new FormatError(file, `row ${i}: query does not start with "Question: " (llm-foundry ARC form)`);
    const text = r['choices'];
    if (!Array.isArray(text) || !text.every((t) => typeof t === 'string')) throw new FormatError(file, `row ${i}: choices must be a list of strings`);
    const gold = int(r, 'gold', file, i, expected);
    const label = text.map((_, j) => String.fromCharCode(65 + j));
    if (gold < 0 || gold >= label.length) throw new FormatError(file, `row ${i}: gold ${gold} out of range`);
    return { question: q.slice('Question: '.length), choices: { text: text as string[], label }, answerKey: label[gold]! };
  });
}

function makeArc(name: 'arc_easy' | 'arc_challenge'): Task<ArcDoc> {
  const config = name === 'arc_easy' ? 'ARC-Easy' : 'ARC-Challenge';
  const paths = (h: HarnessProfile): string[] => (atLeast(h.version, '0.4.2') ? ['allenai/ai2_arc', 'ai2_arc'] : ['ai2_arc', 'allenai/ai2_arc']);
  const text = (d: ArcDoc): string => `Question: ${d.question}\nAnswer:`;
  const gold = (d: ArcDoc): number => d.choices.label.indexOf(d.answerKey);
  const foundryFile = `llm-foundry/${name}.jsonl`;
  return {
    name,
    outputType: 'multiple_choice',
    defaultFewshot: 0,
    fixedFewshot: false,
    sampler: 'random',
    drawExtra: false,
    version: (h) => (h.era === 'old' ? 0 : 1.0),
    loadEval: (src, h) =>
      loadSplit(src, { paths: paths(h), name: config, split: 'test' }, name, fromHf, [
        { rels: [foundryFile], load: (f) => ({ docs: fromFoundry(f), files: [f], caveats: [`${f}: llm-foundry form of the ${config} test split; answer labels reconstructed as A, B, …`] }) },
      ]),
    loadFewshot: (src, h) => loadFewshotSplit(src, { paths: paths(h), name: config, split: 'train' }, name, fromHf),
    description: () => '',
    fewshotExample: (d) => `${text(d)} ${d.choices.text[gold(d)]}`,
    requests: (d, prefix) => choiceRequests(prefix + text(d), d.choices.text),
    target: (d) => String(gold(d)),
    process: (d, resps) => mcResult(resps, d.choices.text, gold(d), true),
    metrics: () => accMetrics(true),
    filters: () => ['none'],
    config: (h) =>
      mcConfig({
        task: name,
        dataset_path: paths(h)[0]!,
        dataset_name: config,
        training_split: 'train',
        validation_split: 'validation',
        test_split: 'test',
        doc_to_text: 'Question: {{question}}\nAnswer:',
        doc_to_target: '{{choices.label.index(answerKey)}}',
        doc_to_choice: '{{choices.text}}',
        metrics: accMetrics(true),
        version: h.era === 'old' ? 0 : 1.0,
      }),
  };
}

export const arcEasy = makeArc('arc_easy');
export const arcChallenge = makeArc('arc_challenge');
