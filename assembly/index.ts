// The kernel module: plain functions over raw pointers into one imported linear memory.
// Nothing here allocates; the SDK owns memory and passes every buffer (scratch included).

export { heapBase } from "./memory";
export { gemm, gemmWorkspaceBytes, packA, packedABytes, gemmPacked, gemmSeries, gemmPackedSeries } from "./gemm";
export { sparseRows, sparseRowsBytes, sparseGemm, transposeSparseRows } from "./sparse";
export { addBiasRows, addBiasRowsRelu, sumRows, gatherImagesU8, gatherBytes, argmaxRows, countCorrect, scaleU8, copyIfChanged, allFinite } from "./tensor";
export { sigmoidForward, sigmoidBackward, reluForward, reluBackward } from "./sigmoid-relu";
export { softmaxCrossEntropy, softmaxMse } from "./loss";
export { sigmoidBinaryCrossEntropy, squaredError } from "./pixel-loss";
export { sgdUpdate, momentumUpdate, adagradUpdate, rmspropUpdate, adadeltaUpdate, adamUpdate } from "./optim";
export { im2col, col2im, addBiasChannels, addBiasChannelsRelu, sumChannels, sumChannelBand } from "./conv";
export { convDirect, packConvFilters, packedFiltersBytes } from "./conv-direct";
export { winogradFilters, winogradPadBytes, winogradInput, winogradOutput } from "./winograd";
export { winogradGradPlaneBytes, winogradGradOutput, winogradGradInput, winogradFilterGrad } from "./winograd-grad";
export { winograd4Filters, winograd4PadBytes, winograd4Input, winograd4Output, winograd4OutputScratchBytes } from "./winograd4";
export { winograd4GradPlaneBytes, winograd4GradOutput, winograd4GradInput, winograd4FilterGrad } from "./winograd4-grad";
export { maxPoolForward, maxPoolValues, maxPoolBackward, maxPoolBackwardRelu, maxPool2x2Backward, avgPoolForward, avgPoolBackward } from "./pool";
export { augmentImages } from "./augment";
export { dropoutForward, dropoutBackward } from "./dropout";
export { batchNormTrain, batchNormInfer, batchNormBackward } from "./norm";
export { upsampleForward, upsampleBackward } from "./upsample";
export { gaussianNoise, samplingForward, samplingBackward } from "./sampling";
export { int8OperandBytes, quantizeRows, quantizeToHwc, im2colHwc, gemmI8, convI8 } from "./int8";
export { convPoolI8WeightBytes, convPoolI8ScratchBytes, packConvPoolI8, convPoolI8 } from "./int8-conv-pool";
