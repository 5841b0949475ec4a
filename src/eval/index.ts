/**
 * Evaluation compatible with EleutherAI lm-evaluation-harness (see ../shared/docs/eval-spec.md):
 * requests on the engine, the task table, few-shot sampling, metrics, results in the harness's
 * formats, and llama.cpp-style perplexity.
 */
export { evaluate, aggregateGroups, type EvalOptions, type EvalOutput, type EvalProgress, type GroupResult, type SampleRecord, type TaskResult } from './harness.js';
export { EngineLM, runRequest, logSoftmaxAt, type GenerateRequest, type LanguageModel, type LMSettings, type LoglikelihoodRequest, type LoglikelihoodResult, type Request, type Response, type RollingRequest } from './requests.js';
export { RequestCache, requestKey, canonicalJson, type CacheStats } from './cache.js';
export { harnessProfile, atLeast, HARNESS_VERSIONS, DEFAULT_HARNESS_VERSION, lmEvalVersionString, type HarnessProfile, type HarnessVersion } from './versions.js';
export { PythonRandom } from './python-random.js';
export { FewshotSampler, taskRng } from './fewshot.js';
export * as metrics from './metrics.js';
export { perplexity, type PerplexityOptions, type PerplexityResult } from './perplexity.js';
export { buildResultsJson, writeOutputs, outputPaths, formatTables, formatComparison, formatLeaderboard, LEADERBOARD_V1, sanitizeModelName, type ResultsMeta } from './results.js';
export { TASKS, GROUPS, selectTasks, leafTasks, type Selection } from './tasks/registry.js';
export { MMLU_CATEGORIES, MMLU_SUBJECTS } from './tasks/mmlu.js';
export type { Task, TaskGroup, DataSource, LoadedDocs, MetricSpec, FilteredResult } from './tasks/types.js';
export { readRows, findSplitFiles, type SplitRef, type Row } from './data/files.js';
