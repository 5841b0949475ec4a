/**
 * Bad input, mutation test (engine-spine issue): valid files are truncated at many points and
 * edited at seeded random places (bit flips, random bytes, interesting integers, JSON characters);
 * every mutant goes through the public loader and must either load soundly (see
 * `unsoundLoadReason`) or fail with a clean error: a RelufyError whose one-line message starts with
 * the mutant's path (the folder for a Hugging Face folder). Also: no case may take over 2 s, no load
 * may allocate far more than the file, a worker's memory may grow at most 200 MB, and a hang or
 * crash is reported with its case (each source runs in a worker that is stopped when a case hangs
 * and restarted after it).
 *
 * Seed: RELUFY_MUTATION_SEED (default below); RELUFY_MUTATION_SOURCES=a,b runs only the sources
 * whose name contains a or b; RELUFY_BAD_INPUT_LOG=file appends every failing case as JSON lines.
 * Repro of a listed case: apply its edits (`@offset: old -> new` bytes, hex) or truncation to the
 * source file (sources.ts) and load it.
 */
import assert from 'node:assert/strict';
import { appendFileSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { Worker } from 'node:worker_threads';
import { describeThrown } from './harness.js';
import { STAT, type CaseFailure } from './mutants.js';
import { SOURCE_IDS, SOURCE_NEEDS } from './sources.js';

const SEED = Number(process.env.RELUFY_MUTATION_SEED ?? 20250601);
/** A case running longer than this is a hang: the worker is stopped. */
const HANG_MS = 10_000;
/**
 * Memory a source's run may gain. Measured per worker as V8 heap committed + ArrayBuffers (the
 * process RSS also counts the other worker and each worker's start-up, so it is only reported).
 * Each worker's old generation is capped at 256 MB, so a runaway heap allocation crashes it and is
 * reported at its case; one load's ArrayBuffer growth is checked per case against the file size.
 */
const MEMORY_BUDGET_MB = 200;

const dir = mkdtempSync(join(tmpdir(), 'relufy-bad-input-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** How often a source's run is resumed after a hang or crash before giving up on the rest. */
const MAX_RESTARTS = 3;

/** Totals of one source over all its worker runs. */
interface SourceRun {
  cases: number;
  fileBytes: number;
  ok: number;
  clean: number;
  /** Failing cases, including hangs and crashes (which stop a worker; the run resumes after them). */
  failures: CaseFailure[];
  /** Cases never run (after MAX_RESTARTS). */
  notRun: number;
  problems: [string, number][];
  maxCaseMs: number;
  maxArrayBufferMB: number;
  memGrowthMB: number;
  rssGrowthMB: number;
  totalMs: number;
}

/** One worker over cases startAt.. ; resolves when it finished, crashed, or was stopped on a hang. */
function runWorker(sourceId: string, startAt: number, total: SourceRun): Promise<{ next: number | null }> {
  const stats = new SharedArrayBuffer(8 * STAT.size);
  const st = new Float64Array(stats);
  st[STAT.index] = -1;
  // Worker entry points are not seen by tsx's --import hook in Node 20: register tsx first.
  const tsxApi = import.meta.resolve('tsx/esm/api');
  const entry = new URL('./mutation-worker.ts', import.meta.url).href;
  const boot = `import(${JSON.stringify(tsxApi)}).then((api) => { api.register(); return import(${JSON.stringify(entry)}); })`;
  const worker = new Worker(boot, {
    eval: true,
    workerData: { sourceId, seed: SEED, dir, startAt, stats },
    // a small heap keeps RSS meaningful (GC runs early) and turns a runaway allocation into a crash at its case
    resourceLimits: { maxOldGenerationSizeMb: 256 },
  });
  let labels: string[] = [];
  return new Promise((resolve) => {
    let settled = false;
    const finish = (fatal?: string): void => {
      if (settled) return;
      settled = true;
      clearInterval(timer);
      total.ok += st[STAT.ok]!;
      total.clean += st[STAT.clean]!;
      total.maxCaseMs = Math.max(total.maxCaseMs, st[STAT.maxCaseMs]!);
      total.maxArrayBufferMB = Math.max(total.maxArrayBufferMB, st[STAT.maxArrayBufferMB]!);
      total.memGrowthMB = Math.max(total.memGrowthMB, st[STAT.memGrowthMB]!);
      total.rssGrowthMB = Math.max(total.rssGrowthMB, st[STAT.rssGrowthMB]!);
      const i = st[STAT.index]!;
      if (!fatal) return resolve({ next: null });
      if (i < 0) {
        total.failures.push({ index: -1, label: 'setup', reason: fatal, ms: 0 });
        return resolve({ next: null });
      }
      total.failures.push({ index: i, label: labels[i] ?? '?', reason: fatal, ms: Date.now() - st[STAT.startedAt]! });
      resolve({ next: i + 1 });
    };
    const timer = setInterval(() => {
      if (st[STAT.index]! >= 0 && Date.now() - st[STAT.startedAt]! > HANG_MS) {
        finish(`did not finish within ${HANG_MS / 1000} s (hang); worker stopped`);
        void worker.terminate();
      }
    }, 200);
    worker.on('message', (m: { type: string; labels?: string[]; fileBytes?: number; failure?: CaseFailure; problems?: [string, number][] }) => {
      if (m.type === 'plan') {
        labels = m.labels!;
        total.cases = labels.length;
        total.fileBytes = m.fileBytes!;
      } else if (m.type === 'failure') total.failures.push(m.failure!);
      else if (m.type === 'done') total.problems.push(...m.problems!);
    });
    worker.on('error', (e) => finish(`worker crashed: ${describeThrown(e)}`));
    worker.on('exit', (code) => finish(code === 0 ? undefined : `worker exited with code ${code}`));
  });
}

/** All cases of a source, resuming after hangs and crashes (at most MAX_RESTARTS times). */
async function runSource(sourceId: string): Promise<SourceRun> {
  const total: SourceRun = { cases: 0, fileBytes: 0, ok: 0, clean: 0, failures: [], notRun: 0, problems: [], maxCaseMs: 0, maxArrayBufferMB: 0, memGrowthMB: 0, rssGrowthMB: 0, totalMs: 0 };
  const t0 = Date.now();
  let startAt: number | null = 0;
  for (let restarts = 0; startAt !== null; restarts++) {
    if (restarts > MAX_RESTARTS) {
      total.notRun = total.cases - startAt;
      break;
    }
    startAt = (await runWorker(sourceId, startAt, total)).next;
  }
  total.totalMs = Date.now() - t0;
  return total;
}

function report(id: string, r: SourceRun): string {
  const groups = new Map<string, CaseFailure[]>();
  for (const f of r.failures) {
    // group by the kind of failure: paths and numbers collapsed, cut before the first quoted detail
    const key = f.reason.replace(/\/\S*?(?=:)/g, 'PATH').replace(/\d+/g, 'N').split(/['"]/)[0]!.slice(0, 100);
    const g = groups.get(key);
    if (g) g.push(f);
    else groups.set(key, [f]);
  }
  const lines = [`${r.failures.length} of ${r.cases} mutants of ${id} (${r.fileBytes} bytes) were not handled cleanly${r.notRun ? ` (${r.notRun} not run after ${MAX_RESTARTS} restarts)` : ''}:`];
  let shown = 0;
  for (const [, fs] of groups) {
    if (shown++ >= 25) {
      lines.push(`  ... and ${groups.size - 25} more kinds`);
      break;
    }
    lines.push(`  [${fs.length}x] ${fs[0]!.reason}`);
    for (const f of fs.slice(0, 3)) lines.push(`      case ${f.index}: ${f.label}${f.ms > 1000 ? ` (${f.ms.toFixed(0)} ms)` : ''}`);
  }
  return lines.join('\n');
}

describe(`bad input: seeded mutations (seed ${SEED}) through the public loaders`, { concurrency: 2 }, () => {
  // RELUFY_MUTATION_SOURCES=gguf,HF: only sources whose name contains one of these
  const only = process.env.RELUFY_MUTATION_SOURCES?.split(',').filter(Boolean);
  for (const id of SOURCE_IDS.filter((s) => !only || only.some((o) => s.includes(o)))) {
    const missing = SOURCE_NEEDS[id]!.filter((p) => !existsSync(p));
    test(id, { skip: missing.length > 0 ? `shared data absent: ${missing.join(', ')}` : false }, async (t) => {
      const r = await runSource(id);
      // RELUFY_BAD_INPUT_LOG=file: append every failing case (JSON lines), for working on the loaders
      const log = process.env.RELUFY_BAD_INPUT_LOG;
      if (log) appendFileSync(log, JSON.stringify({ source: id, seed: SEED, failures: r.failures }) + '\n');
      t.diagnostic(
        `${r.cases} cases: ${r.ok} loaded, ${r.clean} clean errors, ${r.failures.length} failures; ` +
          `slowest case ${r.maxCaseMs.toFixed(0)} ms, total ${(r.totalMs / 1000).toFixed(1)} s; ` +
          `worker memory +${r.memGrowthMB.toFixed(0)} MB (process RSS +${r.rssGrowthMB.toFixed(0)} MB), ` +
          `max ArrayBuffer growth in one load ${r.maxArrayBufferMB.toFixed(1)} MB`,
      );
      for (const [p, n] of r.problems.slice(0, 12)) t.diagnostic(`  ${n}x ${p.slice(0, 160)}`);
      assert.ok(r.cases > 0, 'no cases ran');
      assert.ok(r.failures.length === 0 && r.notRun === 0, report(id, r));
      assert.ok(
        r.memGrowthMB < MEMORY_BUDGET_MB,
        `the worker's memory (V8 heap + ArrayBuffers) grew by ${r.memGrowthMB.toFixed(0)} MB over ${r.cases} cases (budget ${MEMORY_BUDGET_MB} MB)`,
      );
    });
  }
});
