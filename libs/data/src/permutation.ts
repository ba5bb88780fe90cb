/**
 * Seeded permutations identical to PyTorch's `torch.randperm(n, generator=g)` with
 * `g = torch.Generator().manual_seed(seed)` on the CPU, so a data order can be compared
 * with (and reproduced from) a PyTorch run: the reference lens in the fixtures was
 * trained on the order of `torch.randperm(11585)` seeded with 42.
 *
 * PyTorch's CPU generator is the 32-bit Mersenne Twister (mt19937, seeded with the
 * reference `init_genrand`); randperm starts from the identity and, for i = 0..n-2,
 * swaps element i with element i + (draw % (n - i)). That is a Fisher-Yates shuffle with
 * a slight modulo bias, kept because matching PyTorch's order matters more here.
 * For n >= 2^32 / 20 PyTorch switches to 64-bit draws; such sizes are refused.
 */

const N = 624;
const M = 397;

/** The 32-bit Mersenne Twister, as `std::mt19937` and PyTorch's CPU generator. */
export class Mt19937 {
  private readonly state = new Uint32Array(N);
  private index = N;

  constructor(seed: number) {
    if (!Number.isInteger(seed) || seed < 0) throw new RangeError(`seed must be a non-negative integer, got ${seed}`);
    // PyTorch truncates its 64-bit seed to 32 bits for the twister.
    this.state[0] = seed >>> 0;
    for (let i = 1; i < N; i++) {
      const prev = this.state[i - 1] ^ (this.state[i - 1] >>> 30);
      this.state[i] = (Math.imul(1812433253, prev) + i) >>> 0;
    }
  }

  /** The next 32-bit output, in [0, 2^32). */
  next(): number {
    if (this.index >= N) this.twist();
    let y = this.state[this.index++];
    y ^= y >>> 11;
    y ^= (y << 7) & 0x9d2c5680;
    y ^= (y << 15) & 0xefc60000;
    y ^= y >>> 18;
    return y >>> 0;
  }

  private twist(): void {
    const s = this.state;
    for (let i = 0; i < N; i++) {
      const y = (s[i] & 0x80000000) | (s[(i + 1) % N] & 0x7fffffff);
      let v = s[(i + M) % N] ^ (y >>> 1);
      if (y & 1) v ^= 0x9908b0df;
      s[i] = v >>> 0;
    }
    this.index = 0;
  }
}

/** Largest n for which PyTorch's randperm uses 32-bit draws (n < 2^32 / 20). */
export const MAX_PERMUTATION_SIZE = Math.floor(0xffffffff / 20) - 1;

/**
 * `torch.randperm(n, generator=torch.Generator().manual_seed(seed))` as a Uint32Array:
 * element j is the index of the item that comes j-th.
 */
export function torchRandperm(n: number, seed: number): Uint32Array {
  if (!Number.isInteger(n) || n < 0) throw new RangeError(`a permutation size must be a non-negative integer, got ${n}`);
  if (n > MAX_PERMUTATION_SIZE) throw new RangeError(`cannot permute ${n} items: at most ${MAX_PERMUTATION_SIZE} are supported`);
  const perm = new Uint32Array(n);
  for (let i = 0; i < n; i++) perm[i] = i;
  const rng = new Mt19937(seed);
  for (let i = 0; i < n - 1; i++) {
    const j = i + (rng.next() % (n - i));
    const held = perm[i];
    perm[i] = perm[j];
    perm[j] = held;
  }
  return perm;
}
