/**
 * A minimal protobuf writer for tests that must send what the generated encoders cannot
 * (64-bit values beyond 2^53, malformed messages): fields as raw wire bytes.
 */

/** `n` as a base-128 varint (two's complement for negatives, as protobuf's int64). */
export function varint(n: bigint): number[] {
  let x = BigInt.asUintN(64, n);
  const out: number[] = [];
  while (x >= 0x80n) { out.push(Number(x & 0x7fn) | 0x80); x >>= 7n; }
  out.push(Number(x));
  return out;
}

/** Field `no` with a varint value (wire type 0). */
export const vField = (no: number, v: bigint): Buffer => Buffer.from([...varint(BigInt(no << 3)), ...varint(v)]);

/** Field `no` with length-delimited content (wire type 2): a message, bytes or a packed list. */
export function lenField(no: number, ...parts: Buffer[]): Buffer {
  const body = Buffer.concat(parts);
  return Buffer.concat([Buffer.from([...varint(BigInt((no << 3) | 2)), ...varint(BigInt(body.length))]), body]);
}

/** Field `no` as a UTF-8 string. */
export const sField = (no: number, s: string): Buffer => lenField(no, Buffer.from(s));

/** Field `no` as a packed repeated varint list. */
export const packed = (no: number, values: bigint[]): Buffer => lenField(no, Buffer.from(values.flatMap(varint)));

/** Field `no` with a fixed 64-bit value (wire type 1). */
export function fixed64Field(no: number, v: bigint): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(BigInt.asUintN(64, v));
  return Buffer.concat([Buffer.from(varint(BigInt((no << 3) | 1))), b]);
}
