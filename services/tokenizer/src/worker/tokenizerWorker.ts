/**
 * A tokenizer worker thread: builds the tokenizer from the source the service read, then
 * runs the tasks it is sent, one at a time. Results travel in transferred buffers.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { LoadedTokenizer, type TokenizerSource } from '@tuned-lens/tokenization';
import { RpcError } from '@tuned-lens/grpc-kit';
import { runTask } from '../tasks';
import type { FromWorker, ToWorker, WorkerStart } from './protocol';

const port = parentPort!;
const post = (msg: FromWorker, transfer: ArrayBuffer[] = []) => port.postMessage(msg, transfer);

function build(): LoadedTokenizer | undefined {
  try {
    return LoadedTokenizer.fromJson(JSON.parse((workerData as WorkerStart).source) as TokenizerSource);
  } catch (err) {
    post({ type: 'failed', message: err instanceof Error ? err.message : String(err) });
    return undefined;
  }
}

const tokenizer = build();
if (tokenizer) {
  port.on('message', ({ id, task }: ToWorker) => {
    try {
      const { result, transfer } = runTask(tokenizer, task);
      post({ type: 'result', id, result }, transfer);
    } catch (err) {
      post({ type: 'error', id, message: err instanceof Error ? err.message : String(err), code: err instanceof RpcError ? err.code : undefined });
    }
  });
  post({ type: 'ready' });
}
