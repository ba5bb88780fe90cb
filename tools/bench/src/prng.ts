/**
 * Seeded pseudo-random numbers for the benchmark's synthetic weights and token batches.
 *
 * Why not Math.random: the generated GPT-2-small checkpoint is cached on disk and reused,
 * and the token batch is written to a file that PyTorch reads, so both must be a pure
 * function of a seed. sfc32 (Chris Doty-Humphrey's "small fast counting" generator)
 * passes PractRand, needs only 32-bit integer ops and costs a few ns per draw, which
 * matters when drawing the ~124 M normals of GPT-2 small.
 */

/** A seeded 32-bit generator (sfc32). */
export class Sfc32 {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  constructor(seed: number, stream = 0) {
    this.a = 0x9e3779b9;
    this.b = seed >>> 0;
    this.c = stream >>> 0;
    this.d = 1;
    // Discard the first outputs: sfc32 starts correlated when seeded with small numbers.
    for (let i = 0; i < 15; i++) this.nextU32();
  }

  nextU32(): number {
    const t = (((this.a + this.b) | 0) + this.d) | 0;
    this.d = (this.d + 1) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.c = (this.c + t) | 0;
    return t >>> 0;
  }

  /** Uniform in (0, 1]: never 0, so log() in Box-Muller stays finite. */
  nextUnit(): number {
    return (this.nextU32() + 1) / 4294967296;
  }

  /** Uniform integer in [0, n) (n ≤ 2^32; the modulo bias is < n / 2^32, irrelevant here). */
  nextInt(n: number): number {
    return this.nextU32() % n;
  }
}

/** 32-bit FNV-1a of a string: turns a tensor name into a stream id. */
export function hashString(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/**
 * Fills `out` with N(0, std²) draws (Box-Muller, both outputs used). Deterministic for a
 * given generator state on a given machine (Math.log/sin/cos are not guaranteed to be
 * bit-identical across V8 versions, which is why the cache records the generator spec and
 * the bench never compares weights across machines).
 */
export function fillNormal(out: Float32Array, rng: Sfc32, std: number): Float32Array {
  const n = out.length;
  let i = 0;
  while (i < n) {
    const r = Math.sqrt(-2 * Math.log(rng.nextUnit())) * std;
    const theta = 2 * Math.PI * rng.nextUnit();
    out[i++] = r * Math.cos(theta);
    if (i < n) out[i++] = r * Math.sin(theta);
  }
  return out;
}

/** `batch` x `seq` token ids uniform over the vocabulary, row-major. */
export function randomTokenIds(vocabSize: number, batch: number, seq: number, seed: number): Int32Array {
  const rng = new Sfc32(seed, 0x1d5);
  const ids = new Int32Array(batch * seq);
  for (let i = 0; i < ids.length; i++) ids[i] = rng.nextInt(vocabSize);
  return ids;
}
