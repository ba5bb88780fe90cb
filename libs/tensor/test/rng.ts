/** Small seeded PRNG (mulberry32) so failures reproduce; not a test file itself. */
export function makeRng(seed: number) {
  let a = seed >>> 0;
  const next = (): number => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return {
    /** Uniform in [0, 1). */
    next,
    /** Uniform integer in [lo, hi] (inclusive). */
    int: (lo: number, hi: number): number => lo + Math.floor(next() * (hi - lo + 1)),
    /** Uniform 32-bit pattern. */
    u32: (): number => Math.floor(next() * 4294967296) >>> 0,
    /** Fisher-Yates shuffle in place. */
    shuffle<T>(xs: T[]): T[] {
      for (let i = xs.length - 1; i > 0; i--) {
        const j = Math.floor(next() * (i + 1));
        [xs[i], xs[j]] = [xs[j], xs[i]];
      }
      return xs;
    },
  };
}

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
