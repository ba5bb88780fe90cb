// Float32 bits read and written through a DataView, so the tests' expectations do not
// go through the conversions under test.

/** The float32 value with these bits, read through a DataView (independent of the lib). */
export function f32FromBits(bits: number): number {
  const dv = new DataView(new ArrayBuffer(4));
  dv.setUint32(0, bits >>> 0);
  return dv.getFloat32(0);
}

/** The bits of the float32 nearest to x (x is rounded to float32 first). */
export function bitsOfF32(x: number): number {
  const dv = new DataView(new ArrayBuffer(4));
  dv.setFloat32(0, x);
  return dv.getUint32(0);
}
