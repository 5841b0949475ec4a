/**
 * GSM8K, generative (eval-spec §3.6 and §4.4; harness `lm_eval/tasks/gsm8k/gsm8k.yaml` v1.0–v3.0,
 * and the old `lm_eval/tasks/gsm8k.py`). Eval on test, few-shots from train, exactly k drawn.
 */
import { parseJsonl, readText, type Row } from '../data/files.js';
import { exactMatch, regexFilter } from '../metrics.js';
import { pyStrip } from '../pytext.js';
import { atLeast, type HarnessProfile } from '../versions.js';
import { loadFewshotSplit, loadSplit, compact, str } from './common.js';
import type { FilteredResult, MetricSpec, Task } from './types.js';

export interface Gsm8kDoc {
  question: string;
  answer: string;
}

const COLUMNS = 'question, answer (ending in "#### N")';

function fromHf(rows: Row[], file: string): Gsm8kDoc[] {
  return rows.map((r, i) => ({ question: str(r, 'question', file, i, COLUMNS), answer: str(r, 'answer', file, i, COLUMNS) }));
}

/** `regex_pattern: "#### (\-?[0-9\.\,]+)"` (strict-match / get-answer / old ANS_RE). */
export const GSM8K_STRICT = /#### (-?[0-9.,]+)/;
/** `regex_pattern: "(-?[$0-9.,]{2,})|(-?[0-9]+)"` with `group_select: -1` (flexible-extract). */
export const GSM8K_FLEXIBLE = /(-?[$0-9.,]{2,})|(-?[0-9]+)/;
/** `regexes_to_ignore` of v3.0: `","`, `"\$"`, `"(?s).*#### "`, `"\.$"` (Python `$` also matches before a final "\n"). */
export const GSM8K_IGNORE_V3 = [/,/, /\$/, /[\s\S]*#### /, /\.(?=\n?$)/];
const GSM8K_IGNORE_V1 = GSM8K_IGNORE_V3.slice(0, 3);

/** Stop strings per variant. */
export function gsm8kUntil(h: HarnessProfile): string[] {
  if (h.gsm8k === 'old') return [':', 'Question:', 'Question'];
  if (h.gsm8k === 'v3') return ['Question:', '</s>', '<|im_end|>'];
  return ['\n\n', 'Question:'];
}

/** The old harness's `_extract_answer`: first `#### N` match, stripped, commas removed; else "[invalid]". */
export function gsm8kOldExtract(text: string): string {
  const m = GSM8K_STRICT.exec(text);
  return m === null ? '[invalid]' : pyStrip(m[1]!).replaceAll(',', '');
}

const text = (d: Gsm8kDoc): string => `Question: ${d.question}\nAnswer:`;
const paths = (h: HarnessProfile): string[] => (atLeast(h.version, '0.4.10') && h.era === 'v0.4' ? ['openai/gsm8k', 'gsm8k'] : ['gsm8k', 'openai/gsm8k']);
const version = (h: HarnessProfile): number => ({ old: 0, v1: 1.0, v2: 2.0, v3: 3.0 })[h.gsm8k];

export const gsm8k: Task<Gsm8kDoc> = {
  name: 'gsm8k',
  outputType: 'generate_until',
  defaultFewshot: 5,
  fixedFewshot: false,
  sampler: 'random',
  drawExtra: false,
  version,
  loadEval: (src, h) =>
    loadSplit(src, { paths: paths(h), name: 'main', split: 'test' }, 'gsm8k', fromHf, [
      { rels: ['gsm8k/test.jsonl'], load: (f) => ({ docs: fromHf(parseLines(f), f), files: [f], caveats: [] }) },
    ]),
  loadFewshot: (src, h) =>
    loadFewshotSplit(src, { paths: paths(h), name: 'main', split: 'train' }, 'gsm8k', fromHf, [
      { rels: ['gsm8k/train.jsonl'], load: (f) => ({ docs: fromHf(parseLines(f), f), files: [f], caveats: [] }) },
    ]),
  description: () => '',
  fewshotExample: (d) => `${text(d)} ${d.answer}`,
  requests: (d, prefix, h) => [{ type: 'generate_until', context: prefix + text(d), until: gsm8kUntil(h), max_gen_toks: 256 }],
  target: (d) => d.answer,
  process: (d, resps, h): FilteredResult[] => {
    const gen = resps[0] as string;
    if (h.gsm8k === 'old') {
      const pred = gsm8kOldExtract(gen);
      return [{ filter: 'none', filtered: pred, metrics: { acc: pred === gsm8kOldExtract(d.answer) ? 1 : 0 } }];
    }
    const ignore = h.gsm8k === 'v3' ? GSM8K_IGNORE_V3 : GSM8K_IGNORE_V1;
    const strict = regexFilter(gen, GSM8K_STRICT, 0);
    const strictName = h.gsm8k === 'v3' ? 'strict-match' : 'get-answer';
    const out: FilteredResult[] = [{ filter: strictName, filtered: strict, metrics: { exact_match: exactMatch(strict, d.answer, ignore, true) } }];
    if (h.gsm8k === 'v3') {
      const flex = regexFilter(gen, GSM8K_FLEXIBLE, -1);
      out.push({ filter: 'flexible-extract', filtered: flex, metrics: { exact_match: exactMatch(flex, d.answer, ignore, true) } });
    }
    return out;
  },
  metrics: (h): MetricSpec[] => [{ name: h.gsm8k === 'old' ? 'acc' : 'exact_match', aggregation: 'mean', higher_is_better: true }],
  filters: (h) => (h.gsm8k === 'old' ? ['none'] : h.gsm8k === 'v3' ? ['strict-match', 'flexible-extract'] : ['get-answer']),
  config: (h) =>
    compact({
      task: 'gsm8k',
      dataset_path: paths(h)[0],
      dataset_name: 'main',
      training_split: 'train',
      fewshot_split: 'train',
      test_split: 'test',
      doc_to_text: 'Question: {{question}}\nAnswer:',
      doc_to_target: '{{answer}}',
      description: '',
      target_delimiter: ' ',
      fewshot_delimiter: '\n\n',
      num_fewshot: 5,
      metric_list: [
        h.gsm8k === 'old'
          ? { metric: 'acc', aggregation: 'mean', higher_is_better: true }
          : { metric: 'exact_match', aggregation: 'mean', higher_is_better: true, ignore_case: true, ignore_punctuation: false, regexes_to_ignore: [',', '\\$', '(?s).*#### ', ...(h.gsm8k === 'v3' ? ['\\.$'] : [])] },
      ],
      output_type: 'generate_until',
      generation_kwargs: { until: gsm8kUntil(h), do_sample: false, temperature: 0.0, max_gen_toks: 256 },
      repeats: 1,
      filter_list:
        h.gsm8k === 'v3'
          ? [
              { name: 'strict-match', filter: [{ function: 'regex', regex_pattern: '#### (\\-?[0-9\\.\\,]+)' }, { function: 'take_first' }] },
              { name: 'flexible-extract', filter: [{ function: 'regex', group_select: -1, regex_pattern: '(-?[$0-9.,]{2,})|(-?[0-9]+)' }, { function: 'take_first' }] },
            ]
          : h.gsm8k === 'old'
            ? undefined
            : [{ name: 'get-answer', filter: [{ function: 'regex', regex_pattern: '#### (\\-?[0-9\\.\\,]+)' }, { function: 'take_first' }] }],
      metadata: { version: version(h) },
    }),
};


function parseLines(file: string): Row[] {
  return parseJsonl(readText(file), file);
}
