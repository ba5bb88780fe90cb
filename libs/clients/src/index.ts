export { TokenizerClient, type ChunkBatch, type ChunkEvent } from './tokenizerClient';
export { ActivationClient, type ExtractOptions, type ExtractedBatch, type TokenBatchInput, type Unembedding } from './activationClient';
export { ActivationPool, type ActivationPoolOptions } from './activationPool';
export { TrainingClient, EvaluationClient, type JobClient } from './jobClients';
export { toLensUnembedding, unembedSha256 } from './unembedding';
