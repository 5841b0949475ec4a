import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { hasSharedData, REPO_ROOT, sharedData } from '../../../test/paths.js';

/** Runs `relufy <args>` with only the eval and perplexity commands, in a child process (stdout belongs to the test runner). */
async function run(args: string[]): Promise<{ out: string; err: string }> {
  const code = `
    import { Command } from 'commander';
    import { RelufyError } from './src/errors.ts';
    import { register as e } from './src/cli/commands/eval.ts';
    import { register as p } from './src/cli/commands/perplexity.ts';
    const program = new Command().exitOverride();
    e(program); p(program);
    try { await program.parseAsync(${JSON.stringify(args)}, { from: 'user' }); }
    catch (err) { if (err instanceof RelufyError) { process.stderr.write('relufy: ' + err.message + '\\n'); process.exit(1); } throw err; }`;
  const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], { cwd: REPO_ROOT, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(r.stderr.trim().split('\n').pop());
  return { out: r.stdout, err: r.stderr };
}

const MODEL = sharedData('models', 'stories260K', 'stories260K.gguf');
const skip = hasSharedData('models', 'stories260K', 'stories260K.gguf') && hasSharedData('eval', 'llm-foundry') ? false : 'shared data: stories260K or eval/ not found';

test('relufy eval: user errors print one line naming the option', async () => {
  await assert.rejects(run(['eval', '--tasks', 'piqa']), /^Error: relufy: -m: no model given/);
  await assert.rejects(run(['eval', '-m', 'x.gguf', '--tasks', 'piqa', '--limit', '1.5']), /--limit: expected an item count/);
  await assert.rejects(run(['eval', '-m', 'x.gguf', '--tasks', 'piqa', '--data-dir', '/no/such/dir']), /--data-dir: no such folder/);
});

test('relufy eval on stories260K: table, results JSON, samples, resume', { skip }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'relufy-cli-eval-'));
  const args = ['eval', '-m', MODEL, '--tasks', 'piqa,winogrande', '--limit', '2', '--data-dir', sharedData('eval'), '--max-length', '256', '--cache-dir', join(dir, 'cache'), '-o', join(dir, 'r.json'), '--log-samples', '--no-progress'];
  const first = await run(args);
  assert.match(first.out, /\|  Tasks   \|Version\|Filter\|n-shot\| Metric \|   \|Value \|   \|Stderr\|/);
  assert.match(first.out, /\|piqa      \|      1\|none  \|     0\|acc     \|↑  \|/);
  const json = JSON.parse(readFileSync(join(dir, 'r.json'), 'utf8')) as Record<string, Record<string, unknown>>;
  assert.deepEqual(Object.keys(json['results']!), ['piqa', 'winogrande']);
  assert.deepEqual(json['n-shot'], { piqa: 0, winogrande: 0 });
  assert.equal(json['config']!['harness_version'], '0.4.12');
  assert.match(first.err, /eval: 8 requests computed, 0 from cache/);
  const second = await run(args);
  assert.match(second.err, /resuming with 8 cached responses/);
  assert.match(second.err, /eval: 0 requests computed, 8 from cache/);
  const table = (t: string): string[] => t.split('\n').filter((l) => l.startsWith('|'));
  assert.equal(table(first.out).length, 5);
  assert.deepEqual(table(second.out), table(first.out));
});

test('relufy perplexity prints PPL and nats/token', { skip }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'relufy-cli-ppl-'));
  const file = join(dir, 't.txt');
  writeFileSync(file, readFileSync(sharedData('corpora', 'tinystories', 'tinystories_val_subset.txt'), 'utf8').slice(0, 3000));
  const r = await run(['perplexity', '-m', MODEL, '-f', file, '--ctx', '64', '--chunks', '2']);
  assert.match(r.out, /\[1\][\d.]+,\[2\][\d.]+,\nFinal estimate: PPL = [\d.]+ \+\/- [\d.]+\nnats\/token = [\d.]+ \(62 tokens scored in 2 chunks of 64;/);
  await assert.rejects(run(['perplexity', '-m', MODEL]), /-f: no text file given/);
});
