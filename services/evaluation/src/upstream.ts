/**
 * What this service needs from the model's services: the model's description and its
 * unembedding (activation service), token texts (tokenizer service). The LensService's
 * model is held by a ModelLink that connects in the background, retries until the
 * upstreams answer, and reloads when the activation service starts serving another
 * model (its unembedding hash changes).
 */
import { ActivationClient, TokenizerClient, toLensUnembedding } from '@tuned-lens/clients';
import { errorText, failedPrecondition, unavailable, type ClientOptions, type Logger } from '@tuned-lens/grpc-kit';
import type { Engine } from '@tuned-lens/engine';
import { LensPredictor, type Unembedding } from '@tuned-lens/lens';
import { activationV1, tokenizerV1 } from '@tuned-lens/proto';

/** The activation service's unembedding as the lens math takes it; checks its hash. */
/**
 * Every token id's text (each decoded on its own, special tokens kept), fetched once in
 * a few Decode calls. Ids the tokenizer does not know (a padded embedding) read `<id N>`.
 */
export async function fetchVocabularyTexts(tokenizer: TokenizerClient, vocabSize: number, tokenizerVocab: number): Promise<string[]> {
  const texts = new Array<string>(vocabSize);
  const known = Math.min(vocabSize, tokenizerVocab);
  const step = 4096;
  for (let a = 0; a < known; a += step) {
    const ids = Array.from({ length: Math.min(step, known - a) }, (_, i) => [a + i]);
    const out = await tokenizer.decode(ids);
    out.forEach((t, i) => { texts[a + i] = t; });
  }
  for (let v = known; v < vocabSize; v++) texts[v] = `<id ${v}>`;
  return texts;
}

/** The served model, ready to predict with. */
export interface ModelState {
  info: activationV1.GetModelInfoResponse;
  tokenizerInfo: tokenizerV1.GetTokenizerInfoResponse;
  unembedding: Unembedding;
  predictor: LensPredictor;
  /** Token id -> text. */
  vocab: string[];
  activation: ActivationClient;
  tokenizer: TokenizerClient;
}

export interface ModelLinkOptions {
  activationEndpoint: string;
  tokenizerEndpoint: string;
  engine: Engine;
  clientOptions?: ClientOptions;
  logger: Logger;
  /** Called when the link becomes ready (true) or loses the model (false). */
  onReady?(ready: boolean): void;
}

export class ModelLink {
  private state: ModelState | undefined;
  private connecting: Promise<ModelState> | undefined;
  private lastError = 'not connected yet';
  private retryTimer: NodeJS.Timeout | undefined;
  private closed = false;
  readonly activation: ActivationClient;
  readonly tokenizer: TokenizerClient;

  constructor(private readonly opts: ModelLinkOptions) {
    this.activation = new ActivationClient(opts.activationEndpoint, opts.clientOptions);
    this.tokenizer = new TokenizerClient(opts.tokenizerEndpoint, opts.clientOptions);
  }

  /** Connects now and keeps retrying in the background (1 s, doubling to 30 s) until it works. */
  start(): void {
    const attempt = (delay: number) => {
      if (this.closed || this.state) return;
      this.connect().catch(() => {
        if (this.closed) return;
        this.retryTimer = setTimeout(() => attempt(Math.min(delay * 2, 30_000)), delay);
        this.retryTimer.unref();
      });
    };
    attempt(1000);
  }

  /**
   * The model, checked against the activation service on every call (one cheap
   * GetModelInfo): if it now serves another unembedding, everything is reloaded.
   */
  async get(): Promise<ModelState> {
    const s = this.state;
    if (s) {
      const info = await this.activation.info();
      if (info.unembedHash === s.info.unembedHash && info.numLayers === s.info.numLayers) return { ...s, info };
      this.opts.logger.warn('the activation service now serves another model; reloading', { was: s.info.modelName, now: info.modelName });
      this.state = undefined;
      this.opts.onReady?.(false);
      await s.predictor.dispose();
    }
    try {
      return await this.connect();
    } catch (err) {
      const code = (err as { code?: number }).code;
      if (typeof code === 'number' && code !== 14 && code !== 4) throw err; // not UNAVAILABLE / DEADLINE_EXCEEDED: say why
      throw unavailable(`the model services are not reachable yet (activation ${this.opts.activationEndpoint}, tokenizer ${this.opts.tokenizerEndpoint}): ${this.lastError}; retry shortly`);
    }
  }

  private connect(): Promise<ModelState> {
    this.connecting ??= (async () => {
      try {
        const [info, tokenizerInfo] = await Promise.all([this.activation.info(), this.tokenizer.info()]);
        const unembedding = toLensUnembedding(await this.activation.unembedding(), this.opts.activationEndpoint);
        if (unembedding.dModel !== info.dModel || unembedding.vocabSize !== info.vocabSize) {
          throw failedPrecondition(`the unembedding is [${unembedding.vocabSize}, ${unembedding.dModel}] but the model says vocab ${info.vocabSize}, d_model ${info.dModel}`);
        }
        const vocab = await fetchVocabularyTexts(this.tokenizer, info.vocabSize, tokenizerInfo.vocabSize);
        const predictor = await LensPredictor.create(this.opts.engine, unembedding, info.numLayers);
        const state: ModelState = { info, tokenizerInfo, unembedding, predictor, vocab, activation: this.activation, tokenizer: this.tokenizer };
        this.state = state;
        this.opts.logger.info('model ready for predictions', {
          model: info.modelName, layers: info.numLayers, dModel: info.dModel, vocab: info.vocabSize, engine: this.opts.engine.name,
          tokenizer: tokenizerInfo.name,
        });
        this.opts.onReady?.(true);
        return state;
      } catch (err) {
        this.lastError = errorText(err);
        this.opts.logger.warn('model services not usable yet', { activation: this.opts.activationEndpoint, tokenizer: this.opts.tokenizerEndpoint, error: this.lastError });
        throw err;
      } finally {
        this.connecting = undefined;
      }
    })();
    return this.connecting;
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.retryTimer);
    await this.connecting?.catch(() => undefined);
    await this.state?.predictor.dispose();
    this.state = undefined;
    this.activation.close();
    this.tokenizer.close();
  }
}
