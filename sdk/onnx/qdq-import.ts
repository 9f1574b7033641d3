// How importOnnx reads a QDQ graph (QuantizeLinear / DequantizeLinear, as exportOnnx writes an int8
// model: see qdq.ts) back into an int8 model.
//
// - A DequantizeLinear of an initializer is a constant: its float values go to the layer as any
//   weight does; when it is a Conv's, Gemm's or MatMul's weight in int8 with zero points 0 and one
//   scale per output (or one for all), the layer keeps those int8 weights.
// - On the chain, QuantizeLinear then DequantizeLinear (int8, one scale, zero point 0..127) is the
//   input quantization of the Conv, Gemm or MatMul they lead to, which then runs in int8. Only a
//   Relu, MaxPool, Flatten, Reshape, Dropout or Identity may come between (they commute with it);
//   a second pair on the way must repeat the first's scale and zero point (the first is then a no-op).
// - ONNX saturates int8 to -128..127, the kernels to 0..127: an input that may be negative must be
//   clipped at the quantized 0 (a Clip right before the QuantizeLinear, as exportOnnx writes it),
//   or go through a Relu before the layer.
// Any other use of these operators is refused, naming the node.
import type { InputQuant, Int8Weights, LayerQuant } from "../layers/int8";
import { MAX_SCALE } from "../io/int8-file";
import { PLAN_LIMITS } from "../plan";
import { quote } from "../text";
import { readFloatTensor, tensorDims } from "./tensors";
import { floatTensor, INT8, INT32, int, type NodeProto, type TensorProto, UINT8 } from "./proto";

type Refuse = (problem: string) => never;

/** The operators on the chain that quantize an activation. */
export const ACTIVATION_QDQ_OPS = new Set(["Clip", "QuantizeLinear", "DequantizeLinear"]);

/** Operators that commute with an activation's quantization: they may come between it and its layer. */
const COMMUTING_OPS = new Set(["Relu", "MaxPool", "Flatten", "Reshape", "Dropout", "Identity"]);

/** Operators whose input's sign they keep (a non-negative input gives a non-negative output). */
const SIGN_KEEPING_OPS = new Set([
  ...COMMUTING_OPS,
  "AveragePool",
  "Resize",
  "Pad",
  "QuantizeLinear",
  "DequantizeLinear",
]);

/** Operators whose weight (input 1) may be int8, and the axis of that weight that runs along the outputs. */
const QUANTIZED_OPS: Record<string, (transB: boolean) => number> = {
  Conv: () => 0,
  Gemm: (transB) => (transB ? 0 : 1),
  MatMul: () => 1,
};

/** What a DequantizeLinear of a constant says of it: its type, its scale by element of `axis` (or one for all). */
interface QuantizedConstant {
  scale: Float32Array;
  axis: number | undefined;
  type: number;
  /** Whether its zero points are all 0 (or not given). */
  zeroPointsZero: boolean;
}

type ActivationState =
  | { kind: "float" }
  | { kind: "clipped"; node: string; min: number; max: number | undefined }
  | { kind: "quantized"; node: string; quant: InputQuant; needsRelu: boolean }
  | { kind: "dequantized"; node: string; quant: InputQuant; needsRelu: boolean };

const sameQuant = (a: InputQuant, b: InputQuant): boolean => a.scale === b.scale && a.zero === b.zero;

/** Reads the QDQ nodes of one graph, node by node, as import.ts walks it. */
export class QdqReader {
  private readonly quantized = new Map<string, QuantizedConstant>();
  private state: ActivationState = { kind: "float" };
  /** Whether the current activation is never negative (the pixels, after a Relu or a Sigmoid). */
  private nonNegative = true;
  /** Each quantized layer's int8 weights, and its input's quantization when it runs in int8. */
  readonly layers = new Map<number, Int8Weights | LayerQuant>();

  constructor(private readonly constants: Map<string, TensorProto>) {}

  /**
   * A DequantizeLinear whose input is an initializer: its output becomes a float constant (and, in
   * int8, a possible layer weight). False for one on the chain.
   */
  constantNode(node: NodeProto, refuse: Refuse): boolean {
    const inputs = node.input ?? [];
    if (node.opType !== "DequantizeLinear" || !this.constants.has(inputs[0] ?? "")) return false;
    const output = node.output?.[0];
    if (node.output?.length !== 1 || !output) refuse("has no single output");
    for (const a of node.attribute ?? [])
      if (a.name !== "axis" || a.type !== 2) refuse(`attribute ${quote(a.name ?? "")} is not supported`);
    if (inputs.length < 2 || inputs.length > 3) refuse(`has ${inputs.length} inputs; 2 or 3 expected`);
    const x = this.integerTensor(inputs[0], refuse);
    const scale = this.scaleTensor(inputs[1], refuse);
    const rank = x.dims.length;
    const axisAttribute = node.attribute?.find((a) => a.name === "axis");
    let axis: number | undefined;
    if (scale.data.length !== 1 || scale.shape.length === 1) {
      const given = axisAttribute ? int(axisAttribute.i) : 1;
      if (scale.shape.length !== 1 || !(given >= -rank && given < rank))
        refuse(
          `axis ${given} is out of range for a scale of shape [${scale.shape}] over a tensor of shape [${x.dims}]`,
        );
      axis = given < 0 ? given + rank : given;
      if (scale.data.length !== x.dims[axis])
        refuse(`has ${scale.data.length} scales for the ${x.dims[axis]} elements of axis ${axis} of [${x.dims}]`);
    }
    const zero = inputs[2] ? this.integerTensor(inputs[2], refuse) : undefined;
    if (zero) {
      if (zero.type !== x.type) refuse(`zero point ${quote(inputs[2])} is not of its input's type (${x.type})`);
      if (zero.values.length !== scale.data.length)
        refuse(`has ${zero.values.length} zero points for ${scale.data.length} scales`);
    }
    const per = axis === undefined ? x.values.length : x.dims.slice(axis + 1).reduce((a, b) => a * b, 1);
    const channels = axis === undefined ? 1 : x.dims[axis];
    const data = new Float32Array(x.values.length);
    for (let i = 0; i < data.length; i++) {
      const c = axis === undefined ? 0 : Math.floor(i / per) % channels;
      data[i] = (x.values[i] - (zero ? zero.values[c] : 0)) * scale.data[c];
    }
    this.constants.set(output, floatTensor(output, x.dims, data));
    this.quantized.set(output, {
      scale: scale.data,
      axis,
      type: x.type,
      zeroPointsZero: !zero || zero.values.every((z) => z === 0),
    });
    return true;
  }

  /** A Clip, QuantizeLinear or DequantizeLinear on the chain. */
  activationNode(node: NodeProto, where: string, refuse: Refuse): void {
    const inputs = node.input ?? [];
    const state = this.state;
    if (node.opType === "Clip") {
      if (state.kind !== "float")
        refuse("a Clip is supported only right before a QuantizeLinear, on a float activation");
      const min = inputs[1] ? this.scalar(inputs[1], refuse) : -Infinity;
      const max = inputs[2] ? this.scalar(inputs[2], refuse) : undefined;
      this.state = { kind: "clipped", node: where, min, max };
      return;
    }
    const quant = this.activationQuant(inputs, refuse);
    if (node.opType === "QuantizeLinear") {
      let needsRelu = !this.nonNegative;
      if (state.kind === "clipped") {
        // The Clip must stop at the quantized 0 (and not below 127): the kernels' 0..127.
        if (Math.round(state.min / quant.scale) + quant.zero !== 0)
          refuse(`the Clip before it (${state.node}) does not stop at its quantized 0 (${-quant.zero * quant.scale})`);
        if (state.max !== undefined && !(Math.round(state.max / quant.scale) + quant.zero >= 127))
          refuse(`the Clip before it (${state.node}) cuts below its largest value`);
        needsRelu = false;
      } else if (state.kind === "dequantized") {
        if (!sameQuant(state.quant, quant))
          refuse(`quantizes again with another scale or zero point than ${state.node}, which is not supported`);
        needsRelu = state.needsRelu;
      } else if (state.kind !== "float") refuse("follows a QuantizeLinear: a DequantizeLinear must come between");
      this.state = { kind: "quantized", node: where, quant, needsRelu };
      return;
    }
    // DequantizeLinear on the chain: of the QuantizeLinear right before, with its scale and zero point.
    if (state.kind !== "quantized" || !sameQuant(state.quant, quant))
      refuse("is supported only right after a QuantizeLinear of the same scale and zero point");
    this.state = { kind: "dequantized", node: state.node, quant, needsRelu: state.needsRelu };
  }

  /**
   * Before another operator: the quantization of its input when it is a Conv, Gemm or MatMul after
   * a QuantizeLinear / DequantizeLinear pair; refuses an operator that cannot take one.
   */
  beforeOperator(opType: string, refuse: Refuse): InputQuant | undefined {
    const state = this.state;
    if (state.kind === "clipped")
      refuse(`follows ${state.node}: a Clip is supported only right before a QuantizeLinear (an int8 layer's input)`);
    if (state.kind === "quantized") refuse(`follows ${state.node}: a DequantizeLinear must come right after it`);
    if (state.kind === "dequantized") {
      if (opType in QUANTIZED_OPS) {
        if (state.needsRelu)
          refuse(
            `its input is quantized (${state.node}) without a Clip at the quantized 0 or a Relu: ` +
              "int8 values below 0 are not supported (the int8 kernels take 0 to 127)",
          );
        this.state = { kind: "float" };
        return state.quant;
      }
      if (!COMMUTING_OPS.has(opType))
        refuse(
          `takes a quantized activation (${state.node}); only a Conv, Gemm or MatMul does (through Relu, MaxPool, Flatten, Reshape)`,
        );
      if (opType === "Relu") state.needsRelu = false;
    }
    return undefined;
  }

  /** After an operator's layer is added: the sign of its output. */
  afterOperator(opType: string): void {
    if (opType === "Relu" || opType === "Sigmoid") this.nonNegative = true;
    else if (!SIGN_KEEPING_OPS.has(opType)) this.nonNegative = false;
  }

  /**
   * Records layer `index` (a Conv's, Gemm's or MatMul's, whose float weight in this SDK's layout
   * is `weight`) as quantized when its weight (node input `weightName`) is int8: its int8 weights
   * from those values and the scale of each output, and `input` when its input is quantized.
   * Refuses a quantized input with a float weight, and int8 weights it cannot run.
   */
  layer(
    index: number,
    opType: string,
    gemm: { transB: boolean; alpha: number },
    weightName: string,
    biasName: string | undefined,
    weight: Float32Array,
    outputs: number,
    input: InputQuant | undefined,
    refuse: Refuse,
  ): void {
    const q = this.quantized.get(weightName);
    if (!q) {
      if (input) refuse("its input is quantized but its weight is not (a DequantizeLinear of int8 weights)");
      return;
    }
    if (q.type !== INT8 || !q.zeroPointsZero) {
      if (input) refuse("its quantized weight is not int8 with zero points 0, which the int8 kernels need");
      return;
    }
    if (gemm.alpha !== 1) refuse(`alpha ${gemm.alpha} with an int8 weight is not supported`);
    const outputAxis = QUANTIZED_OPS[opType](gemm.transB);
    if (q.axis !== undefined && q.axis !== outputAxis)
      refuse(`its weight's scales run along axis ${q.axis}, not along its outputs (axis ${outputAxis})`);
    const weightScale = new Float32Array(outputs);
    for (let o = 0; o < outputs; o++) weightScale[o] = q.scale[q.axis === undefined ? 0 : o];
    // A quantized bias of a quantized product is in its steps, as QLinearConv and QGemm add it
    // (ONNX Runtime fuses the nodes into them taking that for granted).
    const b = input && biasName ? this.quantized.get(biasName) : undefined;
    if (input && b) {
      const fits = weightScale.every((s, o) => {
        const step = Math.fround(input.scale * s);
        return Math.abs(b.scale[b.axis === undefined ? 0 : o] - step) <= 1e-6 * step;
      });
      if (!fits || !b.zeroPointsZero)
        refuse("its quantized bias does not have zero points 0 and scales of input scale × weight scale");
    }
    // The layer's weight is q · scale in this SDK's layout: each value gives its q back exactly.
    const per = opType === "Conv" ? weight.length / outputs : 1;
    const outputOf = opType === "Conv" ? (i: number) => Math.floor(i / per) : (i: number) => i % outputs;
    const values = new Int8Array(weight.length);
    for (let i = 0; i < weight.length; i++) values[i] = Math.round(weight[i] / weightScale[outputOf(i)]);
    this.layers.set(index, { weight: values, weightScale, ...(input ? { input } : {}) });
  }

  /** At the end of the graph: a quantization must have reached its layer. */
  end(refuse: (problem: string) => never): void {
    if (this.state.kind !== "float")
      refuse(`${this.state.node} does not lead to a Conv, Gemm or MatMul that takes its quantized activation`);
  }

  /** An activation's scale and zero point: one positive scale, an int8 zero point from 0 to 127. */
  private activationQuant(inputs: string[], refuse: Refuse): InputQuant {
    if (inputs.length < 2 || inputs.length > 3) refuse(`has ${inputs.length} inputs; 2 or 3 expected`);
    const scale = this.scaleTensor(inputs[1], refuse);
    if (scale.data.length !== 1 || scale.shape.length > 1)
      refuse(`scale of shape [${scale.shape}] is not one scale (an activation is quantized per tensor)`);
    if (!inputs[2]) refuse("has no zero point: its type would be uint8; the int8 kernels take int8 activations");
    const zero = this.integerTensor(inputs[2], refuse);
    if (zero.type !== INT8)
      refuse(`zero point ${quote(inputs[2])} is not int8 (type ${zero.type}); the int8 kernels take int8 activations`);
    if (zero.values.length !== 1) refuse(`zero point of shape [${zero.dims}] is not one value`);
    const z = zero.values[0];
    if (!(z >= 0 && z <= 127)) refuse(`zero point ${z} is not from 0 to 127 (the int8 kernels' 7-bit activations)`);
    return { scale: scale.data[0], zero: z };
  }

  /** A float constant of scales: each positive and at most MAX_SCALE. */
  private scaleTensor(name: string, refuse: Refuse): { shape: number[]; data: Float32Array } {
    const t = this.constant(name, refuse);
    const scale = readFloatTensor(t, refuse);
    if (scale.shape.length > 1) refuse(`scale ${quote(name)} of shape [${scale.shape}] is not a scalar or a vector`);
    for (const s of scale.data)
      if (!(s > 0 && s <= MAX_SCALE))
        refuse(`scale ${quote(name)} holds ${s}, not a scale (above 0, up to ${MAX_SCALE})`);
    return scale;
  }

  private scalar(name: string, refuse: Refuse): number {
    const t = readFloatTensor(this.constant(name, refuse), refuse);
    if (t.data.length !== 1) refuse(`${quote(name)} of shape [${t.shape}] is not one value`);
    return t.data[0];
  }

  private constant(name: string, refuse: Refuse): TensorProto {
    const t = this.constants.get(name);
    if (!t) refuse(`input ${quote(name)} is not a constant (an initializer)`);
    return t;
  }

  /** An int8, uint8 or int32 constant. */
  private integerTensor(name: string, refuse: Refuse): { type: number; dims: number[]; values: Int32Array } {
    const t = this.constant(name, refuse);
    const type = t.dataType ?? 0;
    if (type !== INT8 && type !== UINT8 && type !== INT32)
      refuse(`tensor ${quote(name)} is not int8, uint8 or int32 (data type ${type})`);
    const dims = tensorDims(t, refuse, PLAN_LIMITS.parameters);
    const count = dims.reduce((a, b) => a * b, 1);
    const values = new Int32Array(count);
    const raw = t.rawData;
    if (raw?.length) {
      const size = type === INT32 ? 4 : 1;
      if (raw.length !== count * size)
        refuse(`tensor ${quote(name)} [${dims}] has ${raw.length} bytes of data, not ${count * size}`);
      const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
      for (let i = 0; i < count; i++)
        values[i] = type === INT32 ? view.getInt32(i * 4, true) : type === INT8 ? view.getInt8(i) : view.getUint8(i);
    } else {
      // int32_data holds int8 and uint8 values too, one a number.
      const data = t.int32Data ?? [];
      if (data.length !== count) refuse(`tensor ${quote(name)} [${dims}] has ${data.length} values, not ${count}`);
      const [low, high] = type === INT8 ? [-128, 127] : type === UINT8 ? [0, 255] : [-(2 ** 31), 2 ** 31 - 1];
      for (let i = 0; i < count; i++) {
        if (!(data[i] >= low && data[i] <= high))
          refuse(`tensor ${quote(name)} holds ${data[i]}, out of its type's range`);
        values[i] = data[i];
      }
    }
    return { type, dims, values };
  }
}
