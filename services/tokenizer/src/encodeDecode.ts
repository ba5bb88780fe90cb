/** GetTokenizerInfo, Encode and Decode. */
import { tokenizerV1 } from '@tuned-lens/proto';
import { invalidArgument, resourceExhausted } from '@tuned-lens/grpc-kit';
import { decodeUtf8Strict, InvalidUtf8Error } from '@tuned-lens/tokenization';
import type { EncodeReply, TokenizerHolder } from './tokenizerHolder';
import type { TokenizerLimits } from './limits';

export function tokenizerInfo(holder: TokenizerHolder): tokenizerV1.GetTokenizerInfoResponse {
  const t = holder.get().tokenizer;
  return {
    name: t.name,
    vocabSize: t.vocabSize,
    eosToken: t.eosToken ?? '',
    eosTokenId: t.eosTokenId ?? -1,
    bosToken: t.bosToken ?? '',
    bosTokenId: t.bosTokenId ?? -1,
    modelMaxLength: t.modelMaxLength ?? 0,
    tokenizerSha256: t.tokenizerSha256 ?? '',
  };
}

/** The text of input `i`; bytes must be valid UTF-8. */
function inputText(input: tokenizerV1.TextInput, i: number): string {
  const kind = input.kind;
  if (!kind) throw invalidArgument(`inputs[${i}] has neither text nor utf8`);
  if (kind.$case === 'text') return kind.text;
  try {
    return decodeUtf8Strict(kind.utf8, `inputs[${i}].utf8`);
  } catch (err) {
    if (err instanceof InvalidUtf8Error) throw invalidArgument(err.message);
    throw err;
  }
}

export async function encode(holder: TokenizerHolder, req: tokenizerV1.EncodeRequest, limits: TokenizerLimits, signal: AbortSignal): Promise<EncodeReply> {
  const tokenizing = holder.get();
  if (req.inputs.length === 0) throw invalidArgument('no inputs: give at least one text');
  if (req.inputs.length > limits.maxBatch) {
    throw resourceExhausted(`${req.inputs.length} inputs in one request; the limit is ${limits.maxBatch}: split the batch`);
  }
  const texts = req.inputs.map(inputText);
  let chars = 0;
  texts.forEach((t, i) => {
    if (t.length === 0) throw invalidArgument(`inputs[${i}] is empty: there is nothing to tokenize`);
    chars += t.length;
  });
  if (chars > limits.maxCharsPerRequest) {
    throw resourceExhausted(`${chars} characters in one request; the limit is ${limits.maxCharsPerRequest}: split the batch`);
  }
  return tokenizing.encode({ texts, addSpecialTokens: req.addSpecialTokens, returnTokens: req.returnTokens }, signal);
}

export async function decode(holder: TokenizerHolder, req: tokenizerV1.DecodeRequest, limits: TokenizerLimits, signal: AbortSignal): Promise<tokenizerV1.DecodeResponse> {
  const tokenizing = holder.get();
  if (req.sequences.length > limits.maxBatch) {
    throw resourceExhausted(`${req.sequences.length} sequences in one request; the limit is ${limits.maxBatch}: split the batch`);
  }
  const total = req.sequences.reduce((n, s) => n + s.ids.length, 0);
  if (total > limits.maxIdsPerRequest) {
    throw resourceExhausted(`${total} token ids in one request; the limit is ${limits.maxIdsPerRequest}: split the batch`);
  }
  return { texts: await tokenizing.decode(req.sequences.map((s) => s.ids), req.skipSpecialTokens, signal) };
}
