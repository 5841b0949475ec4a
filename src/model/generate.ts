import { UsageError } from '../errors.js';
import type { Engine, InferenceSession } from './engine-types.js';
import { Sampler, type SamplerOptions } from './sampler.js';

export interface GenerateOptions extends SamplerOptions {
  /** Tokens to generate; -1 = until EOS or the context is full (llama.cpp `-n`, default -1). */
  n_predict?: number;
  /** Stop when the generated text contains one of these; the stop string is not part of the output. */
  stop?: string[];
  /** Prepend BOS to the prompt (default: the tokenizer's `add_bos_token`). */
  add_bos?: boolean;
  /** Keep generating past EOS (llama.cpp `--ignore-eos`). */
  ignore_eos?: boolean;
  /** Context size in tokens (default: the model's max_position_embeddings, at most 4096). */
  n_ctx?: number;
  /** Called with each piece of text as soon as it is complete UTF-8 and cannot be the start of a stop string. */
  onText?: (text: string) => void;
  /** Called with each generated token id. */
  onToken?: (id: number) => void;
  /** Reuse a session (its cache is reset first). */
  session?: InferenceSession;
}

export interface GenerateTimings {
  prompt_n: number;
  prompt_ms: number;
  /** Prompt processing speed, tokens/s. */
  prompt_per_second: number;
  predicted_n: number;
  predicted_ms: number;
  /** Generation speed, tokens/s (first sampled token's forward excluded: it is part of prompt processing). */
  predicted_per_second: number;
}

export interface GenerateResult {
  /** Generated text (prompt not included). */
  text: string;
  prompt_tokens: number[];
  /** Generated token ids (EOS not included). */
  tokens: number[];
  stop_reason: 'eos' | 'stop' | 'length' | 'context';
  timings: GenerateTimings;
}

/**
 * Prompt in, text out: batch prefill of the prompt, then one forward per sampled token
 * (llama.cpp `examples/simple` / llama2.c `generate`).
 * @throws UsageError for an empty prompt without BOS or a prompt longer than the context.
 */
export function generate(engine: Engine, prompt: string, options: GenerateOptions = {}): GenerateResult {
  const tok = engine.tokenizer;
  const sampler = new Sampler(options);
  const nPredict = options.n_predict ?? -1;
  if (!Number.isInteger(nPredict) || nPredict < -1) throw new UsageError('-n', `must be an integer >= -1 (got ${nPredict})`);
  const nCtx = options.n_ctx ?? Math.min(engine.config.max_position_embeddings, 4096);
  const session = options.session ?? engine.createSession({ capacity: nCtx });
  session.reset();

  const promptTokens = tok.encode(prompt, { add_bos: options.add_bos });
  if (promptTokens.length === 0) throw new UsageError('-p', 'the prompt is empty and the tokenizer adds no BOS: nothing to start from');
  if (promptTokens.length >= session.capacity)
    throw new UsageError('-p', `the prompt has ${promptTokens.length} tokens, more than the context size ${session.capacity} allows`);

  const eos = tok.vocab.eos_token_id;
  const stops = (options.stop ?? []).filter((s) => s.length > 0);
  const maxStop = stops.reduce((m, s) => Math.max(m, s.length), 0);
  const decoder = tok.createStreamDecoder();
  // Feed the prompt so the decoder knows where the sequence starts (the dummy-prefix space of the
  // first piece is dropped only there), then discard its text: output is the continuation only.
  for (const id of promptTokens) decoder.push(id);
  let text = '';
  let emitted = 0; // chars of `text` already passed to onText
  const history = [...promptTokens];
  const out: number[] = [];
  let stopReason: GenerateResult['stop_reason'] = 'length';
  let decodeSteps = 0; // one-token forwards, timed as generation

  const t0 = performance.now();
  let logits = session.forward(promptTokens);
  const t1 = performance.now();

  const flushSafe = (final: boolean) => {
    // Hold back a tail that could still grow into a stop string.
    const upto = final ? text.length : Math.max(emitted, text.length - Math.max(0, maxStop - 1));
    if (upto > emitted) {
      options.onText?.(text.slice(emitted, upto));
      emitted = upto;
    }
  };

  while (nPredict < 0 || out.length < nPredict) {
    const id = sampler.sample(logits, history);
    if (id === eos && !options.ignore_eos) {
      stopReason = 'eos';
      break;
    }
    out.push(id);
    history.push(id);
    options.onToken?.(id);
    text += decoder.push(id);
    if (stops.length > 0) {
      const hit = firstStop(text, stops, Math.max(0, emitted - maxStop));
      if (hit >= 0) {
        text = text.slice(0, hit);
        stopReason = 'stop';
        break;
      }
    }
    flushSafe(false);
    if (nPredict >= 0 && out.length >= nPredict) break;
    if (session.length >= session.capacity) {
      stopReason = 'context';
      break;
    }
    logits = session.forward([id]);
    decodeSteps++;
  }
  if (stopReason !== 'stop') text += decoder.flush();
  flushSafe(true);
  const t2 = performance.now();
  const predicted_n = out.length;
  return {
    text,
    prompt_tokens: promptTokens,
    tokens: out,
    stop_reason: stopReason,
    timings: {
      prompt_n: promptTokens.length,
      prompt_ms: t1 - t0,
      prompt_per_second: (promptTokens.length * 1000) / Math.max(1e-9, t1 - t0),
      predicted_n,
      predicted_ms: t2 - t1,
      predicted_per_second: decodeSteps > 0 ? (decodeSteps * 1000) / Math.max(1e-9, t2 - t1) : 0,
    },
  };
}

function firstStop(text: string, stops: string[], from: number): number {
  let best = -1;
  for (const s of stops) {
    const i = text.indexOf(s, from);
    if (i >= 0 && (best < 0 || i < best)) best = i;
  }
  return best;
}
