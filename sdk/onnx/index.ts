// The ONNX entry of mnist-wasm ("mnist-wasm/onnx"): exportOnnx() and importOnnx(), and, once
// imported, deserializeModel() reads ONNX files too. A separate entry because its protobuf code
// (about 20 KB gzipped) would otherwise be in every page's bundle; "mnist-wasm/node" includes it.
import { registerModelFormat } from "../io/model-file";
import { looksLikeOnnx } from "./detect";
import { importOnnx } from "./import";

export { exportOnnx, ONNX_BATCH, ONNX_INPUT, ONNX_OUTPUT, ONNX_RECONSTRUCTION } from "./export";
export { importOnnx, ONNX_LIMITS } from "./import";
export { LAYER_EXPORTERS, OPERATOR_IMPORTERS } from "./operators";

export { looksLikeOnnx } from "./detect";

registerModelFormat({ detect: looksLikeOnnx, read: importOnnx });
