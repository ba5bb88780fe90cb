/**
 * Messages between the tokenizer service and its worker threads (tokenizerPool.ts).
 * A worker runs one task at a time and answers each with its id: `result` or `error`.
 * A task the service no longer wants is not cancelled by message: the pool terminates
 * the worker, since a running encode cannot be interrupted any other way.
 */

export interface WorkerStart {
  /** The tokenizer's TokenizerSource as JSON, read from its folder once by the service. */
  source: string;
}

export interface EncodeTask {
  kind: 'encode';
  texts: string[];
  addSpecialTokens: boolean;
  returnTokens: boolean;
}

/** One text encoded with special tokens, as chunking encodes a group. */
export interface EncodeIdsTask {
  kind: 'encodeIds';
  text: string;
}

export interface DecodeTask {
  kind: 'decode';
  /** Transferred to the worker. */
  sequences: Int32Array[];
  skipSpecialTokens: boolean;
}

export type Task = EncodeTask | EncodeIdsTask | DecodeTask;

export interface TaskResult {
  /** The EncodeResponse serialized, as it goes on the wire (see serializedEncodeResponse). */
  encode: Uint8Array;
  encodeIds: Int32Array;
  decode: string[];
}

export type ToWorker = { type: 'run'; id: number; task: Task };

export type FromWorker =
  | { type: 'ready' }
  | { type: 'failed'; message: string }
  | { type: 'result'; id: number; result: TaskResult[Task['kind']] }
  /** `code`: the gRPC status of an RpcError (e.g. INVALID_ARGUMENT for a bad id); none for a bug. */
  | { type: 'error'; id: number; message: string; code?: number };
