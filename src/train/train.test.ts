import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync, openSync, writeSync, closeSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { tinyModel } from '../../test/fixtures/tiny-model.js';
import { FormatError } from '../errors.js';
import { loadModel, saveGguf } from '../model/index.js';
import { latestCheckpoint, listCheckpoints, readCheckpoint } from './checkpoint.js';
import { convertActivation } from './convert.js';
import { splitDocuments, WindowSampler } from './data.js';
import { GradComputer } from './grad.js';
import { paramsFromModel } from './model.js';
import { train, type LogRecord } from './loop.js';
import { parseRecipe, readRecipe } from './recipe.js';

let dir = '';
const STORY = 'Once upon a time, there was a little cat. The cat liked to run in the sun.\n\nOne day the cat saw a bird. They became friends and played all day.';

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'relufy-train-'));
  saveGguf(join(dir, 'tiny.gguf'), tinyModel({ activation: 'swiglu', seed: 11, hidden_size: 16, intermediate_size: 32, layers: 2 }));
  const stories = Array.from({ length: 40 }, (_, i) => STORY.replace('cat', ['cat', 'dog', 'fox', 'owl'][i % 4]!)).join('\n');
  writeFileSync(join(dir, 'train.txt'), stories);
  writeFileSync(join(dir, 'val.txt'), stories.slice(0, 2000));
});
after(() => rmSync(dir, { recursive: true, force: true }));

function writeRecipe(name: string, steps: number, extra: Record<string, unknown> = {}): string {
  const r = {
    name, activation: 'drelu', seq_len: 16, micro_batch: 2, seed: 5, checkpoint_every: 5, eval_every: 1000,
    validation: { files: ['val.txt'], tokens: 64 },
    phases: [
      { name: 'p1', data: [{ file: 'train.txt', weight: 1 }], tokens: 64 * Math.ceil(steps / 2), batch_tokens: 64, peak_lr: 3e-3, warmup_steps: 2, weight_decay: 0.1, l1: 0.01 },
      { name: 'p2', data: [{ file: 'train.txt', weight: 2 }, { file: 'val.txt', weight: 1 }], tokens: 64 * Math.floor(steps / 2), batch_tokens: 64, peak_lr: 3e-4, warmup_steps: 1, weight_decay: 0.01 },
    ],
    ...extra,
  };
  const p = join(dir, `${name}.json`);
  writeFileSync(p, JSON.stringify(r));
  return p;
}

const trainLosses = (out: string): number[] =>
  readFileSync(join(out, 'log.jsonl'), 'utf8').split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l) as LogRecord)
    .filter((r) => r.type === 'train').map((r) => r.loss);

test('recipe: defaults, relative paths, and one-line errors naming the field', () => {
  const r = parseRecipe({ seq_len: 8, validation: { holdout: 0.1 }, phases: [{ data: [{ file: 'a.txt' }], tokens: 80, batch_tokens: 16, peak_lr: 1e-3 }] }, 'r.json', '/base');
  assert.equal(r.phases[0]!.data[0]!.file, '/base/a.txt');
  assert.equal(r.phases[0]!.min_lr, 1e-4);
  assert.equal(r.keep_checkpoints, 2);
  assert.throws(() => parseRecipe({ seq_len: 8, validation: { holdout: 0.1 }, phases: [{ data: [{ file: 'a' }], tokens: 80, batch_tokens: 12, peak_lr: 1 }] }, 'r.json', '/'),
    (e: Error) => e instanceof FormatError && /batch_tokens: expected a multiple of seq_len/.test(e.message));
  assert.throws(() => parseRecipe({ seq_len: 8, validation: { holdout: 0.1 }, phases: [] }, 'r.json', '/'), /phases: expected a non-empty list/);
  assert.equal(r.phases[0]!.distill, 0);
  assert.throws(() => parseRecipe({ seq_len: 8, validation: { holdout: 0.1 }, phases: [{ data: [{ file: 'a' }], tokens: 80, batch_tokens: 16, peak_lr: 1, distill: 1.5 }] }, 'r.json', '/'),
    (e: Error) => e instanceof FormatError && /phases\[0\]\.distill: expected a weight between 0 and 1/.test(e.message));
});

test('distillation: a teacher equal to the model adds no KL, so the gradient is (1 - a) x the plain one; another teacher changes it', () => {
  const m = convertActivation(loadModel(join(dir, 'tiny.gguf')), 'drelu');
  const params = paramsFromModel(m);
  const B = 2, T = 8, n = B * T, V = m.config.vocab_size;
  const inputs = Int32Array.from({ length: n }, (_, i) => (i * 7 + 3) % V), targets = Int32Array.from({ length: n }, (_, i) => (i * 5 + 1) % V);
  const self = { config: m.config, params };
  const other = { config: loadModel(join(dir, 'tiny.gguf')).config, params }; // same weights, SwiGLU: a different distribution
  const run = (teacher: typeof self | undefined, distill: number): { g: Float32Array; kl: number } => {
    const g = new Float32Array(params.length);
    const r = new GradComputer(m.config, params, g, B, T, teacher).run({ inputs, targets, lossScale: 1 / n, l1: 0, distill, backward: true });
    return { g, kl: r.klSum };
  };
  const plain = run(undefined, 0), same = run(self, 0.75), diff = run(other, 0.75);
  assert.ok(Math.abs(same.kl) < 1e-4 * n, `KL to itself ${same.kl}`);
  assert.ok(diff.kl > 1e-3, `KL to a different teacher ${diff.kl}`);
  let maxRef = 0, maxErr = 0, maxDiff = 0;
  for (let i = 0; i < params.length; i++) {
    maxRef = Math.max(maxRef, Math.abs(plain.g[i]!));
    maxErr = Math.max(maxErr, Math.abs(same.g[i]! - 0.25 * plain.g[i]!));
    maxDiff = Math.max(maxDiff, Math.abs(diff.g[i]! - 0.25 * plain.g[i]!));
  }
  assert.ok(maxErr <= 1e-4 * maxRef, `self-teacher gradient off by ${maxErr} (scale ${maxRef})`);
  assert.ok(maxDiff > 1e-2 * maxRef, 'a different teacher must change the gradient');
});

test('the recipes shipped in recipes/ parse', () => {
  const root = fileURLToPath(new URL('../../recipes/', import.meta.url));
  const shipped = readRecipe(join(root, 'stories260K-drelu.json'));
  assert.equal(shipped.activation, 'drelu');
  const seed = readRecipe(join(root, 'seed-two-phase.example.json'));
  assert.deepEqual(seed.phases.map((p) => [p.peak_lr, p.weight_decay]), [[5e-5, 0.1], [5e-6, 0.01]]);
});

test('data: TinyStories documents split at single newlines; windows cover every start once per epoch', () => {
  assert.deepEqual(splitDocuments('a b\n\nc d\ne f\n\ng\nh'), ['a b\n\nc d', 'e f\n\ng', 'h']);
  const tokens = Int32Array.from({ length: 41 }, (_, i) => i);
  const s = new WindowSampler(tokens, 8, 3, 'x');
  const starts: number[] = [];
  const inp = new Int32Array(8), tgt = new Int32Array(8);
  for (let i = 0; i < 5; i++) {
    s.next(inp, tgt, 0);
    starts.push(inp[0]!);
    assert.equal(tgt[0], inp[0]! + 1);
  }
  assert.deepEqual([...starts].sort((a, b) => a - b), [0, 8, 16, 24, 32]);
  assert.deepEqual(s.state, { epoch: 1, cursor: 0 });
});

test('convert: dense -> dReLU changes only the config (bamboo / relu), and survives GGUF', () => {
  const m = loadModel(join(dir, 'tiny.gguf'));
  const d = convertActivation(m, 'drelu');
  assert.equal(d.config.ffn_activation, 'drelu');
  assert.equal(d.config.architecture, 'bamboo');
  assert.equal(d.tensors, m.tensors);
  saveGguf(join(dir, 'drelu.gguf'), d);
  const back = loadModel(join(dir, 'drelu.gguf'));
  assert.equal(back.config.ffn_activation, 'drelu');
  const r = convertActivation(m, 'reglu');
  assert.deepEqual([r.config.architecture, r.config.hidden_act], ['llama', 'relu']);
});

test('training lowers the loss; 1 and 2 threads give the same first-step loss', async () => {
  const recipe = writeRecipe('learn', 30);
  const a = await train({ recipe, model: join(dir, 'tiny.gguf'), outDir: join(dir, 'learn1'), threads: 1 });
  assert.ok(a.finished && a.valAfter && a.valBefore);
  assert.ok(a.valAfter.loss < a.valBefore.loss - 0.3, `val loss ${a.valBefore.loss} -> ${a.valAfter.loss}`);
  assert.ok(existsSync(join(dir, 'learn1', 'model.gguf')) && statSync(join(dir, 'learn1', 'curves.svg')).size > 1000);
  assert.equal(loadModel(join(dir, 'learn1', 'model.gguf')).config.ffn_activation, 'drelu');
  const b = await train({ recipe, model: join(dir, 'tiny.gguf'), outDir: join(dir, 'learn2'), threads: 2, stopAfter: 3 });
  assert.equal(b.steps, 3);
  const la = trainLosses(join(dir, 'learn1')), lb = trainLosses(join(dir, 'learn2'));
  assert.ok(Math.abs(la[0]! - lb[0]!) < 1e-6 && Math.abs(la[2]! - lb[2]!) < 1e-4, `${la.slice(0, 3)} vs ${lb}`);
});

test('a run killed with SIGKILL and resumed gives the same loss sequence as an uninterrupted run', async () => {
  const steps = 240;
  const recipe = writeRecipe('kill', steps);
  const model = join(dir, 'tiny.gguf');
  await train({ recipe, model, outDir: join(dir, 'whole'), threads: 1 });
  const whole = trainLosses(join(dir, 'whole'));
  assert.equal(whole.length, steps);

  const out = join(dir, 'killed');
  const loop = new URL('./loop.ts', import.meta.url).href;
  const code = `import(${JSON.stringify(loop)}).then((m) => m.train(${JSON.stringify({ recipe, model, outDir: out, threads: 1 })}))`;
  const child = spawn(process.execPath, ['--import', 'tsx', '-e', code], { cwd: fileURLToPath(new URL('../..', import.meta.url)), stdio: 'ignore' });
  const exited = new Promise<void>((res) => child.once('exit', () => res()));
  const logFile = join(out, 'log.jsonl');
  let killedAt = -1;
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 10));
    if (!existsSync(logFile)) continue;
    const n = readFileSync(logFile, 'utf8').split('\n').filter((l) => l.includes('"train"')).length;
    if (n >= 60) {
      child.kill('SIGKILL');
      killedAt = n;
      break;
    }
  }
  await exited;
  assert.ok(killedAt > 0, 'the child was killed mid-run');
  assert.ok(trainLosses(out).length < steps, 'the run was interrupted before the end');
  const ck = listCheckpoints(join(out, 'checkpoints'));
  assert.ok(ck.length > 0);
  const s = await train({ recipe, model, outDir: out, threads: 1, resume: true });
  assert.ok(s.finished);
  assert.deepEqual(trainLosses(out), whole);
});

test('a corrupt or truncated newest checkpoint gives a clear error naming the intact previous one, which resumes', async () => {
  const recipe = writeRecipe('corrupt', 20);
  const out = join(dir, 'corrupt');
  await train({ recipe, model: join(dir, 'tiny.gguf'), outDir: out, threads: 1, stopAfter: 10 });
  const [prev, last] = listCheckpoints(join(out, 'checkpoints'));
  assert.ok(prev && last);
  const fd = openSync(last, 'r+');
  writeSync(fd, Buffer.from([0x55, 0x55]), 0, 2, 200);
  closeSync(fd);
  assert.throws(() => latestCheckpoint(join(out, 'checkpoints')),
    (e: Error) => e instanceof FormatError && /corrupt \(sha256 mismatch\)/.test(e.message) && e.message.includes(`--resume ${prev}`));
  truncateSync(last, 1000);
  assert.throws(() => readCheckpoint(last), (e: Error) => e instanceof FormatError && /truncated/.test(e.message));
  await assert.rejects(train({ recipe, model: join(dir, 'tiny.gguf'), outDir: out, threads: 1, resume: true }), /truncated.*previous checkpoint is intact/);
  assert.equal(readCheckpoint(prev).header.step, 5);
  const s = await train({ recipe, model: join(dir, 'tiny.gguf'), outDir: out, threads: 1, resume: prev });
  assert.ok(s.finished);
});
