/** The tokenizer a server loads at start-up (see LoadingResource for the states). */
import { loadTokenizer, type LoadedTokenizer } from '@tuned-lens/tokenization';
import { LoadingResource } from '@tuned-lens/grpc-kit';

export class TokenizerHolder extends LoadingResource<LoadedTokenizer> {
  constructor(readonly dir: string) {
    super('tokenizer', () => loadTokenizer(dir));
  }
}
