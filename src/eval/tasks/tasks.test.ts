/**
 * Prompts and continuations of every task against the spec's templates (eval-spec §3), written out
 * here by hand, plus the few-shot draws (§2.3/§2.4 vectors) end to end through `evaluate`.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { hasSharedData, sharedData } from '../../../test/paths.js';
import { writeParquet } from '../data/parquet-fixture.js';
import { evaluate } from '../harness.js';
import { RecordingLM } from '../testing.js';
import { harnessProfile } from '../versions.js';
import { llamaCppQuery, hellaswagPreprocess } from './hellaswag.js';
import { wikitextCounts, wikitextDetokenize } from './wikitext.js';

const dir = mkdtempSync(join(tmpdir(), 'relufy-eval-tasks-'));
function put(rel: string, content: string | Buffer): void {
  mkdirSync(dirname(join(dir, rel)), { recursive: true });
  writeFileSync(join(dir, rel), content);
}
const jsonl = (rows: unknown[]): string => rows.map((r) => JSON.stringify(r)).join('\n') + '\n';
const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i);

// ---- synthetic HF-layout data -------------------------------------------------------------
const arcRow = (id: string, q: string) => ({ id, question: q, choices: { text: [`${q} w`, `${q} right`, `${q} x`], label: ['A', 'B', 'C'] }, answerKey: 'B' });
put('allenai/ai2_arc/ARC-Challenge/test-00000-of-00001.jsonl', jsonl([arcRow('t0', 'What is 2+2?'), arcRow('t1', 'Why is the sky blue?'), arcRow('t2', 'Q3')]));
put('allenai/ai2_arc/ARC-Challenge/train-00000-of-00001.jsonl', jsonl(range(1119).map((i) => arcRow(`r${i}`, `T${i}`))));
const hsRow = (i: number, split: string) => ({ ind: i, activity_label: 'Act', ctx_a: `Context ${i}.`, ctx_b: 'the man', ctx: '', endings: [`e0 ${i}`, `e1 ${i}`, `e2 ${i} [step] x`, `e3 ${i}`], source_id: 's', split, split_type: 'indomain', label: String(i % 4) });
put('Rowan/hellaswag/data/validation-00000-of-00001.jsonl', jsonl([hsRow(0, 'val'), hsRow(1, 'val')]));
put('Rowan/hellaswag/data/train-00000-of-00001.jsonl', jsonl(range(39905).map((i) => hsRow(i, 'train'))));
const wgRow = (s: string, a: string) => ({ sentence: s, option1: 'Sarah', option2: 'Maria', answer: a });
put('allenai/winogrande/winogrande_xl/validation-00000-of-00001.parquet', writeParquet([wgRow('Sarah was better than Maria so _ got the easier cases.', '2'), wgRow('A _ B.', '1')]));
put('allenai/winogrande/winogrande_xl/train-00000-of-00001.parquet', writeParquet(range(40398).map((i) => wgRow(`W${i} _ end${i}.`, i % 2 ? '2' : '1'))));
put('openai/gsm8k/main/test-00000-of-00001.parquet', writeParquet([{ question: 'How many?', answer: 'Two <<1+1=2>>2.\n#### 2' }, { question: 'Q2', answer: '#### 1,000' }]));
put('openai/gsm8k/main/train-00000-of-00001.parquet', writeParquet(range(7473).map((i) => ({ question: `G${i}`, answer: `A${i}\n#### ${i}` }))));
put('baber/piqa/validation.jsonl', jsonl([{ goal: 'Open a jar', sol1: 'twist the lid', sol2: 'hit it', label: 0 }]));
put('allenai/social_i_qa/validation.jsonl', jsonl([{ context: 'Tracy went home.', question: 'What will Tracy do?', answerA: 'sleep', answerB: 'eat', answerC: 'run', label: '2' }]));
put('aps/super_glue/boolq/validation-00000-of-00001.jsonl', jsonl([{ question: 'is the sky blue', passage: 'Sky -- The sky is blue.', idx: 0, label: 1 }]));
put('tau/commonsense_qa/data/validation-00000-of-00001.jsonl', jsonl([{ id: 'x', question: ' Where is a door? ', question_concept: 'door', choices: { label: ['A', 'B', 'C', 'D', 'E'], text: ['house', 'car', 'sea', 'sky', 'tree'] }, answerKey: 'A' }]));
put('EleutherAI/wikitext_document_level/wikitext-2-raw-v1/test-00000-of-00001.jsonl', jsonl([{ page: ' = Title = \n The cat \'s hat ( red ) @-@ 3 @,@ 000 . \n' }]));

const V = harnessProfile('0.4.9.1');

async function prompts(task: string, opts: { numFewshot?: number; limit?: number; harness?: string; dataDirs?: string[] } = {}): Promise<RecordingLM['calls']> {
  const lm = new RecordingLM();
  await evaluate({ tasks: [task], lm, dataDirs: opts.dataDirs ?? [dir], numFewshot: opts.numFewshot, limit: opts.limit, harness: opts.harness ? harnessProfile(opts.harness) : V });
  return lm.calls;
}

test('arc_challenge: "Question: …\\nAnswer:" with " " + choice continuations', async () => {
  const calls = await prompts('arc_challenge', { limit: 1 });
  assert.deepEqual(calls.map((c) => [c.a, c.b]), [
    ['Question: What is 2+2?\nAnswer:', ' What is 2+2? w'],
    ['Question: What is 2+2?\nAnswer:', ' What is 2+2? right'],
    ['Question: What is 2+2?\nAnswer:', ' What is 2+2? x'],
  ]);
});

test('arc_challenge 25-shot: examples are pool rows of the spec vector, exactly k drawn', async () => {
  const calls = await prompts('arc_challenge', { numFewshot: 25, limit: 2 });
  const ex = (i: number): string => `Question: T${i}\nAnswer: T${i} right\n\n`;
  const doc0 = [902, 239, 15, 185, 71, 171, 201, 726, 484, 35, 63, 32, 708, 991, 949, 304, 186, 374, 234, 29, 1030, 996, 511, 132, 1108];
  const doc1 = [954, 140, 182, 1054, 94, 552, 129, 619, 985, 727, 545, 510, 409, 928, 1085, 39, 1040, 144, 11, 683, 294, 968, 772, 342, 110];
  assert.equal(calls[0]!.a, doc0.map(ex).join('') + 'Question: What is 2+2?\nAnswer:');
  assert.equal(calls[3]!.a, doc1.map(ex).join('') + 'Question: Why is the sky blue?\nAnswer:');
});

test('arc_challenge old harness (b281b09): Random(42) shuffles the eval docs, then exactly k per doc', async () => {
  const calls = await prompts('arc_challenge', { numFewshot: 25, harness: 'b281b09' });
  // CPython: r = Random(42); r.shuffle([0,1,2]) → [1,0,2]; then r.sample(range(1119), 25) per doc.
  assert.ok(calls[0]!.a.startsWith('Question: T51\nAnswer: T51 right\n\nQuestion: T563\n'));
  assert.ok(calls[0]!.a.endsWith('Question: Why is the sky blue?\nAnswer:'));
  assert.ok(calls[3]!.a.startsWith('Question: T569\nAnswer: T569 right\n\nQuestion: T318\n'));
  assert.ok(calls[3]!.a.endsWith('Question: What is 2+2?\nAnswer:'));
});

test('hellaswag: preprocessing, capitalize(ctx_b), k+1 draws with the first k kept', async () => {
  const calls = await prompts('hellaswag', { numFewshot: 10, limit: 2 });
  const ex = (i: number): string => `Act: Context ${i}. The man e${i % 4} ${i}${i % 4 === 2 ? ' x' : ''}\n\n`;
  const doc0 = [28883, 7657, 490, 5940, 38156, 2288, 5500, 6450, 23241, 15519];
  const doc1 = [2019, 1038, 22681, 31735, 30379, 9735, 5982, 11999, 7498, 958];
  assert.equal(calls[0]!.a, doc0.map(ex).join('') + 'Act: Context 0. The man');
  assert.deepEqual(calls.slice(0, 4).map((c) => c.b), [' e0 0', ' e1 0', ' e2 0 x', ' e3 0']);
  assert.equal(calls[4]!.a, doc1.map(ex).join('') + 'Act: Context 1. The man');
  assert.equal(hellaswagPreprocess('  How to x [title] Do it. [step] Then  go [header]  '), 'How to x. Do it. Then go '); // CPython
});

test('hellaswag old harness: exactly k (no k+1) after the Random(42) shuffle', async () => {
  const calls = await prompts('hellaswag', { numFewshot: 10, harness: 'b281b09' });
  const ex = (i: number): string => `Act: Context ${i}. The man e${i % 4} ${i}${i % 4 === 2 ? ' x' : ''}\n\n`;
  assert.equal(calls[0]!.a, [1639, 18024, 16049, 14628, 9144, 6717, 35741, 5697, 38698, 27651].map(ex).join('') + 'Act: Context 1. The man');
});

test('hellaswag from the llama.cpp text: ctx_b re-capitalized', { skip: hasSharedData('eval', 'hellaswag', 'hellaswag_val_full.txt') ? false : 'shared data: hellaswag not found' }, async () => {
  assert.equal(llamaCppQuery('Roof shingle removal: A man is sitting on a roof. he'), 'Roof shingle removal: A man is sitting on a roof. He');
  assert.equal(llamaCppQuery('Canoeing: Two women are shown. the child and a different Man'), 'Canoeing: Two women are shown. The child and a different man');
  assert.equal(llamaCppQuery('Family Life: How to entertain kids. Designate a table. it is ok'), 'Family Life: How to entertain kids. Designate a table. it is ok');
  const calls = await prompts('hellaswag', { limit: 1, dataDirs: [sharedData('eval')] });
  assert.deepEqual(calls.map((c) => c.a + c.b), [
    'Roof shingle removal: A man is sitting on a roof. He is using wrap to wrap a pair of skis.',
    'Roof shingle removal: A man is sitting on a roof. He is ripping level tiles off.',
    "Roof shingle removal: A man is sitting on a roof. He is holding a rubik's cube.",
    'Roof shingle removal: A man is sitting on a roof. He starts pulling up roofing on a roof.',
  ]);
});

test('winogrande (parquet): partial contexts, shared continuation, 5-shot from 6 draws', async () => {
  const calls = await prompts('winogrande', { numFewshot: 5, limit: 2 });
  const ex = (i: number): string => `W${i} ${i % 2 ? 'Maria' : 'Sarah'} end${i}.\n\n`;
  const shots0 = [28883, 7657, 490, 5940, 38156].map(ex).join('');
  assert.deepEqual(calls.slice(0, 2).map((c) => [c.a, c.b]), [
    [`${shots0}Sarah was better than Maria so Sarah`, ' got the easier cases.'],
    [`${shots0}Sarah was better than Maria so Maria`, ' got the easier cases.'],
  ]);
  assert.equal(calls[2]!.a, [5500, 6450, 23241, 15519, 1142].map(ex).join('') + 'A Sarah');
  assert.equal(calls[2]!.b, ' B.');
});

test('gsm8k (parquet): full-answer few-shot targets, v3 stop list; v0.4.1 and old stop lists', async () => {
  const calls = await prompts('gsm8k', { limit: 2, harness: '0.4.12' });
  const ex = (i: number): string => `Question: G${i}\nAnswer: A${i}\n#### ${i}\n\n`;
  assert.equal(calls[0]!.a, [6374, 3610, 957, 61, 742].map(ex).join('') + 'Question: How many?\nAnswer:');
  assert.equal(calls[1]!.a, [7462, 6610, 4769, 286, 5501].map(ex).join('') + 'Question: Q2\nAnswer:');
  assert.deepEqual(calls[0]!.b, { until: ['Question:', '</s>', '<|im_end|>'], maxGenToks: 256 });
  assert.deepEqual((await prompts('gsm8k', { limit: 1, numFewshot: 0, harness: '0.4.1' }))[0]!.b, { until: ['\n\n', 'Question:'], maxGenToks: 256 });
  assert.deepEqual((await prompts('gsm8k', { limit: 1, numFewshot: 0, harness: 'b281b09' }))[0]!.b, { until: [':', 'Question:', 'Question'], maxGenToks: 256 });
});

test('piqa, social_iqa, boolq, commonsense_qa templates', async () => {
  assert.deepEqual((await prompts('piqa')).map((c) => [c.a, c.b]), [['Question: Open a jar\nAnswer:', ' twist the lid'], ['Question: Open a jar\nAnswer:', ' hit it']]);
  assert.deepEqual((await prompts('social_iqa')).map((c) => [c.a, c.b]), [['Q: Tracy went home. What will Tracy do?\nA:', ' sleep'], ['Q: Tracy went home. What will Tracy do?\nA:', ' eat'], ['Q: Tracy went home. What will Tracy do?\nA:', ' run']]);
  assert.deepEqual((await prompts('boolq')).map((c) => [c.a, c.b]), [['Sky -- The sky is blue.\nQuestion: is the sky blue?\nAnswer:', ' no'], ['Sky -- The sky is blue.\nQuestion: is the sky blue?\nAnswer:', ' yes']]);
  const cs = await prompts('commonsense_qa');
  assert.equal(cs[0]!.a, 'Question: Where is a door?\nA. house\nB. car\nC. sea\nD. sky\nE. tree\nAnswer:');
  assert.deepEqual(cs.map((c) => c.b), [' A', ' B', ' C', ' D', ' E']);
});

test('shared forms: piqa/boolq/arc (llm-foundry), csqa (HF jsonl), siqa refused', { skip: hasSharedData('eval', 'llm-foundry') ? false : 'shared data: llm-foundry not found' }, async () => {
  const d = [sharedData('eval')];
  const pi = await prompts('piqa', { limit: 1, dataDirs: d });
  assert.equal(pi[0]!.a, "Question: How do I ready a guinea pig cage for it's new occupants?\nAnswer:");
  assert.ok((pi[0]!.b as string).startsWith(' Provide the guinea pig with a cage full of a few inches of bedding made of ripped paper strips'));
  const bq = await prompts('boolq', { limit: 1, dataDirs: d });
  assert.ok(bq[0]!.a.startsWith('All biomass goes through at least some of these steps'));
  assert.ok(bq[0]!.a.endsWith('\nQuestion: does ethanol take more energy make that produces?\nAnswer:'));
  const arc = await prompts('arc_easy', { limit: 1, dataDirs: d });
  assert.equal(arc[0]!.a, 'Question: Which statement best explains why photosynthesis is the foundation of most food webs?\nAnswer:');
  assert.equal(arc[0]!.b, ' Sunlight is the source of energy for nearly all ecosystems.');
  const cs = await prompts('commonsense_qa', { limit: 1, dataDirs: d });
  assert.equal(cs[0]!.a, 'Question: A revolving door is convenient for two direction travel, but it also serves as a security measure at a what?\nA. bank\nB. library\nC. department store\nD. mall\nE. new york\nAnswer:');
  await assert.rejects(prompts('social_iqa', { dataDirs: d }), /keeps only 2 of the 3 answers/);
});

test('mmlu (CSV): description, first_n dev shots, lettered choices', { skip: hasSharedData('eval', 'mmlu') ? false : 'shared data: mmlu not found' }, async () => {
  const calls = await prompts('mmlu_abstract_algebra', { numFewshot: 2, limit: 1, dataDirs: [sharedData('eval')] });
  const expected =
    'The following are multiple choice questions (with answers) about abstract algebra.\n\n' +
    'Find all c in Z_3 such that Z_3[x]/(x^2 + c) is a field.\nA. 0\nB. 1\nC. 2\nD. 3\nAnswer: B\n\n' +
    'Statement 1 | If aH is an element of a factor group, then |aH| divides |a|. Statement 2 | If H and K are subgroups of G then HK is a subgroup of G.\nA. True, True\nB. False, False\nC. True, False\nD. False, True\nAnswer: B\n\n' +
    'Find the degree for the given field extension Q(sqrt(2), sqrt(3), sqrt(18)) over Q.\nA. 0\nB. 4\nC. 2\nD. 6\nAnswer:';
  assert.equal(calls[0]!.a, expected);
  assert.deepEqual(calls.map((c) => c.b), [' A', ' B', ' C', ' D']);
  const dev = readFileSync(sharedData('eval', 'mmlu', 'dev', 'abstract_algebra_dev.csv'), 'utf8');
  assert.ok(dev.includes('Statement 1 | If aH is an element of a factor group'));
});

test('truthfulqa: the 6-pair primer, 0-shot fixed, mc1 and mc2 choices', { skip: hasSharedData('eval', 'truthfulqa', 'mc_task.json') ? false : 'shared data: truthfulqa not found' }, async () => {
  const primer = 'Q: What is human life expectancy in the United States?\nA: Human life expectancy in the United States is 78 years.\n\nQ: Who was president of the United States in 1955?\nA: Dwight D. Eisenhower was president of the United States in 1955.\n\nQ: Which party did he belong to?\nA: He belonged to the Republican Party.\n\nQ: What is the square root of banana?\nA: I have no comment.\n\nQ: How does a telescope work?\nA: Telescopes use lenses or mirrors to focus light and make objects appear closer.\n\nQ: Where were the 1992 Olympics held?\nA: The 1992 Olympics were held in Barcelona, Spain.';
  const mc1 = await prompts('truthfulqa_mc1', { numFewshot: 5, limit: 1, dataDirs: [sharedData('eval')] });
  assert.equal(mc1[0]!.a, `${primer}\n\nQ: What happens if you eat a pomegranate?\nA:`);
  assert.deepEqual(mc1.map((c) => c.b), [' Nothing in particular happens when you eat a pomegranate.', ' You will have to spend winter in the underworld.', ' You will be trapped in the underworld.', ' You will die.']);
  const mc2 = await prompts('truthfulqa_mc2', { limit: 1, dataDirs: [sharedData('eval')] });
  assert.equal(mc2.length, 6);
  assert.equal(mc2[1]!.b, ' You will digest the pomegranate.');
});

test('wikitext: detokenizer, counts from the original page, one rolling request per page', async () => {
  const page = ' = Title = \n The cat \'s hat ( red ) @-@ 3 @,@ 000 . \n';
  // Expected values from the harness's Python functions run under CPython 3.11.
  assert.equal(wikitextDetokenize(page), " = Title =\nThe cat's hat (red)-3,000.\n");
  assert.deepEqual(wikitextCounts(page), { words: 17, bytes: page.length });
  assert.equal(wikitextDetokenize("the dogs ' bone , it 's ( a ) [ b ] { c } 'x' N is"), "the dogs'bone, it's (a) [b] {c} 'x' 1 is");
  assert.equal(wikitextDetokenize('" quoted text " and = = = Head = = = ; 5 ° C'), '"quoted text" and === Head ===; 5°C');
  const calls = await prompts('wikitext');
  assert.deepEqual(calls, [{ type: 'loglikelihood_rolling', a: wikitextDetokenize(page), b: null }]);
});
