/**
 * A weight that stays where the checkpoint keeps it: a tensor of a safetensors file on
 * disk, in its stored dtype (F32, F16 or BF16) and layout, with the view the program
 * wants (as stored, transposed, or a block of columns) described rather than computed.
 *
 * Why: a 1.1B-parameter BF16 checkpoint is 2.2 GB; widened to f32, transposed to [in, out]
 * and serialised for onnxruntime it cost 12.5 GB of RSS and 8 GB of temp files. The onnx
 * engine instead points ONNX external data at the safetensors file itself (onnxruntime maps
 * it; nothing is copied or written) and widens/transposes one layer's weights at a time
 * inside the graph (tracer.ts, `param`).
 *
 * It is still a HostArray: `data` computes the f32 values in the program's layout on each
 * access (read from disk, widened, transposed), so the reference and tfjs engines and any
 * host-side use (e.g. Gemma's 1 + w) work unchanged, at the cost of a copy per access.
 */
import type { HostArray } from './ops.js';

/** How the program's [rows, cols] view is made from the stored 2-D tensor (or 1-D, 'asStored'). */
export type StoredLayout =
  | { kind: 'asStored' }
  /** stored [rows, cols] -> [cols, rows] (a torch Linear [out, in] used as [in, out]). */
  | { kind: 'transpose' }
  /** stored [rows, cols] -> columns [index * cols / count, (index + 1) * cols / count) (fused q|k|v). */
  | { kind: 'columns'; index: number; count: number }
  /** stored [rows, cols] -> rows [start, start + count), transposed to [cols, count] (a block of a fused Linear, Phi-3's qkv_proj). */
  | { kind: 'rowsTransposed'; start: number; count: number };

export type StoredDtype = 'F32' | 'F16' | 'BF16';

/** Where the bytes are: a file, the absolute byte offset of the tensor, its stored dtype and shape. */
export interface StoredLocation {
  file: string;
  offset: number;
  dtype: StoredDtype;
  shape: number[];
}

export class StoredParam implements HostArray {
  /** The shape the program sees. */
  readonly shape: number[];

  constructor(
    readonly location: StoredLocation,
    readonly layout: StoredLayout,
    /** The stored tensor as f32, as stored (read from disk on each call). */
    private readonly readF32: () => Float32Array,
  ) {
    this.shape = viewShape(location.shape, layout);
  }

  /** The stored tensor as f32 in its stored layout (e.g. a Linear's [out, in]): a fresh read. */
  storedF32(): Float32Array {
    return this.readF32();
  }

  /** Bytes of the stored tensor in the file. */
  get storedBytes(): number {
    return this.location.shape.reduce((p, d) => p * d, 1) * (this.location.dtype === 'F32' ? 4 : 2);
  }

  /** f32 values in the program's layout: a fresh array on every access. */
  get data(): Float32Array {
    const src = this.readF32();
    const [rows, cols] = this.location.shape;
    switch (this.layout.kind) {
      case 'asStored': return src;
      case 'transpose': return transposeF32(src, rows, cols);
      case 'rowsTransposed': return transposeF32(src.subarray(this.layout.start * cols, (this.layout.start + this.layout.count) * cols), this.layout.count, cols);
      case 'columns': {
        const width = cols / this.layout.count;
        const out = new Float32Array(rows * width);
        for (let r = 0; r < rows; r++) out.set(src.subarray(r * cols + this.layout.index * width, r * cols + (this.layout.index + 1) * width), r * width);
        return out;
      }
    }
  }
}

export function isStoredParam(p: HostArray): p is StoredParam {
  return p instanceof StoredParam;
}

function viewShape(stored: number[], layout: StoredLayout): number[] {
  if (layout.kind === 'asStored') return stored.slice();
  if (stored.length !== 2) throw new Error(`a ${layout.kind} view needs a 2-D stored tensor, got shape [${stored}]`);
  const [rows, cols] = stored;
  if (layout.kind === 'transpose') return [cols, rows];
  if (layout.kind === 'rowsTransposed') {
    if (!Number.isInteger(layout.start) || !Number.isInteger(layout.count) || layout.start < 0 || layout.count < 1 || layout.start + layout.count > rows) {
      throw new Error(`rows [${layout.start}, ${layout.start + layout.count}) do not fit ${rows} rows`);
    }
    return [cols, layout.count];
  }
  if (!Number.isInteger(layout.index) || layout.index < 0 || layout.index >= layout.count || cols % layout.count !== 0) {
    throw new Error(`columns view ${layout.index} of ${layout.count} does not fit ${cols} columns`);
  }
  return [rows, cols / layout.count];
}

/** [rows, cols] -> [cols, rows], cache-blocked so large LM heads transpose quickly. */
export function transposeF32(src: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(rows * cols);
  const B = 64;
  for (let r0 = 0; r0 < rows; r0 += B) {
    const r1 = Math.min(rows, r0 + B);
    for (let c0 = 0; c0 < cols; c0 += B) {
      const c1 = Math.min(cols, c0 + B);
      for (let r = r0; r < r1; r++) {
        const base = r * cols;
        for (let c = c0; c < c1; c++) out[c * rows + r] = src[base + c];
      }
    }
  }
  return out;
}
