/**
 * `relufy eval`: lm-evaluation-harness-compatible evaluation (eval-spec; issue 5). Prints the
 * harness's results table, writes its results JSON and per-sample JSONL, resumes from a request
 * cache, and with several `--sparse` modes prints them side by side.
 */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Command } from 'commander';
import cliProgress from 'cli-progress';
import { UsageError } from '../../errors.js';
import { loadEngine, type SparseMode } from '../../model/index.js';
import { RequestCache } from '../../eval/cache.js';
import { evaluate, type EvalOutput } from '../../eval/harness.js';
import { EngineLM } from '../../eval/requests.js';
import { buildResultsJson, caveatNotes, formatComparison, formatLeaderboard, formatTables, LEADERBOARD_V1, writeOutputs, type ResultsMeta } from '../../eval/results.js';
import { harnessProfile } from '../../eval/versions.js';
import { choiceOption, collect, floatOption, intOption } from '../options.js';

interface EvalFlags {
  model?: string;
  tasks?: string;
  preset?: 'leaderboard-v1';
  numFewshot?: number;
  limit?: number;
  output?: string;
  logSamples?: boolean;
  harnessVersion?: string;
  dataDir?: string[];
  cacheDir: string;
  cache: boolean;
  sparse: string;
  sparseThreshold?: number;
  addBos: 'auto' | 'true' | 'false';
  maxLength?: number;
  tokenizer?: string;
  backend: 'ref' | 'wasm';
  threads?: number;
  progress: boolean;
}

const SPARSE_MODES: readonly SparseMode[] = ['off', 'lossless', 'predictor'];

/** `--limit`: an item count (integer ≥ 1) or a fraction in (0, 1). */
function limitOption(value: string): number {
  const v = Number(value);
  if (value.trim() === '' || !Number.isFinite(v) || v <= 0 || (v >= 1 && !Number.isInteger(v))) throw new UsageError('--limit', `expected an item count ≥ 1 or a fraction in (0, 1), got ${JSON.stringify(value)}`);
  return v;
}

function parseSparse(value: string): SparseMode[] {
  const modes = value.split(',').map((s) => s.trim()).filter((s) => s !== '');
  if (modes.length === 0) throw new UsageError('--sparse', 'no mode given (off, lossless, predictor)');
  for (const m of modes) if (!(SPARSE_MODES as readonly string[]).includes(m)) throw new UsageError('--sparse', `expected off, lossless or predictor (comma-separated to compare), got ${JSON.stringify(m)}`);
  return modes as SparseMode[];
}

function outputFor(output: string, mode: SparseMode, multi: boolean): string {
  if (!multi) return output;
  return output.toLowerCase().endsWith('.json') ? output.replace(/\.json$/i, `_sparse-${mode}.json`) : `${output}/sparse-${mode}`;
}

/** Registers `relufy eval`. */
export function register(program: Command): void {
  program
    .command('eval')
    .description('evaluate a model on lm-evaluation-harness tasks (arc_easy, arc_challenge, hellaswag, winogrande, piqa, social_iqa, commonsense_qa, boolq, mmlu, truthfulqa_mc1/mc2, gsm8k, wikitext)')
    .option('-m, --model <path>', 'model: GGUF file, llama2.c .bin, or Hugging Face folder')
    .option('--tasks <list>', 'comma-separated tasks or groups (e.g. arc_challenge,hellaswag,mmlu)')
    .option('--preset <name>', 'leaderboard-v1: the Open LLM Leaderboard v1 six tasks at their shot counts (harness b281b09 unless --harness-version)', choiceOption('--preset', ['leaderboard-v1'] as const))
    .option('--num-fewshot <k>', 'few-shot examples per task (default: each task\'s own)', intOption('--num-fewshot', 0, 1000))
    .option('--limit <n>', 'evaluate only the first N documents per task (or a fraction < 1)', limitOption)
    .option('-o, --output <path>', 'results JSON file (.json), or a folder for the harness layout <dir>/<model>/results_<time>.json')
    .option('--log-samples', 'also write per-sample JSONL (samples_<task>_<time>.jsonl beside the results)')
    .option('--harness-version <v>', 'lm-evaluation-harness behaviour to reproduce: 0.4.0 … 0.4.12, or b281b09 / leaderboard-v1 (default: 0.4.12)')
    .option('--data-dir <dir>', 'folder with the datasets (HF parquet/JSON/JSONL layouts or the ../shared/data/eval forms); repeatable', collect)
    .option('--cache-dir <dir>', 'request cache folder (resumes interrupted runs)', '.relufy-cache/eval')
    .option('--no-cache', 'do not read or write the request cache')
    .option('--sparse <modes>', 'FFN execution: off, lossless, predictor; comma-separated runs each and compares them in one table', 'off')
    .option('--sparse-threshold <f>', 'predictor mode: a neuron is computed iff its predictor score fc2·relu(fc1·x) >= this (overrides the file\'s powerinfer.sparse_threshold; default that, else 0)', floatOption('--sparse-threshold'))
    .option('--add-bos <when>', 'prepend BOS: auto (per harness version), true, false', choiceOption('--add-bos', ['auto', 'true', 'false'] as const), 'auto')
    .option('--max-length <n>', 'max_length in tokens (default: the model\'s context length)', intOption('--max-length', 2))
    .option('--tokenizer <path>', 'tokenizer for models that carry none (llama2.c .bin)')
    .option('--backend <name>', 'kernels: wasm (WebAssembly SIMD) or ref (scalar reference)', choiceOption('--backend', ['wasm', 'ref'] as const), 'wasm')
    .option('-t, --threads <n>', 'threads (fast path)', intOption('-t', 1, 256))
    .option('--no-progress', 'no progress bar')
    .action(async (flags: EvalFlags) => {
      if (!flags.model) throw new UsageError('-m', 'no model given (relufy eval -m MODEL --tasks arc_challenge,hellaswag)');
      if (!flags.tasks && !flags.preset) throw new UsageError('--tasks', 'no tasks given (e.g. --tasks arc_challenge,hellaswag, or --preset leaderboard-v1)');
      const modes = parseSparse(flags.sparse);
      const preset = flags.preset === 'leaderboard-v1';
      const h = harnessProfile(flags.harnessVersion ?? (preset ? 'b281b09' : undefined));
      const tasks = preset ? [...LEADERBOARD_V1.map((c) => c.task), ...(flags.tasks ? flags.tasks.split(',') : [])] : flags.tasks!.split(',');
      const fewshotByTask = preset ? Object.fromEntries(LEADERBOARD_V1.map((c) => [c.task, c.shots])) : undefined;
      const dataDirs = (flags.dataDir ?? ['.']).map((d) => resolve(d));
      for (const d of dataDirs) if (!existsSync(d)) throw new UsageError('--data-dir', `no such folder: ${d}`);
      const runs: { label: string; out: EvalOutput }[] = [];
      const t0 = performance.now();
      for (const mode of modes) {
        const engine = await loadEngine(flags.model, { sparse: mode, sparseThreshold: flags.sparseThreshold, tokenizer: flags.tokenizer, backend: flags.backend, threads: flags.threads });
        const maxLength = flags.maxLength ?? engine.config.max_position_embeddings ?? 2048;
        const addBos = flags.addBos === 'auto' ? (h.bosDefault === false ? false : 'tokenizer') : flags.addBos === 'true';
        const lm = new EngineLM(engine, { addBos, prefixToken: h.prefixToken, maxLength, emptyContextReusesPrefix: h.emptyContextReusesPrefix }, { harness_version: h.version, sparse: mode, ...(mode === 'predictor' && flags.sparseThreshold !== undefined ? { sparse_threshold: flags.sparseThreshold } : {}) });
        const cache = flags.cache ? RequestCache.open(resolve(flags.cacheDir), lm.cacheNamespace) : RequestCache.memory();
        if (cache.stats.loaded > 0) process.stderr.write(`eval: resuming with ${cache.stats.loaded} cached responses from ${cache.file}\n`);
        const bar = flags.progress && process.stderr.isTTY ? new cliProgress.SingleBar({ format: `${modes.length > 1 ? `[${mode}] ` : ''}{task} |{bar}| {percentage}% | {value}/{total} requests | ETA {eta_formatted} | elapsed {duration_formatted}`, etaBuffer: 200, hideCursor: true, stream: process.stderr }, cliProgress.Presets.shades_classic) : null;
        let started = false;
        const startDate = Date.now() / 1000;
        let out: EvalOutput;
        try {
          out = await evaluate({
            tasks,
            lm,
            dataDirs,
            numFewshot: flags.numFewshot,
            fewshotByTask,
            limit: flags.limit,
            harness: h,
            cache,
            logSamples: flags.logSamples,
            warn: (m) => process.stderr.write(`eval: ${m}\n`),
            onProgress: (p) => {
              if (bar === null) return;
              if (!started) {
                bar.start(p.total, p.done, { task: p.task });
                started = true;
              } else bar.update(p.done, { task: p.task });
            },
          });
        } finally {
          bar?.stop();
          cache.close();
        }
        runs.push({ label: `sparse=${mode}`, out });
        const meta: ResultsMeta = {
          model: flags.model,
          modelArgs: `pretrained=${flags.model},sparse=${mode}${mode === 'predictor' && flags.sparseThreshold !== undefined ? `,sparse_threshold=${flags.sparseThreshold}` : ''},backend=${flags.backend}${flags.tokenizer ? `,tokenizer=${flags.tokenizer}` : ''}`,
          maxLength,
          addBos: lm.bosEnabled(),
          sparse: mode,
          cacheDir: flags.cache ? resolve(flags.cacheDir) : null,
          bosToken: tokenPair(engine.tokenizer.vocab.tokens, engine.tokenizer.vocab.bos_token_id),
          eosToken: tokenPair(engine.tokenizer.vocab.tokens, engine.tokenizer.vocab.eos_token_id),
          padToken: tokenPair(engine.tokenizer.vocab.tokens, engine.tokenizer.vocab.pad_token_id),
          eotTokenId: engine.tokenizer.vocab.eos_token_id,
          startDate,
        };
        if (modes.length === 1) {
          process.stdout.write(`relufy (pretrained=${flags.model},sparse=${mode}), harness ${h.version}, limit: ${flags.limit ?? 'None'}, num_fewshot: ${preset ? 'preset' : (flags.numFewshot ?? 'None')}, batch_size: 1, max_length: ${maxLength}, add_bos: ${lm.bosEnabled()}\n`);
          process.stdout.write(`${formatTables(out)}\n`);
          if (preset) process.stdout.write(`\nOpen LLM Leaderboard v1 layout (×100):\n${formatLeaderboard(flags.model, out)}\n`);
        }
        for (const note of caveatNotes(out.tasks)) process.stdout.write(`${note}\n`);
        if (flags.output) {
          const written = writeOutputs(out, buildResultsJson(out, meta), outputFor(flags.output, mode, modes.length > 1), flags.model);
          process.stderr.write(`eval: wrote ${written.join(', ')}\n`);
        }
        process.stderr.write(`eval: ${out.computed} requests computed, ${out.cacheHits} from cache, ${lm.tokensProcessed} tokens run, ${out.seconds.toFixed(1)} s\n`);
      }
      if (runs.length > 1) {
        process.stdout.write(`relufy (pretrained=${flags.model}), harness ${h.version}, limit: ${flags.limit ?? 'None'}: quality by sparse mode (Δ = mode − ${runs[0]!.label})\n`);
        process.stdout.write(`${formatComparison(runs)}\n`);
        if (preset) for (const r of runs) process.stdout.write(`\n${r.label}:\n${formatLeaderboard(flags.model, r.out)}\n`);
      }
      process.stdout.write(`wall time: ${((performance.now() - t0) / 1000).toFixed(1)} s\n`);
    });
}

function tokenPair(tokens: readonly string[], id: number | null): [string, string] | null {
  return id === null ? null : [tokens[id] ?? '', String(id)];
}
