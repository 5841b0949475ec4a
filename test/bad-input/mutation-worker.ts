/**
 * Worker of mutation.test.ts: runs the mutants of one source, from case `startAt` on, through its
 * public loader and classifies each outcome. Runs in a worker so that the test can stop it when a
 * case hangs (a synchronous loop cannot be interrupted in-process), survive an out-of-memory
 * crash, and resume after the case at fault.
 *
 * workerData: { sourceId, seed, dir, startAt, stats: SharedArrayBuffer } where `stats` is a
 * Float64Array kept current after every case (see STAT); messages: { type: 'plan', labels, fileBytes }
 * first, { type: 'failure', failure } for each failing case, { type: 'done', problems } at the end.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { describeThrown, uncleanReason, unsoundLoadReason, unsoundTokenizerReason } from './harness.js';
import { applyMutation, CASE_BUDGET_MS, planMutations, STAT, type CaseFailure } from './mutants.js';
import { makeSource, writeMutant } from './sources.js';

const MB = 1024 * 1024;

const { sourceId, seed, dir, startAt, stats } = workerData as { sourceId: string; seed: number; dir: string; startAt: number; stats: SharedArrayBuffer };
const st = new Float64Array(stats);

/** A promise the loader left floating that rejected (it would crash a CLI run). */
let floating: unknown;
let floatingSeen = false;
process.on('unhandledRejection', (e) => {
  if (!floatingSeen) floating = e;
  floatingSeen = true;
});

async function main(): Promise<void> {
  const src = makeSource(sourceId, dir);
  const plan = planMutations(src.id, src.original, src.headerEnd, src.counts, seed, src.text, src.fields);
  parentPort!.postMessage({ type: 'plan', labels: plan.map((m) => m.label), fileBytes: src.original.length });

  // ArrayBuffer growth a load may cause: its own copy of the file's bytes plus slack.
  const abBudget = 16 * MB + 2 * src.original.length;
  const problems = new Map<string, number>();
  const rss0 = process.memoryUsage.rss();
  const own = (): number => {
    const u = process.memoryUsage();
    return u.heapTotal + u.arrayBuffers;
  };
  let own0 = own();
  for (let i = startAt; i < plan.length; i++) {
    const m = plan[i]!;
    writeMutant(src, applyMutation(src.original, m));
    st[STAT.index] = i;
    st[STAT.startedAt] = Date.now();
    const ab0 = process.memoryUsage().arrayBuffers;
    const t0 = performance.now();
    let reason: string | null = null;
    let clean = false;
    let message = '';
    try {
      const loaded = await src.load();
      const ab = process.memoryUsage().arrayBuffers - ab0;
      st[STAT.maxArrayBufferMB] = Math.max(st[STAT.maxArrayBufferMB]!, ab / MB);
      if (ab > abBudget) reason = `loading allocated ${(ab / MB).toFixed(1)} MB of ArrayBuffers for a ${src.original.length}-byte file`;
      else reason = loaded.kind === 'model' ? unsoundLoadReason(loaded.model) : unsoundTokenizerReason(loaded.tokenizer);
      if (reason) reason = `loaded without error, but ${reason}`;
    } catch (e) {
      const ab = process.memoryUsage().arrayBuffers - ab0;
      st[STAT.maxArrayBufferMB] = Math.max(st[STAT.maxArrayBufferMB]!, ab / MB);
      reason = uncleanReason(e, src.prefix);
      if (!reason && ab > abBudget) reason = `allocated ${(ab / MB).toFixed(1)} MB of ArrayBuffers before failing`;
      if (!reason) {
        clean = true;
        message = (e as Error).message;
        const problem = message.slice(src.prefix.length).replace(/\d+/g, 'N').replace(/'[^']*'|"[^"]*"/g, 'X');
        problems.set(problem, (problems.get(problem) ?? 0) + 1);
      }
    }
    const ms = performance.now() - t0;
    // let rejections of promises the loader did not await surface now, attributed to this case
    await new Promise((r) => setImmediate(r));
    if (floatingSeen && !reason) reason = `unhandled promise rejection (a promise the loader left floating): ${describeThrown(floating)}`;
    floatingSeen = false;
    st[STAT.maxCaseMs] = Math.max(st[STAT.maxCaseMs]!, ms);
    if (!reason && ms > CASE_BUDGET_MS) reason = `took ${ms.toFixed(0)} ms (budget ${CASE_BUDGET_MS} ms)${clean ? ` to report: ${message.slice(src.prefix.length, src.prefix.length + 120)}` : ''}`;
    if (i === 0 && !reason && clean) reason = `the unmodified file must load, got: ${message}`;
    if (reason) parentPort!.postMessage({ type: 'failure', failure: { index: i, label: m.label, reason, ms } satisfies CaseFailure });
    else if (clean) st[STAT.clean]!++;
    else st[STAT.ok]!++;
    if (i === startAt) own0 = own(); // after the first case: modules loaded, caches warm
    else if (i % 8 === 0) {
      st[STAT.memGrowthMB] = Math.max(st[STAT.memGrowthMB]!, (own() - own0) / MB);
      st[STAT.rssGrowthMB] = Math.max(st[STAT.rssGrowthMB]!, (process.memoryUsage.rss() - rss0) / MB);
    }
  }
  st[STAT.index] = -1;
  st[STAT.memGrowthMB] = Math.max(st[STAT.memGrowthMB]!, (own() - own0) / MB);
  st[STAT.rssGrowthMB] = Math.max(st[STAT.rssGrowthMB]!, (process.memoryUsage.rss() - rss0) / MB);
  parentPort!.postMessage({ type: 'done', problems: [...problems].sort((a, b) => b[1] - a[1]) });
}

await main();
