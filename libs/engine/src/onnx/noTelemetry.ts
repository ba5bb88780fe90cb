/**
 * Imported before onnxruntime-node (engine.ts): onnxruntime 1.30 otherwise keeps a
 * telemetry store (~/.cache/Microsoft/DeveloperTools/.onnxruntime/onnxruntime.db, growing
 * with every session) and writes it while a model loads, so "nothing written to disk at
 * load" did not hold (52-72 KiB per load, measured by bench:scale). An operator who wants
 * it can still set ORT_DISABLE_TELEMETRY=0.
 */
process.env.ORT_DISABLE_TELEMETRY ??= '1';
