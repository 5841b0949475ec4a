import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseCsv } from './data/csv.js';
import { evaluate, type EvalOutput, type TaskResult } from './harness.js';
import { fileDateTime, formatComparison, formatLeaderboard, outputPaths, sanitizeModelName } from './results.js';
import { RecordingLM } from './testing.js';
import { harnessProfile } from './versions.js';

function task(name: string, values: Record<string, number>): TaskResult {
  return { name, alias: name, version: 1, nShot: 0, values, metrics: [], filters: ['none'], nOriginal: 1, nEffective: 1, config: {}, files: [], caveats: [], samples: [], taskHash: '' };
}

test('leaderboard-v1 layout: ×100, MMLU macro, GSM8K acc, plain average', () => {
  const out: EvalOutput = {
    harness: harnessProfile('b281b09'),
    tasks: [task('arc_challenge', { 'acc,none': 0.1, 'acc_norm,none': 0.3 }), task('hellaswag', { 'acc_norm,none': 0.5 }), task('truthfulqa_mc2', { 'acc,none': 0.4 }), task('winogrande', { 'acc,none': 0.6 }), task('gsm8k', { 'acc,none': 0.05 })],
    groups: [{ name: 'mmlu', alias: 'mmlu', version: 'N/A', values: { 'acc,none': 0.9, 'acc_macro,none': 0.25 }, children: [], leaves: [], size: 1 }],
    cacheHits: 0, computed: 0, seconds: 0, limit: null,
  };
  const line = formatLeaderboard('m', out).split('\n')[2]!;
  assert.equal(line, '|m    |  35.00|        30.00|              50.00|        25.00|              40.00|              60.00|          5.00|');
});

test('comparison table shows each sparse mode and Δ against the first', () => {
  const base: EvalOutput = { harness: harnessProfile(), tasks: [task('piqa', { 'acc,none': 0.6, 'acc_stderr,none': 0.01 })], groups: [], cacheHits: 0, computed: 0, seconds: 0, limit: null };
  const sparse: EvalOutput = { ...base, tasks: [task('piqa', { 'acc,none': 0.55, 'acc_stderr,none': 0.01 })] };
  const rows = formatComparison([{ label: 'off', out: base }, { label: 'predictor', out: sparse }]).split('\n');
  assert.equal(rows[2], '|piqa |none  |     0|acc   |   |0.6000|0.0100|   0.5500|0.0100|-0.0500|');
});

test('file naming: sanitized model, datetime, .json kept as given', () => {
  assert.equal(sanitizeModelName('org/model:v1'), 'org__model__v1');
  assert.equal(fileDateTime(new Date(Date.UTC(2025, 0, 2, 3, 4, 5, 678))), '2025-01-02T03-04-05.678000');
  const p = outputPaths('/x/out', 'org/m', new Date(Date.UTC(2025, 0, 2, 3, 4, 5, 678)));
  assert.equal(p.results, '/x/out/org__m/results_2025-01-02T03-04-05.678000.json');
  assert.equal(p.samples('gsm8k'), '/x/out/org__m/samples_gsm8k_2025-01-02T03-04-05.678000.jsonl');
  assert.equal(outputPaths('/x/r.json', 'm').results, '/x/r.json');
});

test('CSV: quotes, doubled quotes, newlines in fields, CRLF, errors with line numbers', () => {
  assert.deepEqual(parseCsv('a,"b,c","d ""e""\nf"\r\n1,,3\n', 'f.csv'), [['a', 'b,c', 'd "e"\nf'], ['1', '', '3']]);
  assert.throws(() => parseCsv('a,"b\n', 'f.csv'), /f\.csv: line 2: unterminated quoted field/);
  assert.throws(() => parseCsv('"a"x,b\n', 'f.csv'), /f\.csv: line 1: unexpected character after a closing quote/);
});

test('gsm8k: strict-match and flexible-extract streams on generated text (v3), acc in the old harness', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'relufy-gsm-'));
  mkdirSync(join(dir, 'gsm8k'));
  writeFileSync(join(dir, 'gsm8k', 'test.jsonl'), [{ question: 'a', answer: 'x\n#### 1,234' }, { question: 'b', answer: '#### 29' }, { question: 'c', answer: '#### 7' }].map((r) => JSON.stringify(r)).join('\n'));
  const gens: Record<string, string> = { a: 'so 1234.\n#### 1,234', b: 'It costs $29.00 in total', c: 'The answer is 7 apples and 8' };
  const lm = new RecordingLM(undefined, (ctx) => gens[ctx.slice('Question: '.length, ctx.indexOf('\n'))]!);
  const out = await evaluate({ tasks: ['gsm8k'], lm, dataDirs: [dir], numFewshot: 0, logSamples: true });
  const v = out.tasks[0]!.values;
  assert.equal(v['exact_match,strict-match'], 1 / 3);
  assert.equal(v['exact_match,flexible-extract'], 1 / 3); // $29.00 ≠ 29 (issue #3214), last number of c is 8
  assert.deepEqual(out.tasks[0]!.samples.map((s) => [s.filter, s.filtered_resps]), [['strict-match', '1,234'], ['flexible-extract', '1,234'], ['strict-match', '[invalid]'], ['flexible-extract', '$29.00'], ['strict-match', '[invalid]'], ['flexible-extract', '8']]);
  const old = await evaluate({ tasks: ['gsm8k'], lm, dataDirs: [dir], numFewshot: 0, harness: harnessProfile('b281b09') });
  assert.equal(old.tasks[0]!.values['acc,none'], 1 / 3);
});
