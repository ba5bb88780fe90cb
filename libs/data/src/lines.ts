/**
 * Splitting a byte stream into lines without decoding it first. Splitting on the byte
 * 0x0A is safe for UTF-8 (it never occurs inside a multi-byte sequence), and decoding
 * each line on its own lets an invalid sequence be reported with its line number.
 */

/** One line without its `\n` (a trailing `\r` is kept; JSON treats it as whitespace). */
export interface RawLine {
  bytes: Uint8Array;
  /** 1-based line number. */
  number: number;
}

const NEWLINE = 0x0a;

/**
 * Push-style line splitter: feed chunks in order with {@link push}, then call
 * {@link end} once for a last line without a final newline.
 */
export class LineSplitter {
  private carry: Uint8Array[] = [];
  private carryLength = 0;
  private lineNumber = 0;

  /** Complete lines ending in `chunk`. Lines may span any number of chunks. */
  push(chunk: Uint8Array): RawLine[] {
    const lines: RawLine[] = [];
    let start = 0;
    for (let nl = chunk.indexOf(NEWLINE); nl !== -1; nl = chunk.indexOf(NEWLINE, start)) {
      lines.push({ bytes: this.takeLine(chunk.subarray(start, nl)), number: ++this.lineNumber });
      start = nl + 1;
    }
    if (start < chunk.length) {
      // Copied: the producer (fs stream, zstd decoder) may reuse its buffers.
      this.carry.push(chunk.slice(start));
      this.carryLength += chunk.length - start;
    }
    return lines;
  }

  /** The last line if the input did not end with `\n`. */
  end(): RawLine[] {
    if (this.carryLength === 0) return [];
    return [{ bytes: this.takeLine(new Uint8Array(0)), number: ++this.lineNumber }];
  }

  /** `tail` joined to whatever earlier chunks left over; resets the carry. */
  private takeLine(tail: Uint8Array): Uint8Array {
    if (this.carryLength === 0) return tail;
    const line = new Uint8Array(this.carryLength + tail.length);
    let offset = 0;
    for (const piece of this.carry) {
      line.set(piece, offset);
      offset += piece.length;
    }
    line.set(tail, offset);
    this.carry = [];
    this.carryLength = 0;
    return line;
  }
}
