/**
 * The three lm-evaluation-harness request types, computed on a relufy `Engine`
 * (eval-spec §2.5 loglikelihood, §2.6 loglikelihood_rolling, §2.7 generate_until; harness
 * `lm_eval/api/model.py` `TemplateLM` and `lm_eval/models/huggingface.py` `HFLM`).
 *
 * One KV-cache session is kept across requests: each new input reuses the longest prefix it shares
 * with the tokens already in the cache (the shared context of a question's choices, or the
 * description + few-shot block shared by consecutive MMLU questions), so only the new tail is run.
 */
import { RelufyError } from '../errors.js';
import type { Engine, InferenceSession } from '../model/engine-types.js';
import { pyRstrip } from './pytext.js';

export interface LoglikelihoodRequest {
  type: 'loglikelihood';
  context: string;
  continuation: string;
}
export interface RollingRequest {
  type: 'loglikelihood_rolling';
  text: string;
}
export interface GenerateRequest {
  type: 'generate_until';
  context: string;
  /** Stop strings, in the order they are applied to cut the output. */
  until: string[];
  /** Maximum generated tokens (harness default 256). */
  max_gen_toks: number;
}
export type Request = LoglikelihoodRequest | RollingRequest | GenerateRequest;

/** `(logprob, is_greedy)`: the continuation's summed log-probability in nats and whether greedy decoding produces it. */
export interface LoglikelihoodResult {
  logprob: number;
  is_greedy: boolean;
}
export type Response = LoglikelihoodResult | number | string;

/** How the model is driven, mirroring `HFLM`'s settings. */
export interface LMSettings {
  /** Prepend BOS when encoding: a fixed choice, or `'tokenizer'` = the vocab's `add_bos_token` (harness ≥ 0.4.9.2). */
  addBos: boolean | 'tokenizer';
  /** Token used for empty contexts and as the rolling-window prefix (`prefix_token_id`). */
  prefixToken: 'bos' | 'eos';
  /** `max_length` in tokens (§2.5.6). */
  maxLength: number;
  /** ≥ 0.4.9.2 empty-context rule (§2.5.3). */
  emptyContextReusesPrefix: boolean;
}

/** Anything that can answer harness requests (the engine-backed LM, or a test double). */
export interface LanguageModel {
  /** Identifies the model and every setting that changes a response, for the request cache. */
  readonly cacheNamespace: Record<string, unknown>;
  loglikelihood(context: string, continuation: string): LoglikelihoodResult;
  loglikelihoodRolling(text: string): number;
  generateUntil(context: string, until: readonly string[], maxGenToks: number): string;
  /** Cheap pre-flight check run on every request before any model call, so a run fails early. */
  checkRequest?(req: Request): void;
  /** Tokens run through the model so far (for throughput reports). */
  readonly tokensProcessed: number;
}

/** Dispatches one request to the model. */
export function runRequest(lm: LanguageModel, req: Request): Response {
  switch (req.type) {
    case 'loglikelihood':
      return lm.loglikelihood(req.context, req.continuation);
    case 'loglikelihood_rolling':
      return lm.loglikelihoodRolling(req.text);
    case 'generate_until':
      return lm.generateUntil(req.context, req.until, req.max_gen_toks);
  }
}

/** Rows of logits are scored a chunk at a time so a long window never holds (T, vocab) at once. */
const SCORE_CHUNK = 128;

/**
 * Log-softmax score of `target` under one logits row, in float64: `x[target] − logsumexp(x)`.
 * Also reports whether `target` is the (first) argmax.
 */
export function logSoftmaxAt(row: Float32Array, target: number): { logprob: number; greedy: boolean } {
  let max = -Infinity;
  let arg = 0;
  for (let i = 0; i < row.length; i++) {
    const v = row[i]!;
    if (v > max) {
      max = v;
      arg = i;
    }
  }
  let sum = 0;
  for (let i = 0; i < row.length; i++) sum += Math.exp(row[i]! - max);
  return { logprob: row[target]! - max - Math.log(sum), greedy: arg === target };
}

/**
 * The harness LM on a relufy engine. Tokenization follows `TemplateLM._encode_pair`, scoring
 * follows `HFLM._loglikelihood_tokens` (left truncation to `max_length + 1`, last token not fed).
 */
export class EngineLM implements LanguageModel {
  readonly cacheNamespace: Record<string, unknown>;
  private readonly session: InferenceSession;
  private readonly cached: number[] = [];
  private readonly vocab: number;
  private processed = 0;

  /**
   * @param extraNamespace settings outside the engine that change outputs (sparse mode, harness version).
   * @throws RelufyError when the model has no BOS/EOS token the settings need.
   */
  constructor(
    private readonly engine: Engine,
    private readonly settings: LMSettings,
    extraNamespace: Record<string, unknown> = {},
  ) {
    this.vocab = engine.config.vocab_size;
    this.session = engine.createSession({ capacity: settings.maxLength });
    if (this.session.capacity < settings.maxLength) {
      throw new RelufyError(`eval: the engine's KV cache holds ${this.session.capacity} tokens, less than max_length ${settings.maxLength}; pass a smaller --max-length`);
    }
    this.cacheNamespace = {
      model: engine.modelId,
      add_bos: this.bosEnabled(),
      prefix_token: this.prefixTokenId(),
      max_length: settings.maxLength,
      ...extraNamespace,
    };
  }

  get tokensProcessed(): number {
    return this.processed;
  }

  /** Whether `encode` prepends BOS (the resolved `add_bos_token`). */
  bosEnabled(): boolean {
    const v = this.engine.tokenizer.vocab;
    if (this.settings.addBos === 'tokenizer') return v.add_bos_token && v.bos_token_id !== null;
    return this.settings.addBos && v.bos_token_id !== null;
  }

  /**
   * `prefix_token_id`: BOS when the tokenizer has one, else EOS; EOS in the old harness.
   * @throws RelufyError when the vocab has neither.
   */
  prefixTokenId(): number {
    const v = this.engine.tokenizer.vocab;
    const id = this.settings.prefixToken === 'bos' ? (v.bos_token_id ?? v.eos_token_id) : (v.eos_token_id ?? v.bos_token_id);
    if (id === null) throw new RelufyError('eval: the tokenizer has neither a BOS nor an EOS token, needed as the prefix token');
    return id;
  }

  /**
   * `tok_encode`: the tokenizer with the BOS rule (§2.5.4). With the tokenizer default, a string that
   * already starts with the BOS text gets no second BOS (harness ≥ 0.4.9.2 `has_bos_prefix`).
   */
  encode(text: string, addBos = this.bosEnabled()): number[] {
    const tok = this.engine.tokenizer;
    let bos = addBos;
    if (bos && this.settings.addBos === 'tokenizer') {
      const id = tok.vocab.bos_token_id;
      if (id !== null && text.startsWith(tok.vocab.tokens[id] ?? '\u0000')) bos = false;
    }
    return tok.encode(text, { add_bos: bos, add_eos: false });
  }

  /**
   * `_encode_pair`: trailing whitespace of the context moves to the continuation; the whole string is
   * encoded and split at the length of the separately encoded context. An empty context becomes the
   * prefix token (§2.5.3).
   */
  encodePair(context: string, continuation: string): { context: number[]; continuation: number[] } {
    if (context === '') {
      const cont = this.encode(continuation, false);
      const prefix = this.prefixTokenId();
      if (this.settings.emptyContextReusesPrefix && cont.length > 0 && cont[0] === prefix) return { context: cont.slice(0, 1), continuation: cont.slice(1) };
      return { context: [prefix], continuation: cont };
    }
    let ctx = context;
    let cont = continuation;
    const stripped = pyRstrip(ctx);
    if (stripped.length < ctx.length) {
      cont = ctx.slice(stripped.length) + cont;
      ctx = stripped;
    }
    const whole = this.encode(ctx + cont);
    const ctxEnc = this.encode(ctx);
    return { context: ctxEnc, continuation: whole.slice(ctxEnc.length) };
  }

  /**
   * Pre-flight: a loglikelihood continuation that alone encodes to more than `max_length` tokens
   * (the harness asserts `len(continuation_enc) <= max_length`).
   * @throws RelufyError naming the limit and suggesting `--max-length`.
   */
  checkRequest(req: Request): void {
    if (req.type !== 'loglikelihood') return;
    const n = this.encode(req.continuation, false).length;
    if (n > this.settings.maxLength) throw new RelufyError(`a continuation of ${n} tokens is longer than max_length ${this.settings.maxLength} (the harness asserts the same); raise --max-length`);
  }

  /** Log-likelihood of `continuation` given `context` (harness `loglikelihood`). */
  loglikelihood(context: string, continuation: string): LoglikelihoodResult {
    const pair = this.encodePair(context, continuation);
    return this.loglikelihoodTokens(pair.context, pair.continuation);
  }

  /**
   * `_loglikelihood_tokens` for one pair: input `(ctx ++ cont)[-(max_length+1):][:-1]`, score the last
   * `len(cont)` positions. An empty continuation scores 0 and is greedy.
   * @throws RelufyError when the continuation alone exceeds max_length.
   */
  loglikelihoodTokens(ctx: readonly number[], cont: readonly number[]): LoglikelihoodResult {
    if (cont.length === 0) return { logprob: 0, is_greedy: true };
    const max = this.settings.maxLength;
    if (cont.length > max) throw new RelufyError(`a continuation of ${cont.length} tokens is longer than max_length ${max} (the harness asserts the same); raise --max-length`);
    const all = [...ctx, ...cont];
    const inp = all.slice(Math.max(0, all.length - (max + 1)), all.length - 1);
    return this.score(inp, inp.length - cont.length, cont);
  }

  /**
   * Rolling log-likelihood of a whole text in nats (`loglikelihood_rolling`, §2.6): disjoint windows
   * of at most `max_length` predicted tokens, the first preceded by the prefix token, each later one
   * with a full `max_length` context.
   */
  loglikelihoodRolling(text: string): number {
    const tokens = this.encode(text);
    const max = this.settings.maxLength;
    let total = 0;
    if (tokens.length === 0) return 0;
    const first = Math.min(max, tokens.length);
    total += this.score([this.prefixTokenId(), ...tokens.slice(0, first - 1)], 0, tokens.slice(0, first)).logprob;
    let predicted = first;
    while (predicted < tokens.length) {
      const pred = Math.min(tokens.length - predicted, max);
      const end = predicted + pred;
      const inp = tokens.slice(end - max - 1, end - 1);
      total += this.score(inp, inp.length - pred, tokens.slice(end - pred, end)).logprob;
      predicted += pred;
    }
    return total;
  }

  /**
   * Greedy generation until a stop string or EOS (§2.7): the context is left-truncated to
   * `max_length − max_gen_toks` tokens; the tokenizer's EOS text is appended to `until`; the decoded
   * text is cut at the first occurrence of each non-empty stop string, in list order.
   */
  generateUntil(context: string, until: readonly string[], maxGenToks: number): string {
    const tok = this.engine.tokenizer;
    const eos = tok.vocab.eos_token_id;
    const stops = [...until];
    if (eos !== null) {
      const eosText = tok.vocab.tokens[eos];
      if (eosText !== undefined && !stops.includes(eosText)) stops.push(eosText);
    }
    const budget = this.settings.maxLength - maxGenToks;
    if (budget <= 0) throw new RelufyError(`eval: max_gen_toks ${maxGenToks} leaves no room for a context in max_length ${this.settings.maxLength}`);
    let ctx = this.encode(context);
    if (ctx.length > budget) ctx = ctx.slice(ctx.length - budget);
    if (ctx.length === 0) ctx = [this.prefixTokenId()];
    const gen: number[] = [];
    let row = this.lastRow(ctx);
    let text = '';
    while (gen.length < maxGenToks) {
      const next = argmaxRow(row);
      if (next === eos) break;
      gen.push(next);
      text = tok.decode(gen);
      if (stops.some((s) => s.length > 0 && text.includes(s))) break;
      if (gen.length >= maxGenToks) break;
      row = this.forwardRows([next], false);
      this.cached.push(next);
    }
    for (const s of stops) if (s.length > 0) text = text.split(s)[0]!;
    return text;
  }

  /** Drops the cache (used between unrelated runs and by tests). */
  reset(): void {
    this.session.reset();
    this.cached.length = 0;
  }

  /** Makes the session hold `inp[0 .. firstNeeded)` (reusing the cached prefix) and returns nothing. */
  private prefill(inp: readonly number[], firstNeeded: number): void {
    let lcp = 0;
    const lim = Math.min(this.cached.length, firstNeeded);
    while (lcp < lim && this.cached[lcp] === inp[lcp]) lcp++;
    if (lcp < this.cached.length) {
      this.session.truncate(lcp);
      this.cached.length = lcp;
    }
    for (let p = lcp; p < firstNeeded; p += 512) {
      const part = inp.slice(p, Math.min(firstNeeded, p + 512));
      this.forwardRows(part, false);
      this.cached.push(...part);
    }
  }

  private lastRow(inp: readonly number[]): Float32Array {
    this.prefill(inp, inp.length - 1);
    const row = this.forwardRows([inp[inp.length - 1]!], false);
    this.cached.push(inp[inp.length - 1]!);
    return row;
  }

  /** Sums log-softmax of `targets` at positions `firstNeeded ..` of `inp` (`targets.length` = inp.length − firstNeeded). */
  private score(inp: readonly number[], firstNeeded: number, targets: readonly number[]): LoglikelihoodResult {
    this.prefill(inp, firstNeeded);
    let logprob = 0;
    let greedy = true;
    for (let p = firstNeeded; p < inp.length; p += SCORE_CHUNK) {
      const part = inp.slice(p, Math.min(inp.length, p + SCORE_CHUNK));
      const logits = this.forwardRows(part, true);
      this.cached.push(...part);
      for (let r = 0; r < part.length; r++) {
        const s = logSoftmaxAt(logits.subarray(r * this.vocab, (r + 1) * this.vocab), targets[p - firstNeeded + r]!);
        logprob += s.logprob;
        greedy &&= s.greedy;
      }
    }
    return { logprob, is_greedy: greedy };
  }

  private forwardRows(tokens: readonly number[], allLogits: boolean): Float32Array {
    this.processed += tokens.length;
    return this.session.forward(tokens.slice(), { allLogits });
  }
}

function argmaxRow(row: Float32Array): number {
  let arg = 0;
  for (let i = 1; i < row.length; i++) if (row[i]! > row[arg]!) arg = i;
  return arg;
}
