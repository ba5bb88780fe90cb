/**
 * The tokenizer a server loads at start-up, with its loading state. RPCs that arrive
 * while it loads get UNAVAILABLE (retryable); after a failed load they get
 * FAILED_PRECONDITION naming the file and the problem, and the server stays up (its
 * health stays NOT_SERVING) so an operator sees the reason instead of a crash loop.
 */
import { loadTokenizer, type LoadedTokenizer } from '@tuned-lens/tokenization';
import { failedPrecondition, unavailable } from '@tuned-lens/grpc-kit';

export class TokenizerHolder {
  private tokenizer: LoadedTokenizer | undefined;
  private failure: string | undefined;
  readonly ready: Promise<LoadedTokenizer>;

  constructor(readonly dir: string, load: (dir: string) => Promise<LoadedTokenizer> = loadTokenizer) {
    this.ready = load(dir).then(
      (t) => { this.tokenizer = t; return t; },
      (err: unknown) => { this.failure = err instanceof Error ? err.message : String(err); throw err; },
    );
    this.ready.catch(() => {}); // observed through get() and the server's start-up log
  }

  /** The loaded tokenizer, or the gRPC error that explains why there is none. */
  get(): LoadedTokenizer {
    if (this.tokenizer) return this.tokenizer;
    if (this.failure !== undefined) throw failedPrecondition(`tokenizer could not be loaded: ${this.failure}`);
    throw unavailable('tokenizer is still loading; retry shortly');
  }
}
