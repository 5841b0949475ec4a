/**
 * A minimal Parquet writer for test fixtures only (flat schema of REQUIRED UTF-8 string and INT64
 * columns, one row group, PLAIN encoding, uncompressed), so the parquet path can be tested against
 * `hyparquet` without shipping binary files. Format: apache/parquet-format `parquet.thrift`
 * (Thrift compact protocol).
 */

class Compact {
  readonly bytes: number[] = [];
  private last: number[] = [0];

  varint(n: bigint): void {
    let v = n;
    while (v >= 0x80n) {
      this.bytes.push(Number(v & 0x7fn) | 0x80);
      v >>= 7n;
    }
    this.bytes.push(Number(v));
  }
  private zigzag(n: bigint): bigint {
    return n >= 0n ? n << 1n : ((-n) << 1n) - 1n;
  }
  private header(id: number, type: number): void {
    const delta = id - this.last[this.last.length - 1]!;
    if (delta > 0 && delta <= 15) this.bytes.push((delta << 4) | type);
    else {
      this.bytes.push(type);
      this.varint(this.zigzag(BigInt(id)));
    }
    this.last[this.last.length - 1] = id;
  }
  i32(id: number, v: number): void {
    this.header(id, 5);
    this.varint(this.zigzag(BigInt(v)));
  }
  i64(id: number, v: number): void {
    this.header(id, 6);
    this.varint(this.zigzag(BigInt(v)));
  }
  binary(id: number, s: string): void {
    this.header(id, 8);
    const b = Buffer.from(s, 'utf8');
    this.varint(BigInt(b.length));
    this.bytes.push(...b);
  }
  struct(id: number, body: () => void): void {
    this.header(id, 12);
    this.last.push(0);
    body();
    this.bytes.push(0);
    this.last.pop();
  }
  list(id: number, elemType: number, items: (() => void)[]): void {
    this.header(id, 9);
    if (items.length < 15) this.bytes.push((items.length << 4) | elemType);
    else {
      this.bytes.push(0xf0 | elemType);
      this.varint(BigInt(items.length));
    }
    for (const it of items) {
      if (elemType === 12) {
        this.last.push(0);
        it();
        this.bytes.push(0);
        this.last.pop();
      } else it();
    }
  }
  rawI32(v: number): void {
    this.varint(this.zigzag(BigInt(v)));
  }
  rawBinary(s: string): void {
    const b = Buffer.from(s, 'utf8');
    this.varint(BigInt(b.length));
    this.bytes.push(...b);
  }
  end(): void {
    this.bytes.push(0);
  }
}

/** Serializes `rows` (all with the same keys; values string or integer) as a Parquet file. */
export function writeParquet(rows: Record<string, string | number>[]): Buffer {
  const names = Object.keys(rows[0]!);
  const isInt = names.map((n) => typeof rows[0]![n] === 'number');
  const chunks: Buffer[] = [Buffer.from('PAR1')];
  let offset = 4;
  const metas: { offset: number; size: number; name: string; int: boolean }[] = [];
  names.forEach((name, c) => {
    const values: Buffer[] = rows.map((r) => {
      const v = r[name]!;
      if (isInt[c]) {
        const b = Buffer.alloc(8);
        b.writeBigInt64LE(BigInt(v as number));
        return b;
      }
      const s = Buffer.from(String(v), 'utf8');
      const len = Buffer.alloc(4);
      len.writeUInt32LE(s.length);
      return Buffer.concat([len, s]);
    });
    const data = Buffer.concat(values);
    const ph = new Compact();
    ph.i32(1, 0);
    ph.i32(2, data.length);
    ph.i32(3, data.length);
    ph.struct(5, () => {
      ph.i32(1, rows.length);
      ph.i32(2, 0);
      ph.i32(3, 3);
      ph.i32(4, 3);
    });
    ph.end();
    const page = Buffer.concat([Buffer.from(ph.bytes), data]);
    metas.push({ offset, size: page.length, name, int: isInt[c]! });
    chunks.push(page);
    offset += page.length;
  });
  const fm = new Compact();
  fm.i32(1, 1);
  fm.list(2, 12, [
    () => {
      fm.binary(4, 'schema');
      fm.i32(5, names.length);
    },
    ...metas.map((m) => () => {
      fm.i32(1, m.int ? 2 : 6);
      fm.i32(3, 0);
      fm.binary(4, m.name);
      if (!m.int) fm.i32(6, 0);
    }),
  ]);
  fm.i64(3, rows.length);
  fm.list(4, 12, [
    () => {
      fm.list(1, 12, metas.map((m) => () => {
        fm.i64(2, m.offset);
        fm.struct(3, () => {
          fm.i32(1, m.int ? 2 : 6);
          fm.list(2, 5, [() => fm.rawI32(0)]);
          fm.list(3, 8, [() => fm.rawBinary(m.name)]);
          fm.i32(4, 0);
          fm.i64(5, rows.length);
          fm.i64(6, m.size);
          fm.i64(7, m.size);
          fm.i64(9, m.offset);
        });
      }));
      fm.i64(2, metas.reduce((a, m) => a + m.size, 0));
      fm.i64(3, rows.length);
    },
  ]);
  fm.end();
  const footer = Buffer.from(fm.bytes);
  const len = Buffer.alloc(4);
  len.writeUInt32LE(footer.length);
  chunks.push(footer, len, Buffer.from('PAR1'));
  return Buffer.concat(chunks);
}
