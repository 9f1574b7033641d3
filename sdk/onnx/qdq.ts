// How an int8 model's quantization is written as ONNX QDQ operators (opset 13 QuantizeLinear and
// DequantizeLinear), so that ONNX Runtime runs it quantized: it fuses DequantizeLinear → Conv →
// QuantizeLinear into QLinearConv and DequantizeLinear → Gemm into QGemm.
//
// What the graph says is what sdk/layers/int8.ts computes:
// - a layer's weights: an int8 initializer in the float layout, DequantizeLinear with one scale
//   per output (axis: the output's axis) and zero points 0, as quantizeModel made them;
// - its input, when it runs in int8: QuantizeLinear then DequantizeLinear with its calibrated scale
//   and zero point as int8 scalars. ONNX rounds x / scale half to even and saturates to -128..127;
//   the kernel rounds x · (1 / scale) half to even and clamps to 0..127 (the relaxed dot's 7-bit
//   operand). The top is the same (127); the bottom only differs below -zero · scale, so an input
//   that can be negative (not after a ReLU, a sigmoid or the pixels) gets a Clip at that value first;
// - its bias: int32 at scale input scale · weight scale (what QLinearConv and QGemm take), which
//   is the bias the layer adds (attachInt8 rounds it to those steps; float when it does not fit);
// - a shallow first convolution that the int8 model runs in float (see attachInt8): its weights
//   dequantized, its input float, as the kernel computes it.
import { type InputQuant, type Int8Weights, int32Bias } from "../layers/int8";
import type { ExportContext } from "./operators";
import { floatTensor, int8Tensor, int32Tensor, intAttribute } from "./proto";

/** A quantized layer as the exporter sees it: its int8 weights, and its input's quantization when it runs in int8. */
export interface QuantizedLayer {
  weights: Int8Weights;
  input?: InputQuant;
}

/**
 * The names of the activation quantization's scale and zero point of layer `index` ("<index>.input_scale",
 * "<index>.input_zero_point"), added as initializers when `add` has not seen them.
 */
export function activationParams(
  index: number,
  quant: InputQuant,
  add: (proto: ReturnType<typeof floatTensor>) => void,
  added: Set<string>,
): [string, string] {
  const scale = `${index}.input_scale`;
  const zero = `${index}.input_zero_point`;
  if (!added.has(scale)) {
    added.add(scale);
    add(floatTensor(scale, [], Float32Array.of(quant.scale)));
    add(int8Tensor(zero, [], Int8Array.of(quant.zero)));
  }
  return [scale, zero];
}

/**
 * The weight and bias inputs of a quantized layer's Conv or Gemm: the int8 weight dequantized
 * along `outputAxis`, and the bias (int32 dequantized when the input is quantized, float otherwise).
 */
export function quantizedWeightAndBias(ctx: ExportContext, q: QuantizedLayer, outputAxis: number): [string, string] {
  const w = ctx.param("weight");
  const outputs = q.weights.weightScale.length;
  const weight = ctx.valueNode(
    "DequantizeLinear",
    [
      ctx.tensor(int8Tensor("weight_int8", w.shape, q.weights.weight)),
      ctx.tensor(floatTensor("weight_scale", [outputs], q.weights.weightScale)),
      ctx.tensor(int8Tensor("weight_zero_point", [outputs], new Int8Array(outputs))),
    ],
    "weight",
    [intAttribute("axis", outputAxis)],
  );
  const b = ctx.param("bias");
  const steps = q.input && int32Bias(b.data, q.input.scale, q.weights.weightScale);
  if (!steps) return [weight, ctx.initializer("bias", b.shape, b.data)];
  const { values, scale } = steps;
  const bias = ctx.valueNode(
    "DequantizeLinear",
    [
      ctx.tensor(int32Tensor("bias_int32", [outputs], values)),
      ctx.tensor(floatTensor("bias_scale", [outputs], scale)),
      ctx.tensor(int32Tensor("bias_zero_point", [outputs], new Int32Array(outputs))),
    ],
    "bias",
    [intAttribute("axis", 0)],
  );
  return [weight, bias];
}
