import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Repository root (the folder holding package.json). */
export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/** `../shared/data` next to the repo root: real models, tokenizers, corpora and eval sets (see its SOURCES.md). */
export const SHARED_DATA = resolve(REPO_ROOT, '..', 'shared', 'data');

/** Path of a file under shared/data; tests that need it should skip (with the reason) when it is absent. */
export function sharedData(...parts: string[]): string {
  return join(SHARED_DATA, ...parts);
}

export function hasSharedData(...parts: string[]): boolean {
  return existsSync(sharedData(...parts));
}

/** Runs `fn` with a fresh temporary folder, removed afterwards. */
export function withTempDir(prefix: string, fn: (dir: string) => void): void {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  try {
    fn(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
