import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { FormatError, UsageError } from '../errors.js';
import { RequestCache } from './cache.js';
import { aggregateGroups, evaluate } from './harness.js';
import { GROUPS } from './tasks/registry.js';
import { buildResultsJson, formatLeaderboard, formatTables, writeOutputs } from './results.js';
import { EngineLM } from './requests.js';
import { RecordingLM, ToyEngine } from './testing.js';
import { harnessProfile } from './versions.js';

const dir = mkdtempSync(join(tmpdir(), 'relufy-eval-harness-'));
function put(rel: string, content: string): void {
  mkdirSync(dirname(join(dir, rel)), { recursive: true });
  writeFileSync(join(dir, rel), content);
}
// Two MMLU subjects in the original hendrycks CSV form (no header, letter answers).
put('mmlu/test/anatomy_test.csv', 'Q1?,a,bb,c,d,A\n"Q2, with comma?",a,b,c,d,B\nQ3?,x,y,z,w,C\n');
put('mmlu/dev/anatomy_dev.csv', 'D1?,a,b,c,d,A\n');
put('mmlu/test/astronomy_test.csv', 'S1?,a,b,c,d,D\n');
put('bad/llm-foundry/piqa.jsonl', '{"query": "Question: x\\n", "choices": ["a", "b"], "gold": 0}\n{not json\n');
put('tqa/truthfulqa/mc_task.json', JSON.stringify([{ question: 'Q?', mc1_targets: { right: 1, wrong: 0 }, mc2_targets: { right: 1, wrong: 0, 'also right': 1 } }]));

/** An LM that prefers the continuation " A" (and "right"), so accuracies are predictable. */
const prefersA = (): RecordingLM => new RecordingLM((_c, x) => (x === ' A' || x === ' right' ? -1 : x === ' also right' ? -2 : -3));

test('per-task means, stderr, the item-weighted group and the macro average', async () => {
  const h = harnessProfile('0.4.9.1');
  const run = await evaluate({ tasks: ['mmlu_anatomy', 'mmlu_astronomy'], lm: prefersA(), dataDirs: [dir], harness: h });
  // Only two STEM subjects have data here, so the group is aggregated over them explicitly.
  const out = { ...run, groups: aggregateGroups([GROUPS.get('mmlu_stem')!], run.tasks, h) };
  const anatomy = out.tasks.find((t) => t.name === 'mmlu_anatomy')!;
  assert.equal(anatomy.values['acc,none'], 1 / 3);
  assert.ok(Math.abs((anatomy.values['acc_stderr,none'] as number) - Math.sqrt(1 / 3) / Math.sqrt(3)) < 1e-12);
  assert.equal(out.tasks.find((t) => t.name === 'mmlu_astronomy')!.values['acc,none'], 0);
  const stem = out.groups.find((g) => g.name === 'mmlu_stem')!;
  assert.equal(stem.values['acc,none'], 1 / 4); // 1 correct of 4 items
  assert.equal(stem.values['acc_macro,none'], (1 / 3 + 0) / 2); // mean of the subject accuracies
  assert.equal(stem.size, 4);
});

test('truthfulqa mc2 mask vs split by harness version; mc1 acc', async () => {
  const run = async (v: string): Promise<number> => {
    const out = await evaluate({ tasks: ['truthfulqa_mc1', 'truthfulqa_mc2'], lm: prefersA(), dataDirs: [join(dir, 'tqa')], harness: harnessProfile(v) });
    assert.equal(out.tasks[0]!.values['acc,none'], 1);
    return out.tasks[1]!.values['acc,none'] as number;
  };
  const e = [Math.exp(-1), Math.exp(-3), Math.exp(-2)];
  const sum = e[0]! + e[1]! + e[2]!;
  assert.ok(Math.abs((await run('0.4.9')) - (e[0]! + e[2]!) / sum) < 1e-12);
  assert.ok(Math.abs((await run('0.4.8')) - e[0]! / sum) < 1e-12);
});

test('--limit as a count and a fraction; n-samples original/effective', async () => {
  const a = await evaluate({ tasks: ['mmlu_anatomy'], lm: prefersA(), dataDirs: [dir], limit: 2 });
  assert.deepEqual([a.tasks[0]!.nOriginal, a.tasks[0]!.nEffective], [3, 2]);
  const b = await evaluate({ tasks: ['mmlu_anatomy'], lm: prefersA(), dataDirs: [dir], limit: 0.5 });
  assert.equal(b.tasks[0]!.nEffective, 2); // ceil(3 * 0.5)
});

test('the request cache makes a rerun compute nothing and give the same numbers', async () => {
  const cacheDir = join(dir, 'cache');
  const engine = new ToyEngine();
  const mk = (): EngineLM => new EngineLM(engine, { addBos: false, prefixToken: 'bos', maxLength: 256, emptyContextReusesPrefix: false });
  const lm = mk();
  const first = await evaluate({ tasks: ['mmlu_anatomy'], lm, dataDirs: [dir], cache: RequestCache.open(cacheDir, lm.cacheNamespace) });
  assert.equal(first.computed, 12);
  const lm2 = mk();
  const second = await evaluate({ tasks: ['mmlu_anatomy'], lm: lm2, dataDirs: [dir], cache: RequestCache.open(cacheDir, lm2.cacheNamespace) });
  assert.equal(second.computed, 0);
  assert.equal(second.cacheHits, 12);
  assert.equal(lm2.tokensProcessed, 0);
  assert.deepEqual(second.tasks[0]!.values, first.tasks[0]!.values);
});

test('results JSON keys, per-sample JSONL, harness-style tables and the leaderboard layout', async () => {
  const run = await evaluate({ tasks: ['mmlu_anatomy', 'mmlu_astronomy'], lm: prefersA(), dataDirs: [dir], logSamples: true, limit: 3 });
  const out = { ...run, groups: aggregateGroups([GROUPS.get('mmlu_stem')!], run.tasks, run.harness) };
  const json = buildResultsJson(out, { model: 'org/m', modelArgs: 'pretrained=org/m', maxLength: 256, addBos: false, sparse: 'off', cacheDir: null, startDate: 1 });
  for (const k of ['results', 'groups', 'group_subtasks', 'configs', 'versions', 'n-shot', 'higher_is_better', 'n-samples', 'config', 'task_hashes', 'model_name_sanitized', 'total_evaluation_time_seconds']) assert.ok(k in json, k);
  const results = json['results'] as Record<string, Record<string, unknown>>;
  assert.deepEqual(Object.keys(results).slice(0, 3), ['mmlu_stem', 'mmlu_anatomy', 'mmlu_astronomy']);
  assert.deepEqual(results['mmlu_anatomy'], { alias: '  - anatomy', 'acc,none': 1 / 3, 'acc_stderr,none': results['mmlu_anatomy']!['acc_stderr,none'] });
  assert.equal(json['model_name_sanitized'], 'org__m');
  assert.equal(typeof json['total_evaluation_time_seconds'], 'string');
  assert.deepEqual((json['group_subtasks'] as Record<string, string[]>)['mmlu_stem'], ['mmlu_anatomy', 'mmlu_astronomy']);
  const written = writeOutputs(out, json, join(dir, 'out', 'r.json'), 'org/m');
  assert.equal(written[0], join(dir, 'out', 'r.json'));
  const samples = readFileSync(written[1]!, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
  assert.equal(samples.length, 3);
  assert.deepEqual(samples[1]!['arguments'], {
    gen_args_0: { arg_0: 'The following are multiple choice questions (with answers) about anatomy.\n\nQ2, with comma?\nA. a\nB. b\nC. c\nD. d\nAnswer:', arg_1: ' A' },
    gen_args_1: { arg_0: 'The following are multiple choice questions (with answers) about anatomy.\n\nQ2, with comma?\nA. a\nB. b\nC. c\nD. d\nAnswer:', arg_1: ' B' },
    gen_args_2: { arg_0: 'The following are multiple choice questions (with answers) about anatomy.\n\nQ2, with comma?\nA. a\nB. b\nC. c\nD. d\nAnswer:', arg_1: ' C' },
    gen_args_3: { arg_0: 'The following are multiple choice questions (with answers) about anatomy.\n\nQ2, with comma?\nA. a\nB. b\nC. c\nD. d\nAnswer:', arg_1: ' D' },
  });
  assert.deepEqual(samples[1]!['resps'], [[['-1.0', 'False']], [['-3.0', 'False']], [['-3.0', 'False']], [['-3.0', 'False']]]);
  assert.equal(samples[1]!['acc'], 0);
  assert.equal(samples[1]!['filter'], 'none');
  assert.equal(formatTables(out), [
    '|    Tasks    |Version|Filter|n-shot| Metric  |   |Value |   |Stderr|',
    '|-------------|------:|------|-----:|---------|---|-----:|---|-----:|',
    '| - stem      |      2|none  |      |acc      |↑  |0.2500|±  |   N/A|',
    '|             |       |none  |      |acc_macro|↑  |0.1667|   |      |',
    '|  - anatomy  |      1|none  |     0|acc      |↑  |0.3333|±  |0.3333|',
    '|  - astronomy|      1|none  |     0|acc      |↑  |0.0000|±  |   N/A|',
    '',
    '|Groups |Version|Filter|n-shot| Metric  |   |Value |   |Stderr|',
    '|-------|------:|------|-----:|---------|---|-----:|---|-----:|',
    '| - stem|      2|none  |      |acc      |↑  |0.2500|±  |   N/A|',
    '|       |       |none  |      |acc_macro|↑  |0.1667|   |      |',
  ].join('\n'));
  assert.ok(formatLeaderboard('m', out).endsWith('|m    |      -|            -|                  -|            -|                  -|                  -|             -|'));
});

test('errors name the file/folder and the expected layout', async () => {
  await assert.rejects(evaluate({ tasks: ['arc_challenge'], lm: prefersA(), dataDirs: [dir] }), (e: unknown) => {
    assert.ok(e instanceof FormatError);
    assert.match(e.message, /no test split for task arc_challenge; expected <data-dir>\/allenai\/ai2_arc\/ARC-Challenge\/test-\*\.parquet .*llm-foundry\/arc_challenge\.jsonl/);
    return true;
  });
  await assert.rejects(evaluate({ tasks: ['piqa'], lm: prefersA(), dataDirs: [join(dir, 'bad')] }), /piqa\.jsonl: line 2: invalid JSON/);
  await assert.rejects(evaluate({ tasks: ['mmlu_anatomy'], lm: prefersA(), dataDirs: [dir], numFewshot: 2 }), /few-shot: 2 examples requested but the pool has 1/);
  await assert.rejects(evaluate({ tasks: ['mmlu_astronomy'], lm: prefersA(), dataDirs: [dir], numFewshot: 1 }), /no dev split for task mmlu_astronomy.*run with --num-fewshot 0/);
  await assert.rejects(evaluate({ tasks: ['nope'], lm: prefersA(), dataDirs: [dir] }), UsageError);
  put('longpiqa/piqa/validation.jsonl', `${JSON.stringify({ goal: 'g', sol1: 'ok', sol2: 'a very long solution that has many more tokens than eight', label: 0 })}\n`);
  const engine = new ToyEngine();
  const lm = new EngineLM(engine, { addBos: false, prefixToken: 'bos', maxLength: 8, emptyContextReusesPrefix: false });
  await assert.rejects(evaluate({ tasks: ['piqa'], lm, dataDirs: [join(dir, 'longpiqa')] }), /^RelufyError: eval: piqa doc 0: a continuation of \d+ tokens is longer than max_length 8/);
  assert.equal(engine.tokensRun, 0); // failed before any model call
  put('badcsv/mmlu/test/anatomy_test.csv', 'Q1?,a,b,c,d,Z\n');
  await assert.rejects(evaluate({ tasks: ['mmlu_anatomy'], lm: prefersA(), dataDirs: [join(dir, 'badcsv')] }), /anatomy_test\.csv: record 1: answer "Z" is not A-D or 0-3/);
});
