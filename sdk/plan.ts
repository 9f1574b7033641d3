import { fail } from "./errors";
import { outputSide } from "./layers/conv2d";
import { sizeOf } from "./layers/layer";
import type { LayerSpec, ModelSpec } from "./spec";

/** What a layer will hold, worked out from the spec alone: no memory is touched. */
export interface LayerPlan {
  outputShape: number[];
  /** Parameters and saved buffers, with the names they have in a model file. */
  tensors: { name: string; shape: number[] }[];
}

/**
 * The shapes a spec implies, layer by layer, checked before anything is allocated: a layer that
 * does not fit its input is a BAD_SHAPE naming both, and a model file's tensors can be compared
 * with what its spec needs before the model is built.
 */
export function planModel(spec: ModelSpec): LayerPlan[] {
  const plans: LayerPlan[] = [];
  let shape = [...spec.input];
  spec.layers.forEach((layer, index) => {
    const plan = planLayer(layer, shape, index);
    plans.push(plan);
    shape = plan.outputShape;
  });
  return plans;
}

function planLayer(layer: LayerSpec, input: number[], index: number): LayerPlan {
  const t = (name: string, shape: number[]): { name: string; shape: number[] } => ({ name: `${index}.${name}`, shape });
  switch (layer.type) {
    case "dense":
      return { outputShape: [layer.units], tensors: [t("weight", [sizeOf(input), layer.units]), t("bias", [layer.units])] };
    case "conv2d": {
      const [C, H, W] = imageShape(layer.type, input, index);
      const stride = layer.stride ?? 1;
      const pad = layer.padding ?? 0;
      const OH = outputSide(H, layer.size, stride, pad);
      const OW = outputSide(W, layer.size, stride, pad);
      if (OH <= 0 || OW <= 0) fail("BAD_SHAPE", `layer ${index} (conv2d ${layer.size}x${layer.size}) does not fit its input [${input}]`);
      return {
        outputShape: [layer.filters, OH, OW],
        tensors: [t("weight", [layer.filters, C, layer.size, layer.size]), t("bias", [layer.filters])],
      };
    }
    case "maxpool":
    case "avgpool": {
      const [C, H, W] = imageShape(layer.type, input, index);
      const stride = layer.stride ?? layer.size;
      const OH = outputSide(H, layer.size, stride, 0);
      const OW = outputSide(W, layer.size, stride, 0);
      if (OH <= 0 || OW <= 0) fail("BAD_SHAPE", `layer ${index} (${layer.type} ${layer.size}) does not fit its input [${input}]`);
      return { outputShape: [C, OH, OW], tensors: [] };
    }
    case "flatten":
      return { outputShape: [sizeOf(input)], tensors: [] };
    case "batchnorm": {
      const C = input[0];
      return {
        outputShape: input,
        tensors: [t("gamma", [C]), t("beta", [C]), t("running_mean", [C]), t("running_var", [C])],
      };
    }
    case "sigmoid":
    case "relu":
    case "dropout":
      return { outputShape: input, tensors: [] };
  }
}

function imageShape(type: string, input: number[], index: number): [number, number, number] {
  if (input.length !== 3) fail("BAD_SHAPE", `layer ${index} (${type}) needs [channels, height, width] input, got [${input}]`);
  return input as [number, number, number];
}

/** Float32 values the model's parameters and buffers hold. */
export const planSize = (plans: LayerPlan[]): number =>
  plans.reduce((n, p) => n + p.tensors.reduce((m, t) => m + sizeOf(t.shape), 0), 0);
