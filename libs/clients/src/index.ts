export { TokenizerClient, type ChunkBatch, type ChunkEvent } from './tokenizerClient';
