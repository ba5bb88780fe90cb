// Entry of the evaluation thread. Registers tsx in this thread (a worker does not
// inherit loader hooks registered through the API), then runs the TypeScript worker.
import { register } from 'tsx/esm/api';

register();
await import('./evalWorker.ts');
