/**
 * Strict UTF-8 decoding for bytes that arrive from the outside (gRPC `bytes` fields,
 * files): invalid sequences are an error instead of silently becoming U+FFFD, which
 * would change what gets tokenized.
 */

/** Invalid UTF-8 input; `byteOffset` is where the first bad sequence starts. */
export class InvalidUtf8Error extends Error {
  override readonly name = 'InvalidUtf8Error';

  constructor(
    readonly byteOffset: number,
    readonly byteLength: number,
    what: string,
  ) {
    super(`${what} is not valid UTF-8: bad byte sequence at offset ${byteOffset} of ${byteLength}`);
  }
}

const fatalDecoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/**
 * Decodes `bytes` as UTF-8 and throws {@link InvalidUtf8Error} on the first invalid
 * sequence (overlong forms, surrogates, truncated sequences, stray continuation bytes).
 * A leading byte-order mark is kept as U+FEFF, since it is part of the text given.
 *
 * @param what names the input in the error message, e.g. `"request.text"`.
 */
export function decodeUtf8Strict(bytes: Uint8Array, what = 'input'): string {
  try {
    return fatalDecoder.decode(bytes);
  } catch {
    throw new InvalidUtf8Error(firstInvalidUtf8Offset(bytes), bytes.length, what);
  }
}

/**
 * Offset of the first byte that starts an invalid UTF-8 sequence, or -1 when the input is
 * valid. Only run on the error path (TextDecoder does not report where it failed).
 * Follows the well-formed byte table of Unicode 15, section 3.9 (table 3-7).
 */
export function firstInvalidUtf8Offset(bytes: Uint8Array): number {
  let i = 0;
  const n = bytes.length;
  while (i < n) {
    const b = bytes[i];
    if (b < 0x80) { i += 1; continue; }
    let need: number;
    let lo = 0x80;
    let hi = 0xbf;
    if (b >= 0xc2 && b <= 0xdf) need = 1;
    else if (b >= 0xe0 && b <= 0xef) {
      need = 2;
      if (b === 0xe0) lo = 0xa0; // no overlong 3-byte forms
      if (b === 0xed) hi = 0x9f; // no UTF-16 surrogates
    } else if (b >= 0xf0 && b <= 0xf4) {
      need = 3;
      if (b === 0xf0) lo = 0x90; // no overlong 4-byte forms
      if (b === 0xf4) hi = 0x8f; // nothing above U+10FFFF
    } else return i;
    if (i + need >= n) return i; // sequence cut off by the end of the input
    const second = bytes[i + 1];
    if (second < lo || second > hi) return i;
    for (let k = 2; k <= need; k++) {
      const c = bytes[i + k];
      if (c < 0x80 || c > 0xbf) return i;
    }
    i += need + 1;
  }
  return -1;
}
