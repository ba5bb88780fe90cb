// The real tokenizer worker, except that a task for the text "<crash>" kills the thread
// with an uncaught error instead of running (its message listener is wrapped).
import { parentPort } from 'node:worker_threads';
import { register } from 'tsx/esm/api';

const on = parentPort.on.bind(parentPort);
parentPort.on = (event, listener) => on(event, event !== 'message' ? listener : (msg) => {
  if (msg.task?.text === '<crash>') throw new Error('simulated crash');
  listener(msg);
});
register();
await import('../src/worker/tokenizerWorker.ts');
