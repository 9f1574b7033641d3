// An int8 file that keeps its batch norms, as quantize wrote them before it folded batch norms
// into the layer before (and still does where a fold cannot hold): the float model's spec, each
// dense and conv2d weight quantized as it is, and the input quantization of the folded int8
// model `folded` (a layer's input is the same either way). Files of this kind must keep loading,
// running and exporting.
import { encodeInt8Model } from "../../sdk/io/int8-file";
import { decodeSafetensors, type NamedTensor } from "../../sdk/io/safetensors";
import { isQuantizable, type LayerQuant, outputIndex } from "../../sdk/layers/int8";
import type { Model } from "../../sdk/model";
import { quantizeWeights } from "../../sdk/quantize";

export function unfoldedInt8File(float: Model, folded: Uint8Array): Uint8Array {
  const foldedTensors = decodeSafetensors(folded, "folded", true);
  const foldedSpec = JSON.parse(foldedTensors.metadata.spec ?? "null") as { layers: { type: string }[] } | null;
  if (!foldedSpec) throw new Error("unfoldedInt8File: the folded file has no spec");
  const inputQuants = foldedSpec.layers.flatMap((l, i) =>
    isQuantizable(l.type) ? [foldedTensors.tensors.get(`${i}.input_quant`)!.data] : [],
  );
  const tensors = new Map<string, NamedTensor>();
  for (const p of [...float.params, ...float.buffers])
    tensors.set(p.name, { shape: [...p.value.shape], data: p.value.read() });
  const quants = new Map<number, LayerQuant>();
  float.spec.layers.forEach((l, i) => {
    if (!isQuantizable(l.type)) return;
    const w = tensors.get(`${i}.weight`)!;
    const q = quantizeWeights(w.data, l.type === "conv2d" ? w.shape[0] : w.shape[1], outputIndex(l.type, w.shape));
    const [scale, zero] = inputQuants[quants.size];
    quants.set(i, { ...q, input: { scale, zero } });
  });
  return encodeInt8Model(float.spec, tensors, quants, {});
}
