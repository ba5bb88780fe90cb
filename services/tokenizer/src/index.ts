export { startTokenizerServer, tokenizerImplementation, type TokenizerServerOptions, type TokenizerServer } from './server';
export { defaultLimits as defaultTokenizerLimits, type TokenizerLimits } from './limits';
