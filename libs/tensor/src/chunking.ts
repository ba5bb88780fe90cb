/**
 * Splitting a tensor into gRPC-sized chunks, and reassembling them.
 *
 * gRPC refuses messages over 4 MiB by default, and hidden states ([T, dModel] per layer,
 * or logits [T, vocab]) easily exceed that, so they travel as several `TensorChunk`
 * frames (see proto/tunedlens/tensor/v1/tensor.proto).
 *
 * Design (one rule, matching the proto):
 * - A chunk is a FLAT ELEMENT RANGE `[firstElement, firstElement + elementCount)` of the
 *   row-major layout; that range is the source of truth for placing its bytes.
 * - The writer picks a "block": the largest trailing sub-tensor that fits
 *   `maxChunkBytes`. For shape [d0, d1, ..., dk] the candidates are, largest first, a
 *   whole dim-0 row (d1*...*dk elements), a dim-1 row (d2*...*dk), ..., one element.
 *   Chunks then hold as many whole blocks as fit, greedily, in order. So for a [T, d]
 *   tensor whose rows fit, every chunk is a range of whole rows; when one row is bigger
 *   than the limit ([1, hugeVocab] logits, say) chunks are pieces of that row, cut on
 *   the finest boundary that still fits (for 2-D: single elements, packed greedily).
 * - For convenience every chunk also records which dim-0 rows it touches: `rowStart`,
 *   `rowCount` (rows touched, the first and last possibly partial), `totalRows` (shape[0])
 *   and `wholeRows` (true when it starts and ends on row boundaries). A rank-0 tensor
 *   counts as one row of one element. A tensor with no elements is one empty chunk, so a
 *   receiver still learns its dtype and shape.
 * - Chunk bytes are `subarray` views of the source (no copy): keep the source unchanged
 *   until the chunks are sent.
 */
import { bytesPerElement, type DType } from './dtype.js';
import { assertRawTensor, numel, rowCount, rowElements, shapesEqual, shapeToString, type RawTensor } from './tensor.js';

/** gRPC's default maximum message size (receive side), 4 MiB. */
export const GRPC_DEFAULT_MAX_MESSAGE_BYTES = 4 * 1024 * 1024;
/** Room left for the protobuf framing around a chunk's bytes (tags, lengths, shape, name). */
export const CHUNK_FRAMING_HEADROOM_BYTES = 64 * 1024;
/** Default cap on a chunk's payload bytes: 4 MiB - 64 KiB. */
export const DEFAULT_MAX_CHUNK_BYTES = GRPC_DEFAULT_MAX_MESSAGE_BYTES - CHUNK_FRAMING_HEADROOM_BYTES;

export interface ChunkOptions {
  /** Largest payload (`data.byteLength`) of one chunk. Default {@link DEFAULT_MAX_CHUNK_BYTES}. */
  maxChunkBytes?: number;
}

/** Where one chunk sits in the whole tensor (element, row and byte coordinates). */
export interface ChunkSpan {
  /** Offset of the chunk's first element in the flattened tensor (proto `first_element`). */
  firstElement: number;
  /** Elements in the chunk (proto `element_count`). */
  elementCount: number;
  /** First dim-0 row the chunk touches. */
  rowStart: number;
  /** Dim-0 rows the chunk touches; the first and last may be partial unless `wholeRows`. */
  rowCount: number;
  /** `shape[0]` of the whole tensor (1 for rank 0). */
  totalRows: number;
  /** True when the chunk starts and ends on dim-0 row boundaries. */
  wholeRows: boolean;
  /** `firstElement * bytesPerElement`. */
  byteOffset: number;
  /** `elementCount * bytesPerElement`. */
  byteLength: number;
}

/** A chunk of a tensor, self-describing (every chunk repeats the whole tensor's dtype and shape). */
export interface TensorChunk extends ChunkSpan {
  dtype: DType;
  /** Shape of the WHOLE tensor (shared, frozen). */
  shape: readonly number[];
  /** The chunk's bytes: a view into the source tensor's data. */
  data: Uint8Array;
}

/**
 * Elements per block for `shape` under a limit of `maxElements` per chunk: the largest
 * trailing-dims product `shape[k] * ... * shape[rank-1]` (k >= 1) that is <= the limit,
 * else 1. Exported for tests and for writers that produce rows lazily.
 */
export function chunkBlockElements(shape: readonly number[], maxElements: number): number {
  for (let k = 1; k <= shape.length; k++) {
    const size = numel(shape.slice(k));
    if (size <= maxElements) return Math.max(size, 1);
  }
  return 1; // rank 0
}

/**
 * Plans the chunks of a `dtype` tensor of `shape` without touching any data (so a
 * producer can also stream rows it computes on the fly). Spans are in order, disjoint,
 * and cover the tensor exactly; each is at most `maxChunkBytes` bytes.
 */
export function planChunks(dtype: DType, shape: readonly number[], opts: ChunkOptions = {}): ChunkSpan[] {
  const n = numel(shape);
  const bpe = bytesPerElement(dtype);
  const maxChunkBytes = opts.maxChunkBytes ?? DEFAULT_MAX_CHUNK_BYTES;
  if (!Number.isSafeInteger(maxChunkBytes) || maxChunkBytes < bpe) {
    throw new Error(`maxChunkBytes must be an integer of at least one ${dtype} element (${bpe} bytes), got ${maxChunkBytes}`);
  }
  const totalRows = rowCount(shape);
  const rowElems = rowElements(shape);
  if (n === 0) {
    return [{ firstElement: 0, elementCount: 0, rowStart: 0, rowCount: totalRows, totalRows, wholeRows: true, byteOffset: 0, byteLength: 0 }];
  }
  const maxElements = Math.floor(maxChunkBytes / bpe);
  const block = chunkBlockElements(shape, maxElements);
  const perChunk = Math.floor(maxElements / block) * block;
  const spans: ChunkSpan[] = [];
  for (let first = 0; first < n; first += perChunk) {
    const count = Math.min(perChunk, n - first);
    const end = first + count;
    const rowStart = Math.floor(first / rowElems);
    spans.push({
      firstElement: first,
      elementCount: count,
      rowStart,
      rowCount: Math.ceil(end / rowElems) - rowStart,
      totalRows,
      wholeRows: first % rowElems === 0 && end % rowElems === 0,
      byteOffset: first * bpe,
      byteLength: count * bpe,
    });
  }
  return spans;
}

/**
 * Splits a tensor into chunks of at most `maxChunkBytes` bytes each (see the module doc
 * for where the cuts fall). The chunks' `data` are views of `tensor.data`, not copies.
 */
export function splitIntoChunks(tensor: RawTensor, opts: ChunkOptions = {}): TensorChunk[] {
  assertRawTensor(tensor);
  const shape = Object.freeze([...tensor.shape]);
  return planChunks(tensor.dtype, shape, opts).map((span) => ({
    ...span,
    dtype: tensor.dtype,
    shape,
    data: tensor.data.subarray(span.byteOffset, span.byteOffset + span.byteLength),
  }));
}

/**
 * A chunk as received. The element range is authoritative; give `firstElement` and
 * `elementCount` (as the proto does), or only `rowStart` and `rowCount` for a range of
 * whole rows. `dtype`, `shape`, `totalRows` and row fields, when present, must agree
 * with the assembler and with the element range.
 */
export interface ChunkInput {
  data: Uint8Array;
  firstElement?: number;
  elementCount?: number;
  dtype?: DType;
  shape?: readonly number[];
  rowStart?: number;
  rowCount?: number;
  totalRows?: number;
}

export interface AssemblerOptions {
  /** Refuse (at construction) tensors larger than this many bytes: shapes come from peers. */
  maxTotalBytes?: number;
  /** Write into this buffer (exactly the tensor's byte length) instead of allocating one. */
  target?: Uint8Array;
}

/** A half-open element range `[firstElement, firstElement + elementCount)`. */
export interface ElementRange {
  firstElement: number;
  elementCount: number;
}

/**
 * Reassembles the chunks of one tensor, arriving in any order, into one preallocated
 * buffer. Every chunk is validated before any byte is written (dtype, shape, element and
 * row range, byte length, no overlap with what was already received), so a rejected
 * chunk leaves the assembler unchanged. Received ranges are kept merged and sorted, so
 * checks cost O(log chunks).
 */
export class ChunkAssembler {
  readonly dtype: DType;
  /** Shape of the whole tensor (frozen copy). */
  readonly shape: readonly number[];
  readonly numel: number;
  readonly totalRows: number;
  /** Elements per dim-0 row. */
  readonly rowElements: number;
  readonly bytesPerElement: number;
  /** The tensor's bytes; complete once {@link isComplete} is true. */
  readonly data: Uint8Array;
  // Disjoint, sorted, merged received element ranges [starts[i], ends[i]).
  private readonly starts: number[] = [];
  private readonly ends: number[] = [];
  private received = 0;
  private accepted = 0;

  constructor(dtype: DType, shape: readonly number[], opts: AssemblerOptions = {}) {
    this.bytesPerElement = bytesPerElement(dtype);
    this.dtype = dtype;
    this.numel = numel(shape);
    this.shape = Object.freeze([...shape]);
    this.totalRows = rowCount(shape);
    this.rowElements = rowElements(shape);
    const byteLength = this.numel * this.bytesPerElement;
    if (opts.maxTotalBytes !== undefined && byteLength > opts.maxTotalBytes) {
      throw new Error(`${this.describe()} is ${byteLength} bytes, above the limit of ${opts.maxTotalBytes}`);
    }
    if (opts.target !== undefined) {
      if (opts.target.byteLength !== byteLength) {
        throw new Error(`${this.describe()}: target buffer must be ${byteLength} bytes, got ${opts.target.byteLength}`);
      }
      this.data = opts.target;
    } else {
      this.data = new Uint8Array(byteLength);
    }
  }

  /** An assembler sized from a chunk's own dtype and shape (the chunk is not added). */
  static forChunk(chunk: { dtype: DType; shape: readonly number[] }, opts: AssemblerOptions = {}): ChunkAssembler {
    return new ChunkAssembler(chunk.dtype, chunk.shape, opts);
  }

  /** Elements received so far. */
  get receivedElements(): number {
    return this.received;
  }

  /** Chunks accepted so far (empty ones included). */
  get chunkCount(): number {
    return this.accepted;
  }

  /**
   * Validates `chunk` and copies its bytes into place. Throws (changing nothing) on a
   * dtype/shape disagreement, an element or row range outside the tensor, a byte length
   * that does not match the element count, or an overlap with data already received.
   */
  add(chunk: ChunkInput): void {
    if (!(chunk.data instanceof Uint8Array)) throw new Error(`${this.describe()}: chunk data must be a Uint8Array or Buffer`);
    if (chunk.dtype !== undefined && chunk.dtype !== this.dtype) {
      throw new Error(`${this.describe()}: chunk has dtype ${chunk.dtype}, expected ${this.dtype}`);
    }
    if (chunk.shape !== undefined && !shapesEqual(chunk.shape, this.shape)) {
      throw new Error(`${this.describe()}: chunk has shape ${shapeToString(chunk.shape)}, expected ${shapeToString(this.shape)}`);
    }
    if (chunk.totalRows !== undefined && chunk.totalRows !== this.totalRows) {
      throw new Error(`${this.describe()}: chunk says totalRows ${chunk.totalRows}, the tensor has ${this.totalRows}`);
    }
    if (chunk.rowStart !== undefined || chunk.rowCount !== undefined) this.checkRows(chunk.rowStart, chunk.rowCount);

    let first: number;
    let count: number;
    if (chunk.firstElement !== undefined || chunk.elementCount !== undefined) {
      if (chunk.firstElement === undefined || chunk.elementCount === undefined) {
        throw new Error(`${this.describe()}: chunk must give both firstElement and elementCount`);
      }
      first = chunk.firstElement;
      count = chunk.elementCount;
      checkIndex(first, 'firstElement', this);
      checkIndex(count, 'elementCount', this);
      if (first + count > this.numel) {
        throw new Error(`${this.describe()}: chunk elements [${first}, ${first + count}) are out of range (tensor has ${this.numel} elements)`);
      }
      if ((chunk.rowStart !== undefined || chunk.rowCount !== undefined) && count > 0) {
        const rowStart = Math.floor(first / this.rowElements);
        const rows = Math.ceil((first + count) / this.rowElements) - rowStart;
        if ((chunk.rowStart !== undefined && chunk.rowStart !== rowStart) || (chunk.rowCount !== undefined && chunk.rowCount !== rows)) {
          throw new Error(
            `${this.describe()}: chunk rows [${chunk.rowStart}, +${chunk.rowCount}) disagree with its elements ` +
              `[${first}, ${first + count}), which touch rows [${rowStart}, ${rowStart + rows})`,
          );
        }
      }
    } else if (chunk.rowStart !== undefined && chunk.rowCount !== undefined) {
      first = chunk.rowStart * this.rowElements;
      count = chunk.rowCount * this.rowElements;
    } else {
      throw new Error(`${this.describe()}: chunk must give firstElement and elementCount (or rowStart and rowCount)`);
    }

    const expectedBytes = count * this.bytesPerElement;
    if (chunk.data.byteLength !== expectedBytes) {
      throw new Error(
        `${this.describe()}: chunk elements [${first}, ${first + count}) need ${expectedBytes} bytes ` +
          `(${count} x ${this.bytesPerElement}), got ${chunk.data.byteLength}`,
      );
    }
    if (count > 0) this.insertRange(first, first + count);
    this.data.set(chunk.data, first * this.bytesPerElement);
    this.accepted++;
  }

  /** True once every element has been received (immediately, for an empty tensor). */
  isComplete(): boolean {
    return this.received === this.numel;
  }

  /** The element ranges not yet received, in order. */
  missingElementRanges(): ElementRange[] {
    const out: ElementRange[] = [];
    let cursor = 0;
    for (let i = 0; i < this.starts.length; i++) {
      if (this.starts[i] > cursor) out.push({ firstElement: cursor, elementCount: this.starts[i] - cursor });
      cursor = this.ends[i];
    }
    if (cursor < this.numel) out.push({ firstElement: cursor, elementCount: this.numel - cursor });
    return out;
  }

  /** Dim-0 rows with at least one element not yet received, ascending. */
  missingRows(): number[] {
    const rows: number[] = [];
    if (this.numel === 0) return rows;
    for (const gap of this.missingElementRanges()) {
      const from = Math.floor(gap.firstElement / this.rowElements);
      const to = Math.ceil((gap.firstElement + gap.elementCount) / this.rowElements);
      // Two gaps can share a partially received row: list it once.
      let r = from;
      if (rows.length > 0 && rows[rows.length - 1] >= r) r = rows[rows.length - 1] + 1;
      for (; r < to; r++) rows.push(r);
    }
    return rows;
  }

  /** The assembled tensor (its `data` is this assembler's buffer). Throws if incomplete. */
  result(): RawTensor {
    if (!this.isComplete()) {
      const missing = this.missingRows();
      const shown = missing.slice(0, 10).join(', ') + (missing.length > 10 ? `, ... (${missing.length} rows in all)` : '');
      throw new Error(`${this.describe()} is incomplete: ${this.received} of ${this.numel} elements received; missing rows ${shown}`);
    }
    return { dtype: this.dtype, shape: [...this.shape], data: this.data };
  }

  private checkRows(rowStart: number | undefined, rows: number | undefined): void {
    if (rowStart !== undefined) checkIndex(rowStart, 'rowStart', this);
    if (rows !== undefined) checkIndex(rows, 'rowCount', this);
    const start = rowStart ?? 0;
    const end = start + (rows ?? 0);
    if (start > this.totalRows || end > this.totalRows) {
      throw new Error(`${this.describe()}: chunk rows [${start}, ${end}) are out of range (tensor has ${this.totalRows} rows)`);
    }
  }

  private insertRange(s: number, e: number): void {
    // First received range ending after s; it is the only one that can overlap [s, e).
    let lo = 0;
    let hi = this.ends.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.ends[mid] > s) hi = mid;
      else lo = mid + 1;
    }
    if (lo < this.starts.length && this.starts[lo] < e) {
      const os = Math.max(s, this.starts[lo]);
      const oe = Math.min(e, this.ends[lo]);
      throw new Error(
        `${this.describe()}: chunk elements [${s}, ${e}) overlap elements [${os}, ${oe}) already received ` +
          `(rows ${Math.floor(os / this.rowElements)}..${Math.ceil(oe / this.rowElements) - 1})`,
      );
    }
    const joinsLeft = lo > 0 && this.ends[lo - 1] === s;
    const joinsRight = lo < this.starts.length && this.starts[lo] === e;
    if (joinsLeft && joinsRight) {
      this.ends[lo - 1] = this.ends[lo];
      this.starts.splice(lo, 1);
      this.ends.splice(lo, 1);
    } else if (joinsLeft) {
      this.ends[lo - 1] = e;
    } else if (joinsRight) {
      this.starts[lo] = s;
    } else {
      this.starts.splice(lo, 0, s);
      this.ends.splice(lo, 0, e);
    }
    this.received += e - s;
  }

  private describe(): string {
    return `${this.dtype} tensor ${shapeToString(this.shape)}`;
  }
}

function checkIndex(v: unknown, name: string, a: { dtype: DType; shape: readonly number[] }): void {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) {
    throw new Error(`${a.dtype} tensor ${shapeToString(a.shape)}: chunk ${name} must be a non-negative safe integer, got ${String(v)}`);
  }
}
