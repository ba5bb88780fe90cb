export { startLensTrainingServer, type LensTrainingServerOptions, type LensTrainingServer } from './server';
export { resolveJobConfig, type JobConfig } from './config';
export { permutedChunks, readAllChunks, ChunkStore, type PositionedChunk } from './dataFeed';
export { checkLensFits, type JobSnapshot } from './job';
