/**
 * MMLU: 57 subject tasks `mmlu_<subject>` under the groups stem / other / social_sciences /
 * humanities / mmlu (eval-spec §3.5; harness `lm_eval/tasks/mmlu/default/`). Eval on test,
 * few-shots are the first k dev rows (`first_n`), a per-subject description.
 */
import { FormatError } from '../../errors.js';
import { findSplitFiles, readAllRows, readText, type Row } from '../data/files.js';
import { parseCsv } from '../data/csv.js';
import { pyStrip } from '../pytext.js';
import { atLeast, type HarnessProfile } from '../versions.js';
import { accMetrics, choiceRequests, int, loadSplit, mcConfig, mcResult, str, strArray, fewshotHint } from './common.js';
import type { DataSource, LoadedDocs, Task, TaskGroup } from './types.js';

export const MMLU_CATEGORIES: Record<'stem' | 'other' | 'social_sciences' | 'humanities', string[]> = {
  stem: [
    'abstract_algebra', 'anatomy', 'astronomy', 'college_biology', 'college_chemistry', 'college_computer_science',
    'college_mathematics', 'college_physics', 'computer_security', 'conceptual_physics', 'electrical_engineering',
    'elementary_mathematics', 'high_school_biology', 'high_school_chemistry', 'high_school_computer_science',
    'high_school_mathematics', 'high_school_physics', 'high_school_statistics', 'machine_learning',
  ],
  other: [
    'business_ethics', 'clinical_knowledge', 'college_medicine', 'global_facts', 'human_aging', 'management', 'marketing',
    'medical_genetics', 'miscellaneous', 'nutrition', 'professional_accounting', 'professional_medicine', 'virology',
  ],
  social_sciences: [
    'econometrics', 'high_school_geography', 'high_school_government_and_politics', 'high_school_macroeconomics',
    'high_school_microeconomics', 'high_school_psychology', 'human_sexuality', 'professional_psychology',
    'public_relations', 'security_studies', 'sociology', 'us_foreign_policy',
  ],
  humanities: [
    'formal_logic', 'high_school_european_history', 'high_school_us_history', 'high_school_world_history',
    'international_law', 'jurisprudence', 'logical_fallacies', 'moral_disputes', 'moral_scenarios', 'philosophy',
    'prehistory', 'professional_law', 'world_religions',
  ],
};

/** All 57 subjects in alphabetical order (the harness's task order). */
export const MMLU_SUBJECTS: string[] = Object.values(MMLU_CATEGORIES).flat().sort();

export interface MmluDoc {
  question: string;
  subject: string;
  choices: string[];
  /** Gold index 0–3. */
  answer: number;
}

const LETTERS = ['A', 'B', 'C', 'D'];
const COLUMNS = 'question, subject, choices[4], answer (0-3)';

/** `"The following are multiple choice questions (with answers) about " + subject with "_"→" " + ".\n\n"`. */
export function mmluDescription(subject: string): string {
  return `The following are multiple choice questions (with answers) about ${subject.replaceAll('_', ' ')}.\n\n`;
}

/** `doc_to_text`: stripped question, the four lettered choices, `Answer:`. */
export function mmluText(d: MmluDoc): string {
  return `${pyStrip(d.question)}\nA. ${d.choices[0]}\nB. ${d.choices[1]}\nC. ${d.choices[2]}\nD. ${d.choices[3]}\nAnswer:`;
}

function fromHf(subject: string) {
  return (rows: Row[], file: string): MmluDoc[] => {
    const out: MmluDoc[] = [];
    rows.forEach((r, i) => {
      if (typeof r['subject'] === 'string' && r['subject'] !== subject) return; // the `all` config
      const choices = strArray(r['choices'], 'choices', file, i, COLUMNS);
      if (choices.length !== 4) throw new FormatError(file, `row ${i}: expected 4 choices, got ${choices.length}`);
      const answer = typeof r['answer'] === 'string' && LETTERS.includes(r['answer']) ? LETTERS.indexOf(r['answer']) : int(r, 'answer', file, i, COLUMNS);
      out.push({ question: str(r, 'question', file, i, COLUMNS), subject, choices, answer });
    });
    return out;
  };
}

/**
 * The CSV form: either hendrycks' original (no header; question, A, B, C, D, letter) or the
 * reformatted one with header `question,choice0,choice1,choice2,choice3,answer` (answer 0–3).
 * @throws FormatError for a record without 6 fields or a bad answer.
 */
export function mmluFromCsv(file: string, subject: string): MmluDoc[] {
  const rows = parseCsv(readText(file), file).filter((r) => !(r.length === 1 && r[0] === ''));
  const hasHeader = rows.length > 0 && rows[0]!.map((c) => c.trim().toLowerCase()).join(',') === 'question,choice0,choice1,choice2,choice3,answer';
  return rows.slice(hasHeader ? 1 : 0).map((r, i) => {
    const line = i + (hasHeader ? 2 : 1);
    if (r.length !== 6) throw new FormatError(file, `record ${line}: ${r.length} fields (expected question, 4 choices, answer)`);
    const a = r[5]!.trim();
    const answer = LETTERS.includes(a) ? LETTERS.indexOf(a) : /^[0-3]$/.test(a) ? Number(a) : -1;
    if (answer < 0) throw new FormatError(file, `record ${line}: answer "${a}" is not A-D or 0-3`);
    return { question: r[0]!, subject, choices: r.slice(1, 5), answer };
  });
}

const paths = (h: HarnessProfile): string[] => (h.era === 'old' || atLeast(h.version, '0.4.9') ? ['cais/mmlu', 'hails/mmlu_no_train', 'mmlu'] : ['hails/mmlu_no_train', 'cais/mmlu', 'mmlu']);

/** Rows of the `all` config, read once per run for all 57 subjects. */
const allRowsMemo = new Map<string, Promise<Row[]>>();

async function loadSubject(src: DataSource, h: HarnessProfile, subject: string, split: 'test' | 'dev'): Promise<LoadedDocs<MmluDoc>> {
  const conv = fromHf(subject);
  const ref = { paths: paths(h), name: subject, split };
  if (findSplitFiles(src.dataDirs, ref) === null) {
    const all = findSplitFiles(src.dataDirs, { ...ref, name: 'all' });
    if (all !== null) {
      const key = all.join('\n');
      if (!allRowsMemo.has(key)) allRowsMemo.set(key, readAllRows(all));
      return { docs: conv(await allRowsMemo.get(key)!, all[0]!), files: all, caveats: [] };
    }
  }
  const csvRels = [`mmlu/${split}/${subject}_${split}.csv`, `${split}/${subject}_${split}.csv`, `data/${split}/${subject}_${split}.csv`];
  return loadSplit(src, ref, `mmlu_${subject}`, conv, [{ rels: csvRels, load: (f) => ({ docs: mmluFromCsv(f, subject), files: [f], caveats: [] }) }]);
}

function makeSubject(subject: string): Task<MmluDoc> {
  const name = `mmlu_${subject}`;
  return {
    name,
    outputType: 'multiple_choice',
    defaultFewshot: 0,
    fixedFewshot: false,
    sampler: 'first_n',
    drawExtra: false,
    version: (h) => h.mmluSubtaskVersion,
    loadEval: (src, h) => loadSubject(src, h, subject, 'test'),
    loadFewshot: async (src, h) => {
      try {
        return await loadSubject(src, h, subject, 'dev');
      } catch (e) {
        if (e instanceof FormatError) throw new FormatError(e.file, `${e.problem}; ${fewshotHint(name).replace('training', 'dev')}`);
        throw e;
      }
    },
    description: (d) => mmluDescription(d.subject),
    fewshotExample: (d) => `${mmluText(d)} ${LETTERS[d.answer]}`,
    requests: (d, prefix) => choiceRequests(prefix + mmluText(d), LETTERS),
    target: (d) => String(d.answer),
    process: (d, resps) => mcResult(resps, LETTERS, d.answer, false),
    metrics: () => accMetrics(false),
    filters: () => ['none'],
    config: (h) =>
      mcConfig({
        task: name,
        dataset_path: paths(h)[0]!,
        dataset_name: subject,
        test_split: 'test',
        fewshot_split: 'dev',
        doc_to_text: '{{question.strip()}}\nA. {{choices[0]}}\nB. {{choices[1]}}\nC. {{choices[2]}}\nD. {{choices[3]}}\nAnswer:',
        doc_to_target: 'answer',
        doc_to_choice: LETTERS,
        description: mmluDescription(subject),
        metrics: accMetrics(false),
        version: h.mmluSubtaskVersion,
        extra: { fewshot_config: { sampler: 'first_n' } },
      }),
  };
}

export const mmluSubjects: Task<MmluDoc>[] = MMLU_SUBJECTS.map(makeSubject);

const groupVersion = (h: HarnessProfile): number | string => (h.era === 'v0.4' && atLeast(h.version, '0.4.4') ? 2 : h.era === 'old' ? 'N/A' : 0);

/** `mmlu` and its four category groups, all item-weighted (`weight_by_size: True`). */
export const mmluGroups: TaskGroup[] = [
  { name: 'mmlu', alias: 'mmlu', version: groupVersion, children: ['mmlu_humanities', 'mmlu_other', 'mmlu_social_sciences', 'mmlu_stem'], weightBySize: true, metric: 'acc' },
  ...(Object.keys(MMLU_CATEGORIES) as (keyof typeof MMLU_CATEGORIES)[]).sort().map((c) => ({
    name: `mmlu_${c}`,
    alias: ` - ${c}`,
    version: groupVersion,
    children: MMLU_CATEGORIES[c].slice().sort().map((s) => `mmlu_${s}`),
    weightBySize: true,
    metric: 'acc',
  })),
];
