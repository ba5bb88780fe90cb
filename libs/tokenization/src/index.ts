/**
 * @tuned-lens/tokenization: Hugging Face tokenizers (tokenizer.json) with the special
 * token rules of `transformers`, and strict UTF-8 decoding for service inputs.
 */
export { TokenizerError, TokenIdError, type TokenizerErrorKind } from './errors';
export { decodeUtf8Strict, firstInvalidUtf8Offset, InvalidUtf8Error } from './utf8';
export {
  LoadedTokenizer,
  SUPPORTED_MODEL_TYPES,
  type DecodeOptions,
  type EncodeOptions,
  type TokenizerSource,
} from './loaded-tokenizer';
export { loadTokenizer, type LoadTokenizerOptions } from './load';
export { readTokenizerFiles, type TokenizerFiles } from './tokenizer-files';
export { NO_LIMIT_THRESHOLD, parseModelMaxLength } from './model-max-length';
export { resolveSpecialTokens, specialTokenText, SPECIAL_TOKEN_KEYS, type SpecialTokenKey, type SpecialTokens } from './special-tokens';
