/**
 * Bad input, paths that are not regular files (engine-spine issue: never a hang): a model or
 * tokenizer path that does not exist, or is a named pipe (opening a FIFO blocks until a writer
 * appears: the loader must check for a regular file before opening; a helper shell plays the
 * writer so that a loader that does open it gets EOF instead of hanging the test).
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { loadModel } from '../../src/model/index.js';
import { assertCleanError, uncleanReason } from './harness.js';
import { STORIES_BIN } from './sources.js';

const dir = mkdtempSync(join(tmpdir(), 'relufy-bad-paths-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/**
 * A shell that keeps opening the FIFO at `fifo` for writing (and closing it at once), logging each
 * open that succeeded — which happens only while someone opens it for reading. So a loader that
 * opens the pipe gets EOF instead of blocking forever, and the log tells that it did open it.
 */
function pipeWriter(fifo: string): { opened: () => boolean; stop: () => void } {
  const log = `${fifo}.opens`;
  writeFileSync(log, '');
  const sh = spawn('sh', ['-c', 'while :; do : > "$0" && echo x >> "$1"; done', fifo, log], { stdio: 'ignore' });
  return { opened: () => readFileSync(log, 'utf8').length > 0, stop: () => sh.kill('SIGKILL') };
}

function mkfifo(name: string): string {
  const p = join(dir, name);
  const r = spawnSync('mkfifo', [p]);
  assert.equal(r.status, 0, 'mkfifo failed');
  return p;
}

describe('bad input: paths that are not regular files', () => {
  test('a model path that does not exist, or is empty', async () => {
    const p = join(dir, 'nope.gguf');
    await assertCleanError(() => loadModel(p), p, /no such file/);
    await assertCleanError(() => loadModel(join(dir, 'nope')), join(dir, 'nope'), /no such file/);
  });

  test('a named pipe (FIFO) as the model or the tokenizer is refused without opening it (opening blocks until a writer appears)', { skip: process.platform === 'win32' }, async () => {
    const cases: [string, string, string | undefined][] = [
      ['model .gguf', mkfifo('m.gguf'), undefined],
      ['model .bin', mkfifo('m.bin'), undefined],
      ['--tokenizer', STORIES_BIN, mkfifo('tok.bin')],
    ];
    const writers = cases.map(([, model, tokenizer]) => pipeWriter(tokenizer ?? model));
    const failures: string[] = [];
    try {
      const outcomes: string[] = [];
      for (const [, model, tokenizer] of cases) {
        const at = tokenizer ?? model;
        try {
          loadModel(model, tokenizer ? { tokenizer } : {});
          outcomes.push('loaded');
        } catch (e) {
          outcomes.push(uncleanReason(e, at) ?? 'clean');
        }
      }
      // give the writers time to log an open that the loader caused
      const deadline = Date.now() + 1500;
      while (Date.now() < deadline && !writers.every((w) => w.opened())) await new Promise((r) => setTimeout(r, 50));
      cases.forEach(([what, model, tokenizer], i) => {
        const at = tokenizer ?? model;
        if (writers[i]!.opened()) failures.push(`${what} (${at}): the loader opened the pipe (without a writer it blocks forever); outcome with a writer: ${outcomes[i]}`);
        else if (outcomes[i] !== 'clean') failures.push(`${what} (${at}): ${outcomes[i]}`);
      });
    } finally {
      for (const w of writers) w.stop();
    }
    assert.ok(failures.length === 0, failures.join('\n'));
  });
});
