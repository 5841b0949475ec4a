/**
 * Random-access byte sources for the GGUF reader: a file read through a descriptor in bounded
 * chunks (files may be far larger than one Buffer), or bytes already in memory.
 */
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { FormatError } from '../../errors.js';

/** Bytes [pos, pos + len) of a file or buffer. `read` returns exactly len bytes or throws. */
export interface ByteSource {
  readonly name: string;
  readonly size: number;
  read(pos: number, len: number): Uint8Array;
  close(): void;
}

/** Largest single readSync call (Node caps a read at 2^31 - 1 bytes). */
const MAX_READ = 1 << 30;

/** Read exactly dst.length bytes at `pos` into dst; FormatError on a short read. */
export function readFully(fd: number, name: string, dst: Uint8Array, pos: number): void {
  let done = 0;
  while (done < dst.length) {
    const want = Math.min(MAX_READ, dst.length - done);
    const n = readSync(fd, dst, done, want, pos + done);
    if (n <= 0) throw new FormatError(name, `unexpected end of file at byte ${pos + done} (file shrank while reading?)`);
    done += n;
  }
}

/** Opens `path` for reading; `close()` releases the descriptor. */
export function fileSource(path: string): ByteSource {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (e) {
    throw new FormatError(path, `cannot open: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  let size: number;
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw new FormatError(path, 'not a regular file');
    size = st.size;
  } catch (e) {
    closeSync(fd);
    throw e;
  }
  return {
    name: path,
    size,
    read(pos: number, len: number): Uint8Array {
      const out = new Uint8Array(len);
      readFully(fd, path, out, pos);
      return out;
    },
    close(): void {
      closeSync(fd);
    },
  };
}

/** A source over bytes in memory (no copy). */
export function memorySource(bytes: Uint8Array, name: string): ByteSource {
  return {
    name,
    size: bytes.length,
    read(pos: number, len: number): Uint8Array {
      return bytes.subarray(pos, pos + len);
    },
    close(): void {},
  };
}
