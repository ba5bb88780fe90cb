/**
 * Prediction trajectories: what a lens predicts at every layer and position, as top-k
 * tokens and statistics computed on the fly (never the full (L+1) x seq x vocab array),
 * comparisons with the true JS and TV definitions, the per-layer table and the heatmap.
 */
export {
  rowStatistics, distributionDistances, logSumExp, TopK,
  type CellStats, type TokenScore, type RowStatisticsOptions, type Distances, type TokenDelta,
} from './stats';
export {
  LensPredictor,
  type LensName, type LensToApply, type SequenceStates, type PredictOptions, type CellResult, type PositionResult,
  type CompareOptions, type CellComparisonResult, type PositionComparison,
} from './predictor';
export {
  TRAJECTORY_STATS, isTrajectoryStat, statisticGrid, rowLabel, formatToken, formatTrajectoryTable,
  type Trajectory, type TrajectoryCell, type TrajectoryToken, type TrajectoryStat, type TableOptions,
} from './trajectory';
export { renderTrajectorySvg, renderTrajectoryHtml, colourAt, statScale, type PlotOptions } from './plot';
