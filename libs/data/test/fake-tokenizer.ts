/**
 * Test helper: a tokenizer whose ids are the UTF-16 code units of the text, so the exact
 * string handed to `encode` can be read back from the ids. Optionally prepends a BOS id
 * when special tokens are added (Llama-style).
 */
import type { ChunkTokenizer } from '@tuned-lens/data';

export class FakeTokenizer implements ChunkTokenizer {
  /** Every call to encode, in order. */
  readonly calls: { text: string; addSpecialTokens: boolean }[] = [];

  readonly eosToken: string | undefined;
  readonly modelMaxLength: number | undefined;
  private readonly bosId: number | undefined;

  constructor(options: { eosToken?: string; modelMaxLength?: number; bosId?: number } = {}) {
    this.eosToken = options.eosToken;
    this.modelMaxLength = options.modelMaxLength;
    this.bosId = options.bosId;
  }

  encode(text: string, options: { addSpecialTokens: boolean }): number[] {
    this.calls.push({ text, addSpecialTokens: options.addSpecialTokens });
    const ids = Array.from({ length: text.length }, (_, i) => text.charCodeAt(i));
    return options.addSpecialTokens && this.bosId !== undefined ? [this.bosId, ...ids] : ids;
  }
}

/** Ids of `text` under the fake tokenizer. */
export const codes = (text: string): number[] => Array.from({ length: text.length }, (_, i) => text.charCodeAt(i));
/** Text of fake ids. */
export const text = (ids: ArrayLike<number>): string => String.fromCharCode(...Array.from(ids));
