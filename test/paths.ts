import { existsSync } from 'node:fs';
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
