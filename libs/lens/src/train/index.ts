export { lrMultiplier, defaultWarmupSteps } from './schedule';
export {
  LensOptimizer, baseLearningRate, globalGradNorm, defaultOptimizerConfig, defaultMuonConfig,
  type OptimizerConfig, type OptimizerState, type Trainable,
} from './optimizer';
export { NewtonSchulzRunner, muonScale, type Matrix } from './muon';
export { TranslatorTrainer, type TrainerOptions, type MicroBatch, type StepStats } from './trainer';
export { NonFiniteError, isNonFinite, type NonFiniteQuantity } from './nonFinite';
