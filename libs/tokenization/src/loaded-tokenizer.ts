/**
 * A Hugging Face tokenizer (tokenizer.json + config) wrapped with the behaviour this
 * project relies on: typed ids, strict id checks on decode, the special tokens and
 * `model_max_length` as `transformers` resolves them.
 */
import { Tokenizer } from '@huggingface/tokenizers';
import { TokenIdError, TokenizerError } from './errors';
import { parseModelMaxLength } from './model-max-length';
import { resolveSpecialTokens, type SpecialTokens } from './special-tokens';

/** Model types of tokenizer.json that `@huggingface/tokenizers` 0.2.0 implements. */
export const SUPPORTED_MODEL_TYPES = ['BPE', 'Unigram', 'WordPiece'] as const;

/** Top-level fields the JS runtime requires to be present (HF files always have them, maybe `null`). */
const PIPELINE_FIELDS = ['normalizer', 'pre_tokenizer', 'post_processor', 'decoder'] as const;

export interface EncodeOptions {
  /**
   * Apply the tokenizer's post-processor (e.g. Llama's BOS, BERT's [CLS]/[SEP]).
   * Default `true`, as in `transformers`. GPT-2-style tokenizers add nothing either way.
   */
  addSpecialTokens?: boolean;
}

export interface DecodeOptions {
  /** Leave out special tokens such as `<|endoftext|>`. Default `false`. */
  skipSpecialTokens?: boolean;
  /**
   * `transformers`' `clean_up_tokenization_spaces` (removes spaces before punctuation).
   * Default: the value in tokenizer_config.json, or `true` when it has none (as HF).
   */
  cleanUpTokenizationSpaces?: boolean;
}

/** Inputs of {@link LoadedTokenizer.fromJson}: the parsed files and names for messages. */
export interface TokenizerSource {
  /** Parsed tokenizer.json. */
  tokenizerJson: unknown;
  /** Parsed tokenizer_config.json, if any. */
  config?: unknown;
  /** Parsed special_tokens_map.json, if any. */
  specialTokensMap?: unknown;
  /** Display name (e.g. the folder name). Default `"tokenizer"`. */
  name?: string;
  /** sha256 (hex) of tokenizer.json's bytes, when known. */
  tokenizerSha256?: string;
  /** Paths used in error messages; default the bare file names. */
  paths?: { tokenizer?: string; config?: string; specialTokensMap?: string };
}

type JsonObject = Record<string, unknown>;

const isObject = (v: unknown): v is JsonObject => v !== null && typeof v === 'object' && !Array.isArray(v);

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  return `a ${typeof v}`;
}

export class LoadedTokenizer {
  /** Number of ids: highest id in the vocabulary (added tokens included) + 1, like `len(tokenizer)`. */
  readonly vocabSize: number;
  /** EOS text, e.g. `"<|endoftext|>"`, or `undefined` if the tokenizer defines none. */
  readonly eosToken: string | undefined;
  readonly eosTokenId: number | undefined;
  readonly bosToken: string | undefined;
  readonly bosTokenId: number | undefined;
  /** Longest input the model takes, in tokens; `undefined` = no limit (HF's 1e30 sentinel or no entry). */
  readonly modelMaxLength: number | undefined;
  /** Special tokens by slot (`eos_token`, ...) and the additional ones. */
  readonly specialTokens: SpecialTokens;
  /** sha256 (hex) of tokenizer.json's bytes when loaded from a file, else `undefined`. */
  readonly tokenizerSha256: string | undefined;

  private constructor(
    readonly name: string,
    private readonly tok: Tokenizer,
    special: SpecialTokens,
    modelMaxLength: number | undefined,
    private readonly cleanUpByDefault: boolean,
    tokenizerSha256: string | undefined,
  ) {
    this.tokenizerSha256 = tokenizerSha256;
    this.vocabSize = tok.model?.vocab.length ?? 0;
    this.specialTokens = special;
    this.eosToken = special.tokens.eos_token;
    this.bosToken = special.tokens.bos_token;
    this.eosTokenId = this.eosToken === undefined ? undefined : tok.token_to_id(this.eosToken);
    this.bosTokenId = this.bosToken === undefined ? undefined : tok.token_to_id(this.bosToken);
    this.modelMaxLength = modelMaxLength;
  }

  /**
   * Builds a tokenizer from already parsed files (the folder loader and tests use this;
   * a service could feed it files received over the wire).
   * @throws TokenizerError `invalid`, naming the file at fault.
   */
  static fromJson(source: TokenizerSource): LoadedTokenizer {
    const tokenizerPath = source.paths?.tokenizer ?? 'tokenizer.json';
    const configPath = source.paths?.config ?? 'tokenizer_config.json';
    const mapPath = source.paths?.specialTokensMap ?? 'special_tokens_map.json';
    const json = source.tokenizerJson;

    if (!isObject(json)) {
      throw new TokenizerError('invalid', `not a tokenizer: expected a JSON object, got ${describe(json)}`, tokenizerPath);
    }
    if (!isObject(json.model)) {
      throw new TokenizerError('invalid', 'not a tokenizer: no "model" object (is this a Hugging Face tokenizer.json?)', tokenizerPath);
    }
    const modelType = json.model.type;
    // Files without a model type are old serialisations; the runtime infers the type itself.
    if (modelType !== undefined && !(SUPPORTED_MODEL_TYPES as readonly unknown[]).includes(modelType)) {
      throw new TokenizerError(
        'invalid',
        `unsupported model type ${JSON.stringify(modelType)} (supported: ${SUPPORTED_MODEL_TYPES.join(', ')})`,
        tokenizerPath,
      );
    }
    const config = optionalObject(source.config, configPath);
    const map = optionalObject(source.specialTokensMap, mapPath);
    const maxLength = parseModelMaxLength(config.model_max_length);
    if (typeof maxLength === 'object') throw new TokenizerError('invalid', maxLength.problem, configPath);

    const special = resolveSpecialTokens(config, map);
    // The runtime reads special tokens from its config object as plain strings.
    const runtimeConfig: JsonObject = { ...config, ...special.tokens, additional_special_tokens: special.additional };
    const runtimeJson: JsonObject = { ...json, added_tokens: Array.isArray(json.added_tokens) ? json.added_tokens : [] };
    for (const field of PIPELINE_FIELDS) runtimeJson[field] ??= null;

    let tok: Tokenizer;
    try {
      tok = new Tokenizer(runtimeJson, runtimeConfig);
    } catch (e) {
      throw new TokenizerError('invalid', `cannot build the tokenizer (${(e as Error).message})`, tokenizerPath, { cause: e });
    }
    const cleanUp = typeof config.clean_up_tokenization_spaces === 'boolean' ? config.clean_up_tokenization_spaces : true;
    return new LoadedTokenizer(source.name ?? 'tokenizer', tok, special, maxLength, cleanUp, source.tokenizerSha256);
  }

  /**
   * Token ids of `text`.
   * @throws TokenizerError when a piece has no id and the tokenizer has no unk token (the
   *         runtime would otherwise emit `undefined`, which an Int32Array turns into 0).
   */
  encode(text: string, options: EncodeOptions = {}): Int32Array {
    const { ids, tokens } = this.tok.encode(text, { add_special_tokens: options.addSpecialTokens ?? true });
    const out = new Int32Array(ids.length);
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i];
      if (id === undefined) {
        throw new TokenizerError(
          'invalid',
          `cannot encode: piece ${JSON.stringify(tokens[i])} is not in the vocabulary and there is no unk_token`,
          this.name,
        );
      }
      out[i] = id;
    }
    return out;
  }

  /** {@link encode} for each text, same options. */
  encodeBatch(texts: readonly string[], options: EncodeOptions = {}): Int32Array[] {
    return texts.map((t) => this.encode(t, options));
  }

  /**
   * Text of `ids`. An empty sequence gives `""`.
   * @throws TokenIdError for an id that is not an integer in [0, vocabSize) or has no token.
   */
  decode(ids: ArrayLike<number>, options: DecodeOptions = {}): string {
    const list = new Array<number>(ids.length);
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i];
      if (!Number.isInteger(id)) throw new TokenIdError(id, i, this.vocabSize, 'not an integer');
      if (id < 0 || id >= this.vocabSize) {
        throw new TokenIdError(id, i, this.vocabSize, `out of range for vocab size ${this.vocabSize} (valid ids 0..${this.vocabSize - 1})`);
      }
      if (this.tok.id_to_token(id) === undefined) throw new TokenIdError(id, i, this.vocabSize, 'no token has this id');
      list[i] = id;
    }
    if (list.length === 0) return ''; // the runtime rejects empty input
    return this.tok.decode(list, {
      skip_special_tokens: options.skipSpecialTokens ?? false,
      clean_up_tokenization_spaces: options.cleanUpTokenizationSpaces ?? this.cleanUpByDefault,
    });
  }

  /** Token string of one id (e.g. `"Ġworld"`), or `undefined`. */
  idToToken(id: number): string | undefined {
    return this.tok.id_to_token(id);
  }

  /** Id of one token string, or `undefined`. */
  tokenToId(token: string): number | undefined {
    return this.tok.token_to_id(token);
  }
}

function optionalObject(value: unknown, path: string): JsonObject {
  if (value === undefined) return {};
  if (!isObject(value)) throw new TokenizerError('invalid', `expected a JSON object, got ${describe(value)}`, path);
  return value;
}
