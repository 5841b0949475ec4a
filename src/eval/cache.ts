/**
 * A resumable request cache (the harness's `--use_cache` sqlite, eval-spec §7), as append-only
 * JSONL: one file per namespace (model id + every setting that changes a response), one record
 * per answered request. Killing a run loses at most the record being written; a torn last line is
 * dropped when the file is reopened.
 */
import { createHash } from 'node:crypto';
import { closeSync, existsSync, ftruncateSync, mkdirSync, openSync, readFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import type { Request, Response } from './requests.js';

/** Stable JSON (object keys sorted) so equal values hash equally. */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  const obj = value as Record<string, unknown>;
  return `{${Object.keys(obj).sort().filter((k) => obj[k] !== undefined).map((k) => `${JSON.stringify(k)}:${canonicalJson(obj[k])}`).join(',')}}`;
}

/** sha256 hex of a string (UTF-8). */
export function sha256(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex');
}

/** The cache key of a request: sha256 of its canonical JSON (type and arguments). */
export function requestKey(req: Request): string {
  return sha256(canonicalJson(req));
}

export interface CacheStats {
  /** Records read from disk when the cache was opened. */
  loaded: number;
  /** Lines that could not be parsed (a torn last line counts here). */
  skipped: number;
  hits: number;
  writes: number;
}

export class RequestCache {
  private readonly map = new Map<string, Response>();
  private fd: number | null;
  readonly stats: CacheStats = { loaded: 0, skipped: 0, hits: 0, writes: 0 };

  private constructor(readonly file: string | null) {
    this.fd = null;
  }

  /** A cache that keeps nothing on disk (`--no-cache`). */
  static memory(): RequestCache {
    return new RequestCache(null);
  }

  /**
   * Opens (creating as needed) `<dir>/<sha256(namespace)[:32]>.jsonl`. The first line of a new file
   * records the namespace for humans; records are `{"k": key, "v": response}`. A final line without
   * its newline is cut off before appending.
   * @throws Error from the file system (unwritable directory).
   */
  static open(dir: string, namespace: Record<string, unknown>): RequestCache {
    mkdirSync(dir, { recursive: true });
    const file = join(dir, `${sha256(canonicalJson(namespace)).slice(0, 32)}.jsonl`);
    const cache = new RequestCache(file);
    let text = existsSync(file) ? readFileSync(file, 'utf8') : '';
    const fd = openSync(file, existsSync(file) ? 'r+' : 'w+');
    if (text.length > 0 && !text.endsWith('\n')) {
      const cut = text.lastIndexOf('\n') + 1;
      ftruncateSync(fd, Buffer.byteLength(text.slice(0, cut), 'utf8'));
      cache.stats.skipped++;
      text = text.slice(0, cut);
    }
    for (const line of text.split('\n')) {
      if (line === '') continue;
      try {
        const rec = JSON.parse(line) as { k?: unknown; v?: unknown; x?: unknown };
        if (typeof rec.k === 'string' && (rec.v !== undefined || typeof rec.x === 'string')) {
          cache.map.set(rec.k, decodeRecord(rec.v, rec.x));
          cache.stats.loaded++;
        }
      } catch {
        cache.stats.skipped++;
      }
    }
    closeSync(fd);
    cache.fd = openSync(file, 'a');
    if (text.length === 0) writeSync(cache.fd, `${JSON.stringify({ namespace })}\n`);
    return cache;
  }

  get size(): number {
    return this.map.size;
  }

  /** The cached response for `key`, if any (counts a hit). */
  get(key: string): Response | undefined {
    const v = this.map.get(key);
    if (v !== undefined) this.stats.hits++;
    return v;
  }

  /** Stores a response and appends it to the file as one line. */
  put(key: string, value: Response): void {
    this.map.set(key, value);
    if (this.fd !== null) {
      writeSync(this.fd, `${JSON.stringify({ k: key, ...encodeRecord(value) })}\n`);
      this.stats.writes++;
    }
  }

  close(): void {
    if (this.fd !== null) closeSync(this.fd);
    this.fd = null;
  }
}

/** JSON has no NaN/±Infinity: such a number (bare, or a loglikelihood's logprob) goes to `x` as text. */
function encodeRecord(value: Response): { v?: unknown; x?: string } {
  if (typeof value === 'number' && !Number.isFinite(value)) return { x: String(value) };
  if (typeof value === 'object' && !Number.isFinite(value.logprob)) return { v: { is_greedy: value.is_greedy }, x: String(value.logprob) };
  return { v: value };
}

function decodeRecord(v: unknown, x: unknown): Response {
  if (typeof x !== 'string') return v as Response;
  const num = Number(x);
  if (v !== undefined && typeof v === 'object' && v !== null) return { logprob: num, is_greedy: Boolean((v as { is_greedy?: unknown }).is_greedy) };
  return num;
}
