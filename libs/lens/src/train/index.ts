export { lrMultiplier, defaultWarmupSteps } from './schedule';
export {
  LensOptimizer, baseLearningRate, globalGradNorm, defaultOptimizerConfig,
  type OptimizerConfig, type OptimizerState, type Trainable,
} from './optimizer';
export { TranslatorTrainer, type TrainerOptions, type MicroBatch, type StepStats } from './trainer';
