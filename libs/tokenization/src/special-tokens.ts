/**
 * Special-token texts (eos, bos, unk, pad, ...) as Hugging Face `transformers` resolves
 * them from `tokenizer_config.json` and `special_tokens_map.json`.
 */

/** The special-token slots `transformers` knows by name. */
export const SPECIAL_TOKEN_KEYS = ['bos_token', 'eos_token', 'unk_token', 'sep_token', 'pad_token', 'cls_token', 'mask_token'] as const;
export type SpecialTokenKey = (typeof SPECIAL_TOKEN_KEYS)[number];

/** Resolved special tokens: slot -> token text, plus `additional_special_tokens`. */
export interface SpecialTokens {
  tokens: Partial<Record<SpecialTokenKey, string>>;
  additional: string[];
}

/**
 * Text of one special-token entry. Files store either a plain string (`"</s>"`) or a
 * serialised AddedToken (`{"__type": "AddedToken", "content": "</s>", ...}`); `null` or
 * anything else means "not set".
 */
export function specialTokenText(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (value !== null && typeof value === 'object' && typeof (value as { content?: unknown }).content === 'string') {
    return (value as { content: string }).content;
  }
  return undefined;
}

/**
 * Merges the two files the way `transformers` does: entries of special_tokens_map.json
 * override those of tokenizer_config.json (it is loaded after the config's init kwargs).
 */
export function resolveSpecialTokens(config: Record<string, unknown>, map: Record<string, unknown>): SpecialTokens {
  const tokens: Partial<Record<SpecialTokenKey, string>> = {};
  for (const key of SPECIAL_TOKEN_KEYS) {
    const text = specialTokenText(map[key]) ?? specialTokenText(config[key]);
    if (text !== undefined) tokens[key] = text;
  }
  const rawAdditional = map.additional_special_tokens ?? config.additional_special_tokens;
  const additional = Array.isArray(rawAdditional)
    ? rawAdditional.map(specialTokenText).filter((t): t is string => t !== undefined)
    : [];
  return { tokens, additional };
}
