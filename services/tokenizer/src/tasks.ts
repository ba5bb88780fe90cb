/**
 * What each tokenizer task computes: the same code runs on the service's thread (small
 * requests) and in a worker thread (the rest), so both give the same answers.
 */
import { tokenizerV1 } from '@tuned-lens/proto';
import { invalidArgument } from '@tuned-lens/grpc-kit';
import { TokenIdError, type LoadedTokenizer } from '@tuned-lens/tokenization';
import type { EncodeTask, Task, TaskResult } from './worker/protocol';

export function encodeResponse(tokenizer: LoadedTokenizer, task: Omit<EncodeTask, 'kind'>): tokenizerV1.EncodeResponse {
  return {
    encodings: task.texts.map((text) => {
      const ids = tokenizer.encode(text, { addSpecialTokens: task.addSpecialTokens });
      const tokens = task.returnTokens ? Array.from(ids, (id) => tokenizer.idToToken(id) ?? '') : [];
      return { ids: toNumbers(ids), tokens };
    }),
  };
}

/** @throws RpcError INVALID_ARGUMENT naming the sequence with an id the tokenizer lacks. */
export function decodeTexts(tokenizer: LoadedTokenizer, sequences: ArrayLike<number>[], skipSpecialTokens: boolean): string[] {
  return sequences.map((ids, i) => {
    try {
      return tokenizer.decode(ids, { skipSpecialTokens });
    } catch (err) {
      if (err instanceof TokenIdError) throw invalidArgument(`sequences[${i}]: ${err.message}`);
      throw err;
    }
  });
}

/** A task's result and the buffers to transfer with it (a worker's side). */
export function runTask(tokenizer: LoadedTokenizer, task: Task): { result: TaskResult[Task['kind']]; transfer: ArrayBuffer[] } {
  switch (task.kind) {
    case 'encode': {
      const bytes = ownBuffer(tokenizerV1.EncodeResponse.encode(encodeResponse(tokenizer, task)).finish());
      return { result: bytes, transfer: [bytes.buffer as ArrayBuffer] };
    }
    case 'encodeIds': {
      const ids = ownBuffer(tokenizer.encode(task.text, { addSpecialTokens: true }));
      return { result: ids, transfer: [ids.buffer as ArrayBuffer] };
    }
    case 'decode':
      return { result: decodeTexts(tokenizer, task.sequences, task.skipSpecialTokens), transfer: [] };
  }
}

/** A plain array of the ids (a loop: several times faster than Array.from for millions). */
function toNumbers(ids: Int32Array): number[] {
  const out = new Array<number>(ids.length);
  for (let i = 0; i < ids.length; i++) out[i] = ids[i];
  return out;
}

/** `a` when it spans its whole buffer, else a copy that does (only such a buffer can be transferred alone). */
export function ownBuffer<T extends Uint8Array | Int32Array>(a: T): T {
  return a.byteOffset === 0 && a.byteLength === a.buffer.byteLength ? a : (a.slice() as T);
}
