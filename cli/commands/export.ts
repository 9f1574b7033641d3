// `mnist-wasm export`: writes a model in another format, atomically: ONNX (for ONNX Runtime,
// PyTorch, Netron, …) or safetensors (this SDK's model file, e.g. from an ONNX model trained
// elsewhere). The model is read as every command reads one (safetensors or ONNX).
import {
  DEFAULT_MODEL_PATH,
  exportOnnx,
  formatArch,
  loadModelFile,
  ONNX_BATCH,
  ONNX_INPUT,
  ONNX_OUTPUT,
  Runtime,
  serializeModel,
  writeFileAtomic,
} from "../../sdk/node";
import { UsageError } from "../errors";
import { checkOutputFiles, writesTo } from "../output";

export const EXPORT_FORMATS = ["onnx", "safetensors"] as const;

export interface ExportOptions {
  model?: string;
  format: (typeof EXPORT_FORMATS)[number];
  out: string;
}

/** Metadata of a read model that a safetensors file records elsewhere or not at all. */
const NOT_FACTS = new Set(["format", "spec", "classes", "task", "optimizer", "run"]);

export async function exportCommand(options: ExportOptions): Promise<void> {
  const from = options.model ?? DEFAULT_MODEL_PATH;
  checkOutputFiles([["--out", options.out]]);
  if (writesTo(options.out, from)) throw new UsageError(`--out ${options.out} would overwrite the --model file`);
  // Conversion runs no kernels worth sharing out.
  const rt = await Runtime.create({ threads: 1 });
  const { model, metadata } = await loadModelFile(rt, from);
  let bytes: Uint8Array;
  let what: string;
  if (options.format === "onnx") {
    bytes = exportOnnx(model, metadata);
    what =
      `ONNX (opset 13): input "${ONNX_INPUT}" float32 [${ONNX_BATCH}, ${model.spec.input.join(", ")}] ` +
      `(pixel bytes / 255), output "${ONNX_OUTPUT}" float32 [${ONNX_BATCH}, ${model.classCount}] (softmax)` +
      (model.quantized ? ", int8 weights and activations as QuantizeLinear/DequantizeLinear" : "");
  } else {
    const facts = Object.fromEntries(Object.entries(metadata).filter(([key]) => !NOT_FACTS.has(key)));
    bytes = serializeModel(model, facts);
    what = "safetensors (an mnist-wasm model file)";
  }
  await writeFileAtomic(options.out, bytes);
  process.stdout.write(
    `${options.out}: ${formatArch(model.spec.layers)}, ${model.paramCount.toLocaleString("en")} parameters, ` +
      `${bytes.length.toLocaleString("en")} bytes of ${what}\n`,
  );
  model.dispose();
  rt.dispose();
}
