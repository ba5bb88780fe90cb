export { LensEvaluator, aggregateMetricsJson, type EvalResult, type LayerMetrics } from './evaluator';
export { ExtraMetrics, withLayerTransfer, type ExtraOptions, type TransferResult } from './extras';
