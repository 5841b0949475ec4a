import { Option, type Command } from 'commander';
import { formatBench, runBench, type BenchOptions } from '../../bench/run.js';
import { SYNTHETIC_SHAPES, type SyntheticShape } from '../../bench/synthetic.js';
import { ThreadPool } from '../../kernels/wasm/pool.js';
import { choiceOption, floatOption, intOption } from '../options.js';

/** Parsed flags: the bench options, with the bandwidth in GB/s as typed on the command line. */
type BenchFlags = Omit<BenchOptions, 'model' | 'readBandwidth'> & { readBw?: number; json?: boolean };

/**
 * `relufy bench [MODEL]`: prompt-processing (pp) and generation (tg) tokens/s, median/min/max over
 * repeated runs, weight bandwidth, and with `--peer llama.cpp` the same file on llama.cpp
 * (node-llama-cpp, optional dependency) interleaved run by run, with relufy/llama.cpp ratios.
 */
export function register(program: Command): void {
  program
    .command('bench')
    .description('measure prompt processing (pp) and generation (tg) speed, optionally against llama.cpp on the same file')
    .argument('[model]', 'GGUF file (or use --synthetic)')
    .option('--synthetic <shape>', `write and use a seeded random-weight GGUF of a real shape (${Object.keys(SYNTHETIC_SHAPES).join(', ')})`,
      choiceOption('--synthetic', Object.keys(SYNTHETIC_SHAPES) as SyntheticShape[]))
    .option('--quant <type>', 'weight type of the synthetic model: q8_0, q4_0, f16, f32', choiceOption('--quant', ['q8_0', 'q4_0', 'f16', 'f32'] as const), 'q8_0')
    .option('--layers <n>', 'layers of the synthetic model, at most the real count (default: the real count)', intOption('--layers', 1, 1024))
    .option('--cache-dir <dir>', 'folder for synthetic files (default .relufy-cache/synthetic)')
    .addOption(new Option('-t, --threads <n>', 'threads').argParser(intOption('--threads', 1, 1024)).default(ThreadPool.defaultThreads(), 'number of cores'))
    .option('-p, --n-prompt <n>', 'prompt tokens for pp (0 = skip)', intOption('--n-prompt', 0, 1 << 20), 128)
    .option('-n, --n-gen <n>', 'generated tokens for tg (0 = skip)', intOption('--n-gen', 0, 1 << 20), 32)
    .option('-r, --repetitions <n>', 'timed runs per test', intOption('--repetitions', 1, 1000), 3)
    .option('--peer <engine>', 'also run llama.cpp on the same file: llama.cpp (needs npm install --no-save node-llama-cpp@3)', choiceOption('--peer', ['llama.cpp'] as const))
    .option('--backend <name>', 'relufy backend: wasm, ref', choiceOption('--backend', ['wasm', 'ref'] as const), 'wasm')
    .option('--variant <v>', 'wasm build: auto, simd, relaxed, relaxed-flag (turns on V8 relaxed SIMD in Node 20)',
      choiceOption('--variant', ['auto', 'simd', 'relaxed', 'relaxed-flag'] as const), 'auto')
    .option('--read-bw <GB/s>', 'machine read bandwidth for the % column (default: measured)', floatOption('--read-bw', 0.001))
    .option('--seed <n>', 'seed of the synthetic weights and prompt tokens', intOption('--seed', 0), 1)
    .option('--sparse <mode>', 'also measure sparse decode beside dense on the same load: lossless or predictor', choiceOption('--sparse', ['off', 'lossless', 'predictor'] as const), 'off')
    .option('--active <fraction>', 'synthetic sparsity: seeded random active set of this fraction of FFN neurons per token and layer, computed in full', floatOption('--active', 1e-6, 1))
    .option('--sparse-crossover <f>', 'sparse modes: run a layer densely for a token when more than this fraction of its neurons is active (default 0.4; 1 = always sparse)', floatOption('--sparse-crossover', 0, 1))
    .option('--predictor-rank <n>', 'rank of the synthetic predictors with --sparse predictor --active (default 1024)', intOption('--predictor-rank', 1, 1 << 20))
    .option('--json', 'print JSON')
    .action(async (model: string | undefined, f: BenchFlags) => {
      const log = f.json ? () => {} : (s: string) => process.stderr.write(s + '\n');
      const { readBw, json: _json, ...options } = f;
      const r = await runBench({ ...options, model, readBandwidth: readBw === undefined ? undefined : readBw * 1e9 }, log);
      process.stdout.write((f.json ? JSON.stringify(r, null, 2) : formatBench(r)) + '\n');
    });
}
