export { startLensTrainingServer, type LensTrainingServerOptions, type LensTrainingServer } from './server';
export { resolveJobConfig, type JobConfig } from './config';
export { blockPermutation, BLOCK } from './dataFeed';
export { checkLensFits, type JobSnapshot } from './job';
