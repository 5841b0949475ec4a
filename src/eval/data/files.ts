/**
 * Reading dataset rows from the files users have: Hugging Face parquet shards (through
 * `hyparquet`), JSON Lines, JSON arrays, and CSV; and finding a dataset split's files under a
 * data folder in the layouts the Hub and `datasets` produce (eval-spec §1, issue 5 "Data").
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, extname, join } from 'node:path';
import { asyncBufferFromFile, parquetReadObjects } from 'hyparquet';
import { FormatError } from '../../errors.js';
import { parseCsv } from './csv.js';

export type Row = Record<string, unknown>;

/** A dataset split as the harness names it: HF repo id (with older ids), config and split. */
export interface SplitRef {
  /** HF dataset repo ids, the current one first (`allenai/ai2_arc`, then `ai2_arc`). */
  paths: string[];
  /** `dataset_name` (config), or null. */
  name: string | null;
  split: string;
}

// CSV is read only through task-specific forms (MMLU), never picked up as a generic split file.
const EXTS = ['.parquet', '.jsonl', '.json'];

/** Converts parquet values to plain JSON-like values (BigInt → number, typed arrays → arrays, Date → ISO). */
function plain(v: unknown): unknown {
  if (typeof v === 'bigint') return Number(v);
  if (v instanceof Date) return v.toISOString();
  if (ArrayBuffer.isView(v) && !(v instanceof DataView)) return Array.from(v as unknown as ArrayLike<number>);
  if (Array.isArray(v)) return v.map(plain);
  if (v !== null && typeof v === 'object') {
    const out: Row = {};
    for (const [k, x] of Object.entries(v as Row)) out[k] = plain(x);
    return out;
  }
  return v;
}

/**
 * Reads every row of one file, in file order. Parquet via hyparquet (row objects, nested structs and
 * lists kept); `.jsonl` one object per non-empty line; `.json` a JSON array, an object with a
 * `data`/`rows` array, or JSON Lines; `.csv` with a header row, one object per record.
 * @throws FormatError naming the file and the problem (bad JSON line with its number, etc.).
 */
export async function readRows(file: string): Promise<Row[]> {
  const ext = extname(file).toLowerCase();
  if (ext === '.parquet') {
    try {
      const buf = await asyncBufferFromFile(file);
      const rows = await parquetReadObjects({ file: buf });
      return rows.map((r) => plain(r) as Row);
    } catch (e) {
      throw new FormatError(file, `not a readable parquet file (${(e as Error).message})`);
    }
  }
  const text = readText(file);
  if (ext === '.csv') {
    const rows = parseCsv(text, file);
    if (rows.length === 0) throw new FormatError(file, 'empty CSV file (expected a header row)');
    const header = rows[0]!;
    return rows.slice(1).filter((r) => !(r.length === 1 && r[0] === '')).map((r, i) => {
      if (r.length !== header.length) throw new FormatError(file, `record ${i + 2} has ${r.length} fields, the header has ${header.length}`);
      const o: Row = {};
      header.forEach((h, j) => (o[h] = r[j]));
      return o;
    });
  }
  if (ext === '.json') {
    const t = text.trimStart();
    if (t.startsWith('[') || t.startsWith('{')) {
      try {
        const v = JSON.parse(text) as unknown;
        if (Array.isArray(v)) return v as Row[];
        const o = v as Row;
        for (const key of ['data', 'rows']) if (Array.isArray(o[key])) return o[key] as Row[];
      } catch {
        // fall through to JSON Lines (HF's json loader accepts both)
      }
    }
  }
  return parseJsonl(text, file);
}

/** Parses JSON Lines; blank lines are skipped. @throws FormatError with the 1-based line number. */
export function parseJsonl(text: string, file: string): Row[] {
  const out: Row[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.trim();
    if (line === '') continue;
    let v: unknown;
    try {
      v = JSON.parse(line);
    } catch (e) {
      throw new FormatError(file, `line ${i + 1}: invalid JSON (${(e as Error).message})`);
    }
    if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new FormatError(file, `line ${i + 1}: expected a JSON object per line`);
    out.push(v as Row);
  }
  return out;
}

/** Reads a UTF-8 text file. @throws FormatError when it is missing or unreadable. */
export function readText(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (e) {
    throw new FormatError(file, `cannot read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
}

function isDir(p: string): boolean {
  try {
    return statSync(p).isDirectory();
  } catch {
    return false;
  }
}

function list(dir: string): string[] {
  try {
    return readdirSync(dir).sort();
  } catch {
    return [];
  }
}

/** Folders that may hold a dataset repo under a data dir: `<dir>/<org>/<name>`, `<dir>/<name>`, `<dir>/<org>--<name>`. */
export function datasetRoots(dataDir: string, paths: readonly string[]): string[] {
  const out: string[] = [];
  for (const p of paths) {
    for (const c of [join(dataDir, p), join(dataDir, basename(p)), join(dataDir, p.replace('/', '--')), join(dataDir, p.replace('/', '___'))]) {
      if (!out.includes(c)) out.push(c);
    }
  }
  return out;
}

/** Split files inside one config folder: `<split>-*.ext`, `<split>.ext`, `<split>/*.ext`, `data/<split>-*.ext`. */
function splitFilesIn(dir: string, split: string): string[] {
  if (!isDir(dir)) return [];
  for (const d of [dir, join(dir, 'data')]) {
    const names = list(d).filter((f) => EXTS.includes(extname(f).toLowerCase()));
    const exact = names.filter((f) => f.slice(0, -extname(f).length) === split);
    if (exact.length > 0) return [join(d, exact[0]!)];
    const shards = names.filter((f) => f.startsWith(`${split}-`) || f.startsWith(`${split}_`));
    if (shards.length > 0) {
      const ext = extname(shards[0]!);
      return shards.filter((f) => extname(f) === ext).map((f) => join(d, f));
    }
    const sub = join(d, split);
    if (isDir(sub)) {
      const inner = list(sub).filter((f) => EXTS.includes(extname(f).toLowerCase()));
      if (inner.length > 0) {
        const ext = extname(inner[0]!);
        return inner.filter((f) => extname(f) === ext).map((f) => join(sub, f));
      }
    }
  }
  return [];
}

/**
 * Finds the files of one split under any of `dataDirs`, trying each repo id, then the config folder
 * (`<root>/<config>/…`, and `<root>/…` itself; `default/` when there is no config).
 * Returns null when nothing is found.
 */
export function findSplitFiles(dataDirs: readonly string[], ref: SplitRef): string[] | null {
  for (const dataDir of dataDirs) {
    for (const root of datasetRoots(dataDir, ref.paths)) {
      if (!isDir(root)) continue;
      const configDirs = ref.name !== null ? [join(root, ref.name), root] : [root, join(root, 'default')];
      for (const cd of configDirs) {
        const files = splitFilesIn(cd, ref.split);
        if (files.length > 0) return files;
      }
    }
  }
  return null;
}

/** The layout `findSplitFiles` expects, for error messages. */
export function expectedLayout(ref: SplitRef): string {
  const cfg = ref.name !== null ? `${ref.name}/` : '';
  return `<data-dir>/${ref.paths[0]}/${cfg}${ref.split}-*.parquet (also .jsonl/.json, ${ref.split}.parquet, ${ref.split}/*.parquet or data/${ref.split}-*; the folder may also be named ${ref.paths.map((p) => basename(p)).filter((v, i, a) => a.indexOf(v) === i).join(' or ')})`;
}

/** Reads and concatenates the rows of several shard files, in name order. */
export async function readAllRows(files: readonly string[]): Promise<Row[]> {
  const out: Row[] = [];
  for (const f of files) out.push(...(await readRows(f)));
  return out;
}

/** First existing path among `<dataDir>/<rel>` candidates, or null. */
export function findFile(dataDirs: readonly string[], rels: readonly string[]): string | null {
  for (const d of dataDirs) for (const r of rels) if (existsSync(join(d, r))) return join(d, r);
  return null;
}
