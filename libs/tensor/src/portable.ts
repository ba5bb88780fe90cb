/**
 * Byte-order-independent (DataView, explicit little-endian) serialisation of native
 * typed arrays. The codec uses it only on a big-endian host, where typed-array views
 * would read the wire bytes backwards; on little-endian hosts it is the reference the
 * fast paths are tested against. Always copies.
 */

/** Typed arrays whose elements this module can write as little-endian bytes. */
export type NativeArray = Float32Array | Uint16Array | Int32Array | BigInt64Array;

/** Writes `src` element by element as little-endian bytes into a new buffer. */
export function toBytesLE(src: NativeArray): Uint8Array {
  const out = new Uint8Array(src.byteLength);
  const view = new DataView(out.buffer);
  const n = src.length;
  if (src instanceof Float32Array) {
    // Through the bits, not setFloat32: a float read into a JS number may lose NaN bits.
    const bits = new Uint32Array(src.buffer, src.byteOffset, n);
    for (let i = 0; i < n; i++) view.setUint32(4 * i, bits[i], true);
  } else if (src instanceof Uint16Array) {
    for (let i = 0; i < n; i++) view.setUint16(2 * i, src[i], true);
  } else if (src instanceof Int32Array) {
    for (let i = 0; i < n; i++) view.setInt32(4 * i, src[i], true);
  } else {
    for (let i = 0; i < n; i++) view.setBigInt64(8 * i, src[i], true);
  }
  return out;
}

// Reading a float through DataView.getFloat32 widens it to a double and would quiet a
// signalling NaN on some hosts; reading the bits as an integer keeps them exactly.
/** Reads `n` little-endian float32 values (bit-exact) from `bytes` at any offset. */
export function f32FromBytesLE(bytes: Uint8Array, n: number): Float32Array {
  const out = new Float32Array(n);
  const bits = new Uint32Array(out.buffer);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let i = 0; i < n; i++) bits[i] = view.getUint32(4 * i, true);
  return out;
}

/** Reads `n` little-endian uint16 values from `bytes` at any offset. */
export function u16FromBytesLE(bytes: Uint8Array, n: number): Uint16Array {
  const out = new Uint16Array(n);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let i = 0; i < n; i++) out[i] = view.getUint16(2 * i, true);
  return out;
}

/** Reads `n` little-endian int32 values from `bytes` at any offset. */
export function i32FromBytesLE(bytes: Uint8Array, n: number): Int32Array {
  const out = new Int32Array(n);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let i = 0; i < n; i++) out[i] = view.getInt32(4 * i, true);
  return out;
}

/** Reads `n` little-endian int64 values from `bytes` at any offset. */
export function i64FromBytesLE(bytes: Uint8Array, n: number): BigInt64Array {
  const out = new BigInt64Array(n);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let i = 0; i < n; i++) out[i] = view.getBigInt64(8 * i, true);
  return out;
}
