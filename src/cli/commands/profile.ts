/**
 * `relufy profile -m MODEL -f CORPUS`: per-layer FFN activation profile (neuron frequencies, per-token
 * sparsity, Bamboo's top-k table) saved as JSON, with an HTML report.
 */
import cliProgress from 'cli-progress';
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { FormatError, UsageError } from '../../errors.js';
import { loadModel } from '../../model/index.js';
import { writeProfileReport } from '../../sparse/profile-report.js';
import { DEFAULT_TOPK, formatProfile, profileModel, saveProfile } from '../../sparse/profile.js';
import { tokenizeFile } from '../../train/data.js';
import { intOption } from '../options.js';

interface ProfileFlags {
  model?: string;
  file?: string;
  output: string;
  report?: string;
  ctx: number;
  maxTokens?: number;
  topk: string;
  topkChunks: number;
  tokenizer?: string;
  progress: boolean;
}

/** Parses `100,20,15` into percentages. */
export function parseTopk(s: string): number[] {
  if (s.trim() === '' || s === 'none') return [];
  return s.split(',').map((x) => {
    const v = Number(x);
    if (x.trim() === '' || !(v > 0 && v <= 100)) throw new UsageError('--topk', `expected percentages in (0, 100] separated by commas, got ${JSON.stringify(s)}`);
    return v;
  });
}

/** Registers `relufy profile`. */
export function register(program: Command): void {
  program
    .command('profile')
    .description('profile FFN activation sparsity over a text corpus: per-neuron activation frequency, per-token share of inactive neurons, top-k perplexity table; saves JSON (input to hot-neuron ordering) and an HTML report')
    .option('-m, --model <path>', 'model: GGUF file, llama2.c .bin, or Hugging Face folder')
    .option('-f, --file <path>', 'corpus text file (documents: stories separated by single newlines)')
    .option('-o, --output <file>', 'profile JSON to write', 'profile.json')
    .option('--report <file>', 'HTML report to write (inline SVG plots: per-layer sparsity, neuron-frequency CDF, top-k)')
    .option('-c, --ctx <n>', 'tokens per forward window (fresh KV cache each); also the top-k perplexity chunk length', intOption('--ctx', 4), 512)
    .option('--max-tokens <n>', 'profile at most this many corpus tokens', intOption('--max-tokens', 1))
    .option('--topk <list>', 'top-k table: percentages of neurons kept per token (largest |h|), or none', DEFAULT_TOPK.join(','))
    .option('--topk-chunks <n>', 'perplexity chunks per top-k row', intOption('--topk-chunks', 1), 20)
    .option('--tokenizer <path>', 'tokenizer for models that carry none (llama2.c .bin)')
    .option('--no-progress', 'no progress bar')
    .action(async (flags: ProfileFlags) => {
      if (!flags.model) throw new UsageError('-m', 'no model given (relufy profile -m MODEL -f CORPUS)');
      if (!flags.file) throw new UsageError('-f', 'no corpus given (relufy profile -m MODEL -f CORPUS)');
      const topk = parseTopk(flags.topk);
      const model = loadModel(flags.model, { tokenizer: flags.tokenizer });
      if (!model.tokenizer) throw new UsageError('--tokenizer', `${flags.model} carries no tokenizer`);
      let text: string;
      try {
        text = readFileSync(flags.file, 'utf8');
      } catch (e) {
        throw new FormatError(flags.file, `cannot read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
      }
      const tokens = tokenizeFile(flags.file, model.tokenizer);
      const bar = flags.progress && process.stderr.isTTY
        ? new cliProgress.SingleBar({ format: '{phase} {bar} {percentage}% | {value}/{total} | ETA {eta_formatted}', etaBuffer: 20 }, cliProgress.Presets.shades_classic)
        : null;
      let phase = '';
      const p = profileModel(model, flags.file, text, tokens, {
        ctx: flags.ctx, maxTokens: flags.maxTokens, topk, topkChunks: flags.topkChunks,
        onProgress: (ph, done, total) => {
          if (ph !== phase) {
            if (bar && phase) bar.stop();
            phase = ph;
            bar?.start(total, 0, { phase: ph === 'profile' ? 'profiling tokens' : 'top-k rows    ' });
            if (!bar && flags.progress) process.stderr.write(ph === 'profile' ? `profiling ${total} tokens\n` : `top-k table: ${total} perplexity runs\n`);
          }
          bar?.update(done, {});
        },
      });
      bar?.stop();
      saveProfile(flags.output, p);
      process.stdout.write(formatProfile(p));
      process.stdout.write(`profile written to ${flags.output}\n`);
      if (flags.report) {
        await writeProfileReport(flags.report, p);
        process.stdout.write(`report written to ${flags.report}\n`);
      }
    });
}
