/**
 * Transfer lists for postMessage. Only an array that spans its whole ArrayBuffer is
 * transferred: a view into a larger buffer would detach its neighbours too (and the
 * structured clone of a view copies the whole buffer anyway), so such arrays are
 * copied out first. Buffers are deduplicated (postMessage refuses a buffer twice).
 */
type Typed = Float32Array | Int32Array;

export function ownsBuffer(a: Typed): boolean {
  return a.byteOffset === 0 && a.byteLength === a.buffer.byteLength && a.buffer instanceof ArrayBuffer;
}

/** `a` itself when it owns its buffer, else a compact copy that does. */
export function transferable<T extends Typed>(a: T): T {
  return ownsBuffer(a) ? a : (a.slice() as T);
}

/** The distinct buffers of `arrays` (each must own its buffer: see transferable). */
export function transferList(arrays: Typed[]): ArrayBuffer[] {
  return [...new Set(arrays.map((a) => a.buffer as ArrayBuffer))];
}
