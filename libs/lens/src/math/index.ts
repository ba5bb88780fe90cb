export { unembed, headBias, finalNorm, finalNormBackward, unembeddingParams, type Unembedding, type NormKind } from './unembed';
export { lensStepProgram, klTargetProgram, targetProgram, type LossKind } from './lensStep';
export { lensMetricsProgram, baselineMetricsProgram, lensLogProbsProgram } from './lensForward';
