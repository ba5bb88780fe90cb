/**
 * How the original turns one group's token ids into rows: HF's
 * `truncation=True, max_length=chunk_size, return_overflowing_tokens=True` (stride 0)
 * cuts the ids into consecutive `chunk_size` pieces, the last one possibly shorter, and
 * `v[:-1]` then drops the LAST row unless `return_final_batch`. Note the drop is
 * unconditional: when the ids fill the rows exactly, a full row is dropped too.
 */

/** Row layout of one group: `[start, end)` offsets into the group's ids. */
export interface GroupRows {
  /** Rows kept, in order. */
  kept: [start: number, end: number][];
  /** Tokens in the dropped last row (0 when `returnFinalBatch`). */
  droppedTokens: number;
}

export function planGroupRows(tokenCount: number, chunkSize: number, returnFinalBatch: boolean): GroupRows {
  // HF returns one (possibly empty) row even for an empty encoding.
  const rowCount = Math.max(1, Math.ceil(tokenCount / chunkSize));
  const rows: [number, number][] = [];
  for (let r = 0; r < rowCount; r++) rows.push([r * chunkSize, Math.min((r + 1) * chunkSize, tokenCount)]);
  if (returnFinalBatch) return { kept: rows, droppedTokens: 0 };
  const [start, end] = rows.pop()!;
  return { kept: rows, droppedTokens: end - start };
}

/**
 * The original's per-row `length` / `bytes` columns: `divmod(total, rows)` spread over
 * the rows, the remainder added to the last, so they sum to `total`.
 */
export function spreadTotal(total: number, rows: number): number[] {
  if (rows === 0) return [];
  const base = Math.floor(total / rows);
  const out = new Array<number>(rows).fill(base);
  out[rows - 1] += total - base * rows;
  return out;
}
