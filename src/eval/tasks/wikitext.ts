/**
 * WikiText-2 document-level perplexity (eval-spec §3.11; harness `lm_eval/tasks/wikitext/wikitext.yaml`
 * + `preprocess_wikitext.py`): one rolling-loglikelihood request per page on the detokenized text,
 * word/byte counts from the original page.
 */
import { FormatError } from '../../errors.js';
import { readText, type Row } from '../data/files.js';
import { PY_WS_CLASS, pySplitWhitespace, utf8Length } from '../pytext.js';
import { loadSplit, str } from './common.js';
import type { MetricSpec, Task } from './types.js';

export interface WikitextDoc {
  page: string;
}

const WS = PY_WS_CLASS;
const BRACKETS: [RegExp, string][] = [
  [new RegExp(`\\(${WS}*([^\\)]*?)${WS}*\\)`, 'gu'), '($1)'],
  [new RegExp(`\\[${WS}*([^\\]]*?)${WS}*\\]`, 'gu'), '[$1]'],
  [new RegExp(`\\{${WS}*([^}]*?)${WS}*\\}`, 'gu'), '{$1}'],
  [new RegExp(`"${WS}*([^"]*?)${WS}*"`, 'gu'), '"$1"'],
  [new RegExp(`'${WS}*([^']*?)${WS}*'`, 'gu'), "'$1'"],
];

/** `wikitext_detokenizer`: the harness's replacements, in its order. */
export function wikitextDetokenize(page: string): string {
  let s = page;
  s = s.replaceAll("s '", "s'");
  s = s.replace(/\/' [0-9]\//g, "/'[0-9]/");
  s = s.replaceAll(' @-@ ', '-').replaceAll(' @,@ ', ',').replaceAll(' @.@ ', '.');
  s = s.replaceAll(' : ', ': ').replaceAll(' ; ', '; ').replaceAll(' . ', '. ').replaceAll(' ! ', '! ').replaceAll(' ? ', '? ').replaceAll(' , ', ', ');
  for (const [re, rep] of BRACKETS) s = s.replace(re, rep);
  s = s.replaceAll('= = = =', '====').replaceAll('= = =', '===').replaceAll('= =', '==');
  s = s.replaceAll(' \u00b0 ', '\u00b0');
  s = s.replaceAll(' \n', '\n').replaceAll('\n ', '\n');
  s = s.replaceAll(' N ', ' 1 ');
  s = s.replaceAll(" 's", "'s");
  return s;
}

/** Word count `len(re.split(r"\s+", page))` and UTF-8 byte count of the original page. */
export function wikitextCounts(page: string): { words: number; bytes: number } {
  return { words: pySplitWhitespace(page).length, bytes: utf8Length(page) };
}

/**
 * Pages from a raw `wiki.test.raw`: CRLF → LF, a new page at each level-1 heading line ` = Title = `.
 * @throws FormatError when no heading is found.
 */
export function wikitextPagesFromRaw(file: string): WikitextDoc[] {
  const lines = readText(file).replace(/\r\n/g, '\n').split('\n');
  const pages: string[][] = [];
  for (const line of lines) {
    if (/^ = [^=].* = $/.test(line)) pages.push([]);
    if (pages.length > 0) pages[pages.length - 1]!.push(line);
  }
  if (pages.length === 0) throw new FormatError(file, 'no " = Title = " heading lines: not a WikiText raw file');
  return pages.map((p) => {
    while (p.length > 0 && p[p.length - 1] === '') p.pop();
    return { page: `${p.join('\n')}\n` };
  });
}

const METRICS: MetricSpec[] = [
  { name: 'word_perplexity', aggregation: 'weighted_perplexity', higher_is_better: false },
  { name: 'byte_perplexity', aggregation: 'weighted_perplexity', higher_is_better: false },
  { name: 'bits_per_byte', aggregation: 'bits_per_byte', higher_is_better: false },
];

export const wikitext: Task<WikitextDoc> = {
  name: 'wikitext',
  outputType: 'loglikelihood_rolling',
  defaultFewshot: 0,
  fixedFewshot: true,
  sampler: 'random',
  drawExtra: false,
  version: (h) => (h.era === 'old' ? 1 : 2.0),
  loadEval: (src) =>
    loadSplit(src, { paths: ['EleutherAI/wikitext_document_level', 'wikitext_document_level'], name: 'wikitext-2-raw-v1', split: 'test' }, 'wikitext', (rows: Row[], file) => rows.map((r, i) => ({ page: str(r, 'page', file, i, 'page') })), [
      {
        rels: ['wikitext-2-raw/wiki.test.raw', 'wiki.test.raw', 'wikitext-2-raw-v1/wiki.test.raw'],
        load: (f) => ({
          docs: wikitextPagesFromRaw(f),
          files: [f],
          caveats: [`${f}: pages cut from the raw test file at " = Title = " headings; a copy without the blank " " lines (like ../shared/data's) changes the detokenized text and byte counts slightly, so numbers are close to but not identical with EleutherAI/wikitext_document_level`],
        }),
      },
    ]),
  loadFewshot: () => Promise.reject(new FormatError('wikitext', 'perplexity tasks are zero-shot')),
  description: () => '',
  fewshotExample: () => '',
  requests: (d) => [{ type: 'loglikelihood_rolling', text: wikitextDetokenize(d.page) }],
  target: (d) => wikitextDetokenize(d.page),
  process: (d, resps) => {
    const ll = resps[0] as number;
    const { words, bytes } = wikitextCounts(d.page);
    return [{ filter: 'none', filtered: ll, metrics: { word_perplexity: [ll, words], byte_perplexity: [ll, bytes], bits_per_byte: [ll, bytes] } }];
  },
  metrics: () => METRICS,
  filters: () => ['none'],
  config: (h) => ({
    task: 'wikitext',
    dataset_path: 'EleutherAI/wikitext_document_level',
    dataset_name: 'wikitext-2-raw-v1',
    training_split: 'train',
    validation_split: 'validation',
    test_split: 'test',
    doc_to_text: '',
    doc_to_target: 'preprocess_wikitext.wikitext_detokenizer',
    process_results: 'preprocess_wikitext.process_results',
    description: '',
    target_delimiter: ' ',
    fewshot_delimiter: '\n\n',
    num_fewshot: 0,
    metric_list: METRICS.map((m) => ({ metric: m.name })),
    output_type: 'loglikelihood_rolling',
    repeats: 1,
    should_decontaminate: true,
    doc_to_decontamination_query: '{{page}}',
    metadata: { version: h.era === 'old' ? 1 : 2.0 },
  }),
};
