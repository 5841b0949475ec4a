/**
 * `relufy perplexity`: token perplexity like llama.cpp's `llama-perplexity` (eval-spec §6):
 * non-overlapping `--ctx` chunks, BOS first, the second half of each chunk scored.
 */
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { FormatError, UsageError } from '../../errors.js';
import { loadEngine, type SparseMode } from '../../model/index.js';
import { perplexity } from '../../eval/perplexity.js';
import { choiceOption, floatOption, intOption } from '../options.js';

interface PerplexityFlags {
  model?: string;
  file?: string;
  ctx: number;
  chunks?: number;
  sparse: SparseMode;
  sparseThreshold?: number;
  tokenizer?: string;
  backend: 'ref' | 'wasm';
  threads?: number;
  json?: boolean;
}

/** Registers `relufy perplexity`. */
export function register(program: Command): void {
  program
    .command('perplexity')
    .description('perplexity of a text file, computed as llama.cpp\'s llama-perplexity does')
    .option('-m, --model <path>', 'model: GGUF file, llama2.c .bin, or Hugging Face folder')
    .option('-f, --file <path>', 'text file (e.g. wiki.test.raw)')
    .option('-c, --ctx <n>', 'chunk length in tokens', intOption('--ctx', 4), 512)
    .option('--chunks <n>', 'evaluate at most this many chunks', intOption('--chunks', 1))
    .option('--sparse <mode>', 'FFN execution: off, lossless, predictor', choiceOption('--sparse', ['off', 'lossless', 'predictor'] as const), 'off')
    .option('--sparse-threshold <f>', 'predictor mode: a neuron is computed iff its predictor score fc2·relu(fc1·x) >= this (overrides the file\'s powerinfer.sparse_threshold; default that, else 0)', floatOption('--sparse-threshold'))
    .option('--tokenizer <path>', 'tokenizer for models that carry none (llama2.c .bin)')
    .option('--backend <name>', 'kernels: wasm (WebAssembly SIMD) or ref (scalar reference)', choiceOption('--backend', ['wasm', 'ref'] as const), 'wasm')
    .option('-t, --threads <n>', 'threads (fast path)', intOption('-t', 1, 256))
    .option('--json', 'print one JSON object instead of the llama.cpp-style log')
    .action(async (flags: PerplexityFlags) => {
      if (!flags.model) throw new UsageError('-m', 'no model given (relufy perplexity -m MODEL -f TEXT_FILE)');
      if (!flags.file) throw new UsageError('-f', 'no text file given (relufy perplexity -m MODEL -f TEXT_FILE)');
      let text: string;
      try {
        text = readFileSync(flags.file, 'utf8');
      } catch (e) {
        throw new FormatError(flags.file, `cannot read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
      }
      const engine = await loadEngine(flags.model, { sparse: flags.sparse, sparseThreshold: flags.sparseThreshold, tokenizer: flags.tokenizer, backend: flags.backend, threads: flags.threads });
      const t0 = performance.now();
      if (!flags.json) process.stderr.write(`perplexity: calculating perplexity over ${flags.chunks ?? 'all'} chunks, n_ctx=${flags.ctx}\n`);
      const r = perplexity(engine, text, {
        nCtx: flags.ctx,
        maxChunks: flags.chunks,
        onChunk: flags.json ? undefined : (i, n, ppl) => process.stdout.write(`[${i}]${ppl.toFixed(4)},${i === n ? '\n' : ''}`),
      });
      const seconds = (performance.now() - t0) / 1000;
      if (flags.json) {
        process.stdout.write(`${JSON.stringify({ ppl: r.ppl, ppl_stderr: r.pplStderr, nats_per_token: r.nllPerToken, tokens: r.tokens, chunks: r.chunks, scored_tokens: r.scoredTokens, n_ctx: r.nCtx, seconds })}\n`);
        return;
      }
      process.stdout.write(`Final estimate: PPL = ${r.ppl.toFixed(4)} +/- ${r.pplStderr.toFixed(5)}\n`);
      process.stdout.write(`nats/token = ${r.nllPerToken.toFixed(4)} (${r.scoredTokens} tokens scored in ${r.chunks} chunks of ${r.nCtx}; ${r.tokens} tokens in the file; ${seconds.toFixed(1)} s)\n`);
    });
}
