import { fail, MnistWasmError } from "../errors";
import { Model } from "../model";
import type { Optimizer, OptimizerSpec } from "../optim/optimizer";
import type { Runtime } from "../runtime/runtime";
import { validateSpec } from "../spec";
import { decodeSafetensors, encodeSafetensors, type NamedTensor } from "./safetensors";

/** Written in every model file's metadata; readers refuse other formats. */
export const MODEL_FORMAT = "mnist-wasm/1";

/** Optimizer state read back from a model file (see Optimizer.exportState). */
export interface SavedOptimizerState {
  settings: OptimizerSpec & { steps: number };
  tensors: Map<string, NamedTensor>;
}

/**
 * A model file is safetensors: every parameter as an F32 tensor named "<layer>.<param>"
 * ("0.weight", "0.bias", …), batch norm's running statistics likewise, and, in __metadata__,
 * "format", "spec" (the model spec as JSON) and any facts the trainer adds (dataset, epochs,
 * test accuracy, …) as strings. With `optimizer`, its state goes in too: tensors
 * "optim.<param>.<k>" and its settings and step count as JSON in "optimizer".
 */
export function serializeModel(model: Model, facts: Record<string, string> = {}, optimizer?: Optimizer): Uint8Array {
  const tensors = new Map<string, NamedTensor>();
  for (const p of [...model.params, ...model.buffers]) tensors.set(p.name, { shape: [...p.value.shape], data: p.value.read() });
  const metadata: Record<string, string> = { ...facts, format: MODEL_FORMAT, spec: JSON.stringify(model.spec) };
  if (optimizer) {
    const state = optimizer.exportState(model.params);
    for (const [name, t] of state.tensors) tensors.set(name, t);
    metadata.optimizer = JSON.stringify(state.settings);
  }
  return encodeSafetensors(tensors, metadata);
}

/** Builds the model a file describes and loads its parameters; says which tensor is wrong, if any. */
export function deserializeModel(
  rt: Runtime, bytes: Uint8Array, what = "model file",
): { model: Model; metadata: Record<string, string>; optimizerState?: SavedOptimizerState } {
  const { tensors, metadata } = decodeSafetensors(bytes, what);
  if (metadata.format !== MODEL_FORMAT) {
    fail("BAD_FILE", `${what}: not an mnist-wasm model (format ${JSON.stringify(metadata.format ?? null)}, expected "${MODEL_FORMAT}")`);
  }
  let specJson: unknown;
  try {
    specJson = JSON.parse(metadata.spec ?? "");
  } catch {
    fail("BAD_FILE", `${what}: the model spec in its metadata is not JSON`);
  }
  let spec;
  try {
    spec = validateSpec(specJson);
  } catch (e) {
    if (e instanceof MnistWasmError) fail("BAD_FILE", `${what}: ${e.message}`);
    throw e;
  }
  const model = new Model(rt, spec);
  try {
    const expected = new Set<string>();
    for (const p of [...model.params, ...model.buffers]) {
      expected.add(p.name);
      const t = tensors.get(p.name);
      if (!t) fail("BAD_FILE", `${what}: tensor "${p.name}" is missing`);
      if (t.shape.length !== p.value.shape.length || t.shape.some((d, i) => d !== p.value.shape[i])) {
        fail("BAD_FILE", `${what}: tensor "${p.name}" has shape [${t.shape}], the spec needs [${p.value.shape}]`);
      }
      if (!t.data.every(Number.isFinite)) fail("BAD_FILE", `${what}: tensor "${p.name}" holds NaN or infinite values`);
      p.value.write(t.data);
    }
    for (const name of tensors.keys()) {
      if (!expected.has(name) && !name.startsWith("optim.")) fail("BAD_FILE", `${what}: unexpected tensor "${name}" for this spec`);
    }
  } catch (e) {
    model.dispose();
    throw e;
  }
  let optimizerState: SavedOptimizerState | undefined;
  if (metadata.optimizer) {
    try {
      const settings = JSON.parse(metadata.optimizer);
      const optimTensors = new Map([...tensors].filter(([name]) => name.startsWith("optim.")));
      optimizerState = { settings, tensors: optimTensors };
    } catch {
      // A damaged optimizer record only costs the resume its optimizer state.
    }
  }
  return { model, metadata, ...(optimizerState ? { optimizerState } : {}) };
}
