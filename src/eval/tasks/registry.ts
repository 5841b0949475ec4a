/**
 * The task table: every task by harness name, the MMLU groups, and name resolution for `--tasks`
 * (a task, `mmlu`, an MMLU category group, or a subject).
 */
import { UsageError } from '../../errors.js';
import { arcChallenge, arcEasy } from './arc.js';
import { boolq } from './boolq.js';
import { commonsenseQa } from './commonsense-qa.js';
import { gsm8k } from './gsm8k.js';
import { hellaswag } from './hellaswag.js';
import { mmluGroups, mmluSubjects } from './mmlu.js';
import { piqa } from './piqa.js';
import { socialIqa } from './social-iqa.js';
import { truthfulqaMc1, truthfulqaMc2 } from './truthfulqa.js';
import type { Task, TaskGroup } from './types.js';
import { wikitext } from './wikitext.js';
import { winogrande } from './winogrande.js';

// Tasks differ in their doc type; the harness treats them uniformly.
type AnyTask = Task<any>; // eslint-disable-line @typescript-eslint/no-explicit-any

export const TASKS: ReadonlyMap<string, AnyTask> = new Map<string, AnyTask>(
  [arcEasy, arcChallenge, hellaswag, winogrande, piqa, socialIqa, commonsenseQa, boolq, truthfulqaMc1, truthfulqaMc2, gsm8k, wikitext, ...mmluSubjects].map((t) => [t.name, t]),
);

export const GROUPS: ReadonlyMap<string, TaskGroup> = new Map(mmluGroups.map((g) => [g.name, g]));

/** Aliases users type (`mmlu_<subject>` also works as `hendrycksTest-<subject>`, the old name). */
const ALIASES: Record<string, string[]> = {
  truthfulqa_mc: ['truthfulqa_mc1', 'truthfulqa_mc2'],
  truthfulqa: ['truthfulqa_mc1', 'truthfulqa_mc2'],
  siqa: ['social_iqa'],
  csqa: ['commonsense_qa'],
  arc: ['arc_easy', 'arc_challenge'],
  ai2_arc: ['arc_easy', 'arc_challenge'],
};

export interface Selection {
  /** Leaf tasks to run, in run order, without duplicates. */
  tasks: AnyTask[];
  /** Groups to aggregate (those fully covered by the selection). */
  groups: TaskGroup[];
}

/** The leaf tasks under a group, recursively. */
export function leafTasks(group: string): string[] {
  const g = GROUPS.get(group);
  if (g === undefined) return [group];
  return g.children.flatMap(leafTasks);
}

/**
 * Resolves `--tasks` names (comma-separated in the CLI) to leaf tasks and groups.
 * @throws UsageError naming `--tasks` and listing the known names for an unknown one.
 */
export function selectTasks(names: readonly string[]): Selection {
  const out: AnyTask[] = [];
  const groups: TaskGroup[] = [];
  const add = (n: string): void => {
    const t = TASKS.get(n);
    if (t !== undefined && !out.includes(t)) out.push(t);
  };
  for (const raw of names) {
    const name = raw.trim().replace(/^hendrycksTest-/, 'mmlu_');
    if (name === '') continue;
    if (ALIASES[name] !== undefined) ALIASES[name].forEach(add);
    else if (GROUPS.has(name)) {
      const addGroup = (g: string): void => {
        const grp = GROUPS.get(g);
        if (grp === undefined) return add(g);
        if (!groups.includes(grp)) groups.push(grp);
        grp.children.forEach(addGroup);
      };
      addGroup(name);
    } else if (TASKS.has(name)) add(name);
    else {
      const known = [...Object.keys(ALIASES), ...GROUPS.keys(), ...[...TASKS.keys()].filter((k) => !k.startsWith('mmlu_')), 'mmlu_<subject>'];
      throw new UsageError('--tasks', `unknown task "${raw}"; known: ${known.join(', ')}`);
    }
  }
  if (out.length === 0) throw new UsageError('--tasks', 'no task given');
  return { tasks: out, groups };
}
