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

/**
 * Reads `out.length` little-endian elements from `bytes` (at any offset) into `out` with
 * `get` (a call per element: this is the fallback and the reference, not a fast path).
 */
function readLE<A extends Uint32Array | Int32Array | BigInt64Array>(
  bytes: Uint8Array,
  out: A,
  get: (view: DataView, byteOffset: number) => A[number],
): A {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let i = 0; i < out.length; i++) out[i] = get(view, out.BYTES_PER_ELEMENT * i);
  return out;
}

/** Reads `n` little-endian float32 values (bit-exact) from `bytes` at any offset. */
export function f32FromBytesLE(bytes: Uint8Array, n: number): Float32Array {
  const out = new Float32Array(n);
  // Through the bits, not getFloat32: reading a float widens it to a double, which would
  // quiet a signalling NaN on some hosts; reading the bits as an integer keeps them exactly.
  readLE(bytes, new Uint32Array(out.buffer), (view, at) => view.getUint32(at, true));
  return out;
}

/** Reads `n` little-endian int32 values from `bytes` at any offset. */
export function i32FromBytesLE(bytes: Uint8Array, n: number): Int32Array {
  return readLE(bytes, new Int32Array(n), (view, at) => view.getInt32(at, true));
}

/** Reads `n` little-endian int64 values from `bytes` at any offset. */
export function i64FromBytesLE(bytes: Uint8Array, n: number): BigInt64Array {
  return readLE(bytes, new BigInt64Array(n), (view, at) => view.getBigInt64(at, true));
}
