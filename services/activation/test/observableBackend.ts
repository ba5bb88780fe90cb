/**
 * A ForwardBackend for tests whose forward passes can be watched and held. A pass is
 * named by its batch's first token id (the "tag"); it is recorded when it starts and
 * resolves at once, unless its tag is held: then it waits until released, or until its
 * AbortSignal fires, when it rejects with ForwardCancelledError like the worker backend.
 * Hidden state l of the batch tagged k is filled with k * 100 + l, so a client can tell
 * which batch and layer it got. WeakRefs to every result let a test check that nothing
 * keeps them alive.
 */
import { EventEmitter, once } from 'node:events';
import type { ForwardRequest, ForwardResult, UnembeddingTensors } from '@tuned-lens/models';
import type { ForwardBackend, ModelDescription } from '../src/backend';
import { ForwardCancelledError } from '../src/cancelled';

export class ObservableBackend implements ForwardBackend {
  readonly description: ModelDescription;
  /** Tags of passes, in the order they started. */
  readonly started: number[] = [];
  /** Tags of passes whose signal fired while they were held. */
  readonly aborted: number[] = [];
  /** tag -> the hidden states handed out for it. */
  readonly results = new Map<number, WeakRef<ForwardResult>>();
  private readonly held = new Map<number, () => void>();
  private readonly events = new EventEmitter();
  private unsettled = 0;

  /** `hold`: tags whose passes wait for release() or their signal. */
  constructor(dims: { numLayers: number; dModel: number }, private readonly hold: number[] = []) {
    this.description = {
      name: 'observable', weightsDtype: 'F32', unembedHash: 'none', engine: 'observable', finalNorm: 'layer_norm',
      dims: { modelType: 'gpt2', numLayers: dims.numLayers, dModel: dims.dModel, numHeads: 1, numKvHeads: 1, headDim: dims.dModel, vocabSize: 1000, contextLength: 1 << 16 },
    };
  }

  unembedding(): UnembeddingTensors {
    throw new Error('the observable backend has no unembedding');
  }

  /** Passes started and not settled yet. */
  get running(): number {
    return this.unsettled;
  }

  whenStarted(tag: number): Promise<unknown> {
    return this.started.includes(tag) ? Promise.resolve() : once(this.events, `started ${tag}`);
  }

  whenAborted(tag: number): Promise<unknown> {
    return this.aborted.includes(tag) ? Promise.resolve() : once(this.events, `aborted ${tag}`);
  }

  whenIdle(): Promise<unknown> {
    return this.unsettled === 0 ? Promise.resolve() : once(this.events, 'idle');
  }

  release(tag: number): void {
    this.held.get(tag)?.();
  }

  async forward(req: ForwardRequest, signal?: AbortSignal): Promise<ForwardResult> {
    const tag = req.inputIds[0];
    this.started.push(tag);
    this.unsettled++;
    this.events.emit(`started ${tag}`);
    try {
      if (this.hold.includes(tag)) await this.heldUntilReleased(tag, signal);
      const { numLayers, dModel } = this.description.dims;
      const hiddenStates = new Map<number, Float32Array>();
      for (const l of req.layers ?? Array.from({ length: numLayers + 1 }, (_, i) => i)) {
        hiddenStates.set(l, new Float32Array(req.batch * req.seq * dModel).fill(tag * 100 + l));
      }
      const result = { hiddenStates, seconds: 0 };
      this.results.set(tag, new WeakRef(result));
      return result;
    } finally {
      if (--this.unsettled === 0) this.events.emit('idle');
    }
  }

  private heldUntilReleased(tag: number, signal: AbortSignal | undefined): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const onAbort = () => {
        this.aborted.push(tag);
        this.events.emit(`aborted ${tag}`);
        reject(new ForwardCancelledError());
      };
      if (signal?.aborted) return onAbort();
      signal?.addEventListener('abort', onAbort, { once: true });
      this.held.set(tag, () => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      });
    });
  }

  async dispose(): Promise<void> {}
}
