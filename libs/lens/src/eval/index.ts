export { LensEvaluator, aggregateMetricsJson, type EvalResult, type LayerMetrics } from './evaluator';
