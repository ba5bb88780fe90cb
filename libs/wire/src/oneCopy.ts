/**
 * One-copy serialisation of messages whose payload is one large `bytes` field.
 * ts-proto's encoder grows a buffer by doubling and copies the payload two or three
 * times (57-86 ms per 16 MiB measured here); this writes every small field with the
 * normal encoder and joins the pieces with a single Buffer.concat (about 5 ms per 16 MiB).
 *
 * A message is described as a path of nested length-delimited fields down to the bytes
 * field: each level contributes its "head" (all its other fields, already encoded) and
 * the field number under which the next level sits.
 */
import { BinaryWriter, WireType } from '@bufbuild/protobuf/wire';

export interface NestLevel {
  /** This level's other fields, encoded (must not contain the field `childField`). */
  head: Uint8Array;
  /** Field number of the nested message (or, at the last level, of the bytes field). */
  childField: number;
}

function tagAndLength(field: number, length: number): Uint8Array {
  return new BinaryWriter().tag(field, WireType.LengthDelimited).uint32(length).finish();
}

/**
 * Bytes of the outermost message: levels[0] is the outermost, the last level's
 * `childField` is the bytes field holding `payload`.
 */
export function encodeNested(levels: NestLevel[], payload: Uint8Array): Buffer {
  const pieces: Uint8Array[] = [];
  let innerLength = payload.byteLength;
  // Build from the innermost level outwards: each level's length covers everything inside.
  const suffix: Uint8Array[][] = [];
  for (let i = levels.length - 1; i >= 0; i--) {
    const tl = tagAndLength(levels[i].childField, innerLength);
    suffix.push([levels[i].head, tl]);
    innerLength = levels[i].head.byteLength + tl.byteLength + innerLength;
  }
  for (let i = suffix.length - 1; i >= 0; i--) {
    const [head, tl] = suffix[i];
    // Outer levels come first; the field order inside a message does not matter to parsers.
    pieces.push(head, tl);
  }
  pieces.push(payload);
  return Buffer.concat(pieces, innerLength);
}
