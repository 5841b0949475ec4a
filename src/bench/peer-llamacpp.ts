import { UsageError } from '../errors.js';

/** What the bench needs from a peer engine: prompt processing and generation timings on token ids. */
export interface BenchPeer {
  readonly name: string;
  /** Seconds to process `tokens` as a prompt from an empty context. */
  pp(tokens: number[]): Promise<number>;
  /** Seconds for n single-token decode steps starting from an empty context with `first`. */
  tg(first: number, n: number): Promise<number>;
  close(): Promise<void>;
}

// The slice of node-llama-cpp v3's API used here (typed locally: it is an optional dependency).
interface NlcSequence {
  clearHistory(): Promise<void>;
  evaluateWithoutGeneratingNewTokens(tokens: number[]): Promise<void>;
  evaluate(tokens: number[], options?: { temperature?: number }): AsyncGenerator<number, void, void>;
}
interface NlcContext {
  getSequence(): NlcSequence;
  dispose(): Promise<void>;
}
interface NlcModel {
  createContext(o: { contextSize: number; batchSize: number; threads: number; sequences: number }): Promise<NlcContext>;
  dispose(): Promise<void>;
}
interface NlcLlama {
  loadModel(o: { modelPath: string; gpuLayers: number }): Promise<NlcModel>;
  dispose(): Promise<void>;
}
interface NlcModule {
  getLlama(o: { gpu: false; build: 'never'; logLevel?: string; maxThreads?: number }): Promise<NlcLlama>;
}

/**
 * The node-llama-cpp module (an optional dependency), imported once.
 * @throws UsageError naming --peer and the install command when it is not installed.
 */
export async function requireLlamaCpp(): Promise<NlcModule> {
  const name = 'node-llama-cpp';
  try {
    return (await import(name)) as NlcModule;
  } catch (e) {
    const why = (e as NodeJS.ErrnoException).code === 'ERR_MODULE_NOT_FOUND' ? 'it is not installed' : (e as Error).message;
    throw new UsageError('--peer', `llama.cpp runs through the optional package node-llama-cpp: ${why} (npm install --no-save node-llama-cpp@3)`);
  }
}

/**
 * llama.cpp through the npm package node-llama-cpp (prebuilt CPU binaries, no download at run time),
 * on the same GGUF file, CPU only, `threads` threads.
 * @throws UsageError when node-llama-cpp is not installed (it is an optional dependency).
 */
export async function llamaCppPeer(modelPath: string, threads: number, contextSize: number): Promise<BenchPeer> {
  const mod = await requireLlamaCpp();
  const llama = await mod.getLlama({ gpu: false, build: 'never', logLevel: 'error', maxThreads: threads });
  const model = await llama.loadModel({ modelPath, gpuLayers: 0 });
  const context = await model.createContext({ contextSize, batchSize: 512, threads, sequences: 1 });
  const seq = context.getSequence();
  return {
    name: 'llama.cpp',
    async pp(tokens) {
      await seq.clearHistory();
      const t0 = performance.now();
      await seq.evaluateWithoutGeneratingNewTokens(tokens);
      return (performance.now() - t0) / 1000;
    },
    async tg(first, n) {
      await seq.clearHistory();
      let count = 0;
      const t0 = performance.now();
      for await (const tok of seq.evaluate([first], { temperature: 0 })) {
        void tok;
        if (++count >= n) break;
      }
      return (performance.now() - t0) / 1000;
    },
    async close() {
      await context.dispose();
      await model.dispose();
      await llama.dispose();
    },
  };
}
