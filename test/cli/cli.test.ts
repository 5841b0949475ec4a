import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { hasSharedData, REPO_ROOT, sharedData } from '../paths.js';

/** Runs the CLI as a user would (through tsx, so no build is needed). */
function relufy(...args: string[]): { code: number; stdout: string; stderr: string } {
  return relufyEnv({}, ...args);
}

function relufyEnv(env: Record<string, string>, ...args: string[]): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, ['--import', 'tsx', join(REPO_ROOT, 'src/cli/bin.ts'), ...args], {
    cwd: REPO_ROOT,
    encoding: 'utf8',
    timeout: 120_000,
    env: { ...process.env, ...env },
  });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

const GGUF = sharedData('models', 'stories260K', 'stories260K.gguf');
const have = hasSharedData('models', 'stories260K', 'stories260K.gguf');
const tmp = mkdtempSync(join(tmpdir(), 'relufy-cli-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

describe('relufy generate on stories260K', { skip: !have && 'shared data missing' }, () => {
  const ref = have
    ? (JSON.parse(readFileSync(sharedData('models', 'stories260K', 'reference_greedy.json'), 'utf8')) as {
        cases: { prompt: string; tokens: number[]; prompt_tokens: number[]; text: string }[];
      })
    : { cases: [] };

  test('-p "Once upon a time" -n 64 --temp 0 prints the reference continuation', () => {
    const c = ref.cases.find((x) => x.prompt === 'Once upon a time')!;
    const r = relufy('generate', '-m', GGUF, '-p', 'Once upon a time', '-n', '64', '--temp', '0');
    assert.equal(r.code, 0, r.stderr);
    const out = r.stdout.replace(/\n$/, '');
    assert.ok(out.length > 150, `short output: ${JSON.stringify(out)}`);
    assert.ok(c.text.startsWith(out), `output is not a prefix of the reference text:\n${out}\n---\n${c.text}`);
    assert.match(r.stderr, /prompt: 5 tokens .* tokens\/s\) \| generation: 64 tokens .* tokens\/s\)/);
  });

  test('--json gives the reference token ids', () => {
    const c = ref.cases.find((x) => x.prompt === 'Tom had a red ball')!;
    const r = relufy('generate', '-m', GGUF, '-p', c.prompt, '-n', '20', '--temp', '0', '--json');
    assert.equal(r.code, 0, r.stderr);
    const j = JSON.parse(r.stdout) as { tokens: number[]; prompt_tokens: number[] };
    assert.deepEqual(j.prompt_tokens, c.prompt_tokens);
    assert.deepEqual(j.tokens, c.tokens.slice(c.prompt_tokens.length, c.prompt_tokens.length + 20));
  });

  test('--backend ref and wasm with 1 and 2 threads print the same greedy continuation', () => {
    const outs = [
      relufy('generate', '-m', GGUF, '-p', 'Tom had a red ball', '-n', '40', '--temp', '0', '--backend', 'ref'),
      relufy('generate', '-m', GGUF, '-p', 'Tom had a red ball', '-n', '40', '--temp', '0', '--backend', 'wasm', '-t', '1'),
      relufy('generate', '-m', GGUF, '-p', 'Tom had a red ball', '-n', '40', '--temp', '0', '--backend', 'wasm', '-t', '2'),
    ];
    for (const o of outs) assert.equal(o.code, 0, o.stderr);
    assert.equal(outs[1]!.stdout, outs[0]!.stdout);
    assert.equal(outs[2]!.stdout, outs[0]!.stdout);
  });

  test('llama2.c .bin finds tok512.bin beside it', () => {
    const r = relufy('generate', '-m', sharedData('models', 'stories260K', 'stories260K.bin'), '-p', 'Once upon a time', '-n', '8', '--temp', '0', '--json');
    assert.equal(r.code, 0, r.stderr);
    const c = ref.cases.find((x) => x.prompt === 'Once upon a time')!;
    assert.deepEqual((JSON.parse(r.stdout) as { tokens: number[] }).tokens, c.tokens.slice(5, 13));
  });

  test('a stop string ends generation and is not printed', () => {
    const r = relufy('generate', '-m', GGUF, '-p', 'Once upon a time', '-n', '64', '--temp', '0', '-r', 'Lily');
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'Once upon a time, there was a little girl named \n');
    assert.match(r.stderr, /stop: stop/);
  });

  test('seeded sampling is reproducible', () => {
    const a = relufy('generate', '-m', GGUF, '-p', 'Tom', '-n', '16', '--seed', '42', '--json');
    const b = relufy('generate', '-m', GGUF, '-p', 'Tom', '-n', '16', '--seed', '42', '--json');
    assert.equal(a.code, 0, a.stderr);
    assert.deepEqual(JSON.parse(a.stdout).tokens, JSON.parse(b.stdout).tokens);
  });

  test('info prints architecture, FFN and the tensor table', () => {
    const r = relufy('info', GGUF);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /architecture: llama/);
    assert.match(r.stdout, /FFN:\s+swiglu/);
    assert.match(r.stdout, /blk\.4\.ffn_down\.weight\s+F32\s+\[64, 172\]\s+44032/);
    assert.match(r.stdout, /tokenizer:\s+SentencePiece BPE, 512 tokens/);
  });

  test('tokenize --json matches the reference prompt tokens', () => {
    const r = relufy('tokenize', '-m', sharedData('models', 'stories260K', 'tok512.bin'), '--json', 'Tom had a red ball');
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout), [1, 274, 287, 381, 261, 352, 266, 268, 388]);
    const nb = relufy('tokenize', '-m', GGUF, '--no-bos', 'Tom had a red ball');
    assert.match(nb.stdout, /^\s+274 -> '▁T'/);
  });
});

describe('user errors are one line, exit 1, no stack', () => {
  const oneLine = (r: { code: number; stderr: string }, re: RegExp) => {
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, re);
    assert.ok(!/\n\s+at /.test(r.stderr), `stack trace printed: ${r.stderr}`);
  };
  test('missing model file', () => oneLine(relufy('generate', '-m', join(tmp, 'nope.gguf'), '-p', 'x'), /^relufy: .*nope\.gguf: no such file or folder\n$/));
  test('bad numeric flag', () => oneLine(relufy('generate', '-m', GGUF, '--top-k', 'abc'), /^relufy: --top-k: expected an integer >= 0, got "abc"\n$/));
  test('bad choice', () => oneLine(relufy('generate', '-m', GGUF, '--backend', 'cuda'), /^relufy: --backend: expected one of wasm, ref, got "cuda"\n$/));
  test('not a model', () => {
    const p = join(tmp, 'junk.gguf');
    writeFileSync(p, 'hello, this is not a model at all');
    oneLine(relufy('info', p), /^relufy: .*junk\.gguf: not a GGUF file/);
  });
  test('truncated GGUF', { skip: !have && 'shared data missing' }, () => {
    const p = join(tmp, 'trunc.gguf');
    writeFileSync(p, readFileSync(GGUF).subarray(0, 5000));
    oneLine(relufy('generate', '-m', p, '-p', 'x'), /^relufy: .*trunc\.gguf: /);
  });
  test('unknown option and unknown command: one line, like every other user error', () => {
    oneLine(relufy('generate', '--frobnicate'), /^relufy: unknown option '--frobnicate' \(run with --help for usage\)\n$/);
    oneLine(relufy('frob'), /^relufy: unknown command 'frob'/);
  });
  test('unknown RELUFY_WASM value', () =>
    oneLine(relufyEnv({ RELUFY_WASM: 'bogus' }, 'generate', '-p', 'x', '-n', '1'), /^relufy: RELUFY_WASM: expected one of auto, simd, relaxed, relaxed-flag, got "bogus"\n$/));
});
