import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';
import { FormatError, UsageError, checkReadablePath } from '../../errors.js';
import { generate, loadEngine, SAMPLER_DEFAULTS } from '../../model/index.js';
import { DEFAULT_SPARSE_CROSSOVER } from '../../sparse/lossless.js';
import { formatFfnStats } from '../../sparse/stats.js';
import { choiceOption, collect, floatOption, intOption } from '../options.js';

interface GenerateFlags {
  model?: string;
  prompt?: string;
  file?: string;
  nPredict: number;
  temp: number;
  topK: number;
  topP: number;
  minP: number;
  repeatPenalty: number;
  repeatLastN: number;
  seed?: number;
  threads?: number;
  ctxSize?: number;
  tokenizer?: string;
  backend: 'ref' | 'wasm';
  sparse: 'off' | 'lossless' | 'predictor';
  sparseCrossover?: number;
  hotNeurons?: string;
  sparseThreshold?: number;
  stats?: boolean;
  reversePrompt?: string[];
  ignoreEos?: boolean;
  json?: boolean;
  displayPrompt: boolean;
}

/** The project's shipped dReLU model (models/stories260K-drelu.gguf), used when no -m is given. */
export const DEFAULT_MODEL = fileURLToPath(new URL('../../../models/stories260K-drelu.gguf', import.meta.url));

/** `relufy generate`: llama.cpp `llama-cli`-style text completion, flags named as llama.cpp names them. */
export function register(program: Command): void {
  program
    .command('generate')
    .description('generate text from a prompt (GGUF, llama2.c .bin or Hugging Face folder)')
    .option('-m, --model <path>', 'model: GGUF file, llama2.c .bin, or Hugging Face folder (default: the shipped stories260K dReLU model)')
    .option('-p, --prompt <text>', 'prompt to start from', '')
    .option('-f, --file <path>', 'read the prompt from a file')
    .option('-n, --n-predict <n>', 'tokens to generate (-1 = until EOS or the context is full)', intOption('--n-predict', -1), -1)
    .option('--temp <t>', 'temperature (0 = greedy)', floatOption('--temp', 0), SAMPLER_DEFAULTS.temp)
    .option('--top-k <k>', 'top-k sampling (0 = off)', intOption('--top-k', 0), SAMPLER_DEFAULTS.top_k)
    .option('--top-p <p>', 'top-p (nucleus) sampling (1.0 = off)', floatOption('--top-p', 0, 1), SAMPLER_DEFAULTS.top_p)
    .option('--min-p <p>', 'min-p sampling (0.0 = off)', floatOption('--min-p', 0, 1), SAMPLER_DEFAULTS.min_p)
    .option('--repeat-penalty <r>', 'penalize repeated tokens (1.0 = off)', floatOption('--repeat-penalty', 0), SAMPLER_DEFAULTS.repeat_penalty)
    .option('--repeat-last-n <n>', 'tokens considered for the repeat penalty', intOption('--repeat-last-n', 0), SAMPLER_DEFAULTS.repeat_last_n)
    .option('-s, --seed <n>', 'RNG seed (default: random)', intOption('--seed', 0, 0xffffffff))
    .option('-t, --threads <n>', 'threads (default: all cores; 1 for tiny models, where dispatch costs more than it saves)', intOption('--threads', 1, 256))
    .option('-c, --ctx-size <n>', 'context size in tokens (default: the model\'s trained context, at most 4096)', intOption('--ctx-size', 1))
    .option('--tokenizer <path>', 'tokenizer for models that carry none (llama2.c .bin)')
    .option('--backend <name>', 'kernels: wasm (WebAssembly SIMD, threads) or ref (scalar reference)', choiceOption('--backend', ['wasm', 'ref'] as const), 'wasm')
    .option('--sparse <mode>', 'FFN execution: off (dense), lossless (ReLU-family models: skip neurons whose output is exactly 0) or predictor (models with PowerInfer activation predictors, e.g. PWRI files: compute only the neurons the predictor marks active)', choiceOption('--sparse', ['off', 'lossless', 'predictor'] as const), 'off')
    .option('--sparse-crossover <f>', `lossless: per layer and token, read every up row (down column) when more than this fraction of the neurons has gate > 0 (h != 0) (default ${DEFAULT_SPARSE_CROSSOVER})`, floatOption('--sparse-crossover', 0, 1))
    .option('--sparse-threshold <f>', 'predictor mode: a neuron is computed iff its predictor score fc2·relu(fc1·x) >= this (overrides the file\'s powerinfer.sparse_threshold; default that, else 0)', floatOption('--sparse-threshold'))
    .option('--hot-neurons <profile>', 'order each layer\'s neuron bundles by activation frequency from a `relufy profile` JSON (sparse modes, wasm backend; same output)')
    .option('--stats', 'print per-layer FFN statistics to stderr: active-neuron fraction (mean, min, max over tokens) and FFN bytes read vs dense')
    .option('-r, --reverse-prompt <text>', 'stop when this text is generated (repeatable; the stop text itself is not printed, as with an OpenAI stop)', collect)
    .option('--ignore-eos', 'keep generating after the end-of-sequence token')
    .option('--no-display-prompt', 'do not echo the prompt')
    .option('--json', 'print one JSON object (text, tokens, timings) instead of streaming')
    .action(async (flags: GenerateFlags) => {
      if (!flags.model) {
        if (!existsSync(DEFAULT_MODEL)) throw new UsageError('-m', 'no model given and the shipped default model is missing (relufy generate -m MODEL -p PROMPT)');
        flags.model = DEFAULT_MODEL;
      }
      let prompt = flags.prompt ?? '';
      if (flags.file) {
        checkReadablePath(flags.file, false);
        try {
          prompt = readFileSync(flags.file, 'utf8');
        } catch (e) {
          throw new FormatError(flags.file, `cannot read the prompt file (${(e as NodeJS.ErrnoException).code ?? String(e)})`);
        }
      }
      const engine = await loadEngine(flags.model, {
        backend: flags.backend, threads: flags.threads, tokenizer: flags.tokenizer, maxContext: flags.ctxSize,
        sparse: flags.sparse, sparseCrossover: flags.sparseCrossover, sparseThreshold: flags.sparseThreshold, stats: flags.stats,
        hotNeurons: flags.hotNeurons,
      });
      const trained = engine.config.max_position_embeddings;
      if (flags.ctxSize !== undefined && flags.ctxSize > trained) {
        process.stderr.write(`relufy: warning: --ctx-size ${flags.ctxSize} is larger than the model's trained context (${trained} tokens); output past it may degrade\n`);
      }
      engine.ffnStats?.reset();
      const out = process.stdout;
      if (!flags.json && flags.displayPrompt) out.write(prompt);
      const result = generate(engine, prompt, {
        n_predict: flags.nPredict,
        temp: flags.temp,
        top_k: flags.topK,
        top_p: flags.topP,
        min_p: flags.minP,
        repeat_penalty: flags.repeatPenalty,
        repeat_last_n: flags.repeatLastN,
        seed: flags.seed,
        n_ctx: flags.ctxSize,
        stop: flags.reversePrompt,
        ignore_eos: flags.ignoreEos,
        onText: flags.json ? undefined : (t) => out.write(t),
      });
      const tm = result.timings;
      const stats = engine.ffnStats?.layers();
      if (flags.json) {
        out.write(JSON.stringify({
          prompt, text: result.text, prompt_tokens: result.prompt_tokens, tokens: result.tokens, stop_reason: result.stop_reason, timings: tm,
          ...(stats ? { ffn_stats: stats } : {}),
        }) + '\n');
      } else {
        out.write('\n');
        process.stderr.write(
          `\nprompt: ${tm.prompt_n} tokens in ${tm.prompt_ms.toFixed(1)} ms (${tm.prompt_per_second.toFixed(1)} tokens/s) | ` +
            `generation: ${tm.predicted_n} tokens in ${tm.predicted_ms.toFixed(1)} ms (${tm.predicted_per_second.toFixed(1)} tokens/s) | stop: ${result.stop_reason}\n`,
        );
      }
      if (stats) process.stderr.write(`\nsparse: ${flags.sparse}\n` + formatFfnStats(stats));
    });
}
