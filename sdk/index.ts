// The browser-safe entry of mnist-wasm: no Node built-ins. File-system helpers are in
// "mnist-wasm/node".
export { MnistWasmError, type ErrorCode } from "./errors";
export { Runtime, type RuntimeOptions } from "./runtime/runtime";
export { setWorkerSpawner, threadsUnavailableReason, type KernelCall, type WorkerSpawner } from "./runtime/threads";
export type { KernelFeatures } from "./runtime/kernels";
export { Tensor } from "./runtime/tensor";
export { Random } from "./random";
export { INITIALIZERS, initStd, initWeights, type Initializer } from "./init";
export { Model, PIXEL_SCALE, type BatchLoss, type KlSource } from "./model";
export {
  MAX_CLASS_NAME,
  mlpSpec,
  specLoss,
  TASKS,
  validateSpec,
  type LayerSpec,
  type LossName,
  type ModelSpec,
  type Task,
} from "./spec";
export {
  autoencoderPreset,
  autoencoderSpec,
  latentGrid,
  MAX_LATENT,
  normalQuantile,
  priorSamples,
  type AutoencoderOptions,
  type AutoencoderPreset,
} from "./autoencoder";
export type { Layer, Param, ParamRole, StateBuffer } from "./layers/layer";
export { ConvTranspose, transposedSide, type ConvTransposeSpec } from "./layers/conv-transpose";
export { Upsample, type UpsampleSpec } from "./layers/upsample";
export { Reshape, type ReshapeSpec } from "./layers/reshape";
export { Sampling, type SamplingSpec } from "./layers/sampling";
export {
  SGD,
  Optimizer,
  OPTIMIZERS,
  OPTIMIZER_DEFAULTS,
  type OptimizerName,
  type OptimizerSettings,
  type OptimizerSpec,
} from "./optim/optimizer";
export { describeLearningRates, hasLearningRate, OPTIMIZER_LABELS } from "./optim/rules";
export { datasetFromIdx, takeFirst, sampleSize, selectClasses, MNIST_CLASSES, type Dataset } from "./data/dataset";
export { parseIdx, type IdxArray } from "./data/idx";
export {
  parseNpy,
  encodeNpy,
  toPixels,
  arrangeImages,
  labelsFromNpy,
  NPY_MAX_HEADER_BYTES,
  type NpyArray,
  type NpyData,
  type NpyKind,
  type PixelRange,
  type ArrangedImages,
} from "./data/npy";
export { datasetFromCifarBatches, CIFAR10_CLASSES, CIFAR10_FILES } from "./data/cifar";
export {
  datasetNameProblem,
  maxLabel,
  parseClassNames,
  MAX_CLASS_NAMES,
  MAX_CLASS_NAMES_BYTES,
} from "./data/class-names";
export { readTar, type TarEntry } from "./data/tar";
export { preprocessDigit, type PreprocessedDigit } from "./data/preprocess";
export { parseArch, formatArch, withClassifier, ARCH_PRESETS } from "./arch";
export { outputSide } from "./layers/conv2d";
export { gunzipIfNeeded, isGzip } from "./data/gzip";
export { DeviceData } from "./data/device-data";
export { fit, type FitOptions, type FitResult, type EpochRecord, type EpochPosition, type BatchInfo } from "./train";
export {
  evaluate,
  evaluateReconstruction,
  checkShapes,
  type Evaluation,
  type ReconstructionEvaluation,
} from "./evaluate";
export { layerActivations, type LayerActivation } from "./layer-outputs";
export {
  serializeModel,
  deserializeModel,
  type LoadModelOptions,
  MAX_ABS_VALUE,
  MODEL_FORMAT,
  NUMERIC_FACTS,
} from "./io/model-file";
export { encodeSafetensors, decodeSafetensors, type NamedTensor, type NamedInt8Tensor } from "./io/safetensors";
export { INT8_MODEL_FORMAT } from "./io/int8-file";
export { quantizeModel, type QuantizeOptions } from "./quantize";
export { chartSvg, historyChart, percentTick, type ChartedEpoch, type Panel, type Series } from "./report/chart";
export {
  CLASS_COLORS,
  classColor,
  latentScatterSvg,
  nearestCentroidAccuracy,
  type LatentPoints,
} from "./report/latent";
export { imageGrid, type RgbaImage } from "./report/image-grid";
export {
  checkTrainingBatch,
  imageCost,
  inferenceBatch,
  INFERENCE_BATCH_BYTES,
  MAX_INFERENCE_BATCH,
  PLAN_LIMITS,
  planModel,
  planSize,
  TRAINING_BATCH_BYTES,
  type ImageCost,
  type LayerPlan,
} from "./plan";
export { escapeText } from "./text";
export { ModelWorker, TrainingRun, type WorkerLike } from "./worker/client";
export {
  startModelWorker,
  handleMessage,
  createWorkerState,
  type WorkerState,
  type WorkerScope,
} from "./worker/worker-main";
export { MAX_EPOCH_CODES } from "./worker/protocol";
export type {
  ModelInfo,
  WorkerTrainOptions,
  WorkerTrainResult,
  WorkerEvaluation,
  WorkerReconstructionEvaluation,
  TrainProgress,
  Request as WorkerRequest,
  Response as WorkerResponse,
} from "./worker/protocol";
export {
  TrainingSession,
  type RunOverrides,
  type Override,
  type SessionRunOptions,
  type SessionRunResult,
} from "./session";
export {
  MAX_EPOCHS,
  readRunRecord,
  runRecordProblem,
  type RunPosition,
  type RunRecord,
  type RunSettings,
} from "./io/run-record";
export { describeTrainingDefaults, trainingDefaults, type TrainingDefaults } from "./train-defaults";
export { learningRateAt, SCHEDULES, type ScheduleName } from "./schedule";
