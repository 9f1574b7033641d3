import { checkModel } from "../evaluate";
import { byteArray } from "../args";
import { fail, MnistWasmError } from "../errors";
import { Model } from "../model";
import type { Optimizer, OptimizerName, OptimizerSpec } from "../optim/optimizer";
import type { Runtime } from "../runtime/runtime";
import { OPTIMIZERS } from "../optim/optimizer";
import { planModel } from "../plan";
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
  checkModel(model, "serializeModel");
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
  bytes = byteArray(bytes, "deserializeModel: bytes");
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
  // Compare the file's tensors with what the spec needs before building anything, so a spec
  // edited to ask for a huge model is refused instead of allocated.
  let plans;
  try {
    plans = planModel(spec);
  } catch (e) {
    if (e instanceof MnistWasmError) fail("BAD_FILE", `${what}: ${e.message}`);
    throw e;
  }
  const expected = new Set<string>();
  for (const { name, shape } of plans.flatMap((p) => p.tensors)) {
    expected.add(name);
    const t = tensors.get(name);
    if (!t) fail("BAD_FILE", `${what}: tensor "${name}" is missing`);
    if (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i])) {
      fail("BAD_FILE", `${what}: tensor "${name}" has shape [${t.shape}], the spec needs [${shape}]`);
    }
    checkValues(t.data, name, what);
  }
  for (const name of tensors.keys()) {
    if (!expected.has(name) && !name.startsWith("optim.")) fail("BAD_FILE", `${what}: unexpected tensor "${name}" for this spec`);
  }
  const model = new Model(rt, spec);
  try {
    for (const p of [...model.params, ...model.buffers]) p.value.write(tensors.get(p.name)!.data);
    // The values passed one by one; their combination must still give finite outputs.
    const probs = model.predict(new Float32Array(model.inputSize));
    if (!probs.every(Number.isFinite)) fail("BAD_FILE", `${what}: the model's outputs are not finite numbers`);
  } catch (e) {
    model.dispose();
    if (e instanceof MnistWasmError && e.code !== "BAD_FILE") fail("BAD_FILE", `${what}: ${e.message}`);
    throw e;
  }
  const optimizerState = readOptimizerState(metadata.optimizer, tensors);
  return { model, metadata, ...(optimizerState ? { optimizerState } : {}) };
}

/** Weights of a trained model are small; larger values mean a damaged or hostile file. */
const MAX_ABS_VALUE = 1e8;

function checkValues(data: Float32Array, name: string, what: string): void {
  for (const v of data) {
    if (!(Math.abs(v) <= MAX_ABS_VALUE)) fail("BAD_FILE", `${what}: tensor "${name}" holds ${v}, not a plausible weight`);
  }
  if (name.endsWith(".running_var") && data.some((v) => v < 0)) fail("BAD_FILE", `${what}: tensor "${name}" holds a negative variance`);
}

/**
 * The optimizer state of a file, or undefined when there is none or its record is damaged:
 * a damaged record only costs a resumed run its optimizer state, never the model.
 */
function readOptimizerState(record: string | undefined, tensors: Map<string, NamedTensor>): SavedOptimizerState | undefined {
  if (!record) return undefined;
  let settings: unknown;
  try {
    settings = JSON.parse(record);
  } catch {
    return undefined;
  }
  const s = settings as { name?: unknown; steps?: unknown } | null;
  if (typeof s !== "object" || s === null || !OPTIMIZERS.includes(s.name as OptimizerName) ||
    !Number.isInteger(s.steps) || (s.steps as number) < 0) {
    return undefined;
  }
  const optimTensors = new Map([...tensors].filter(([name]) => name.startsWith("optim.")));
  for (const t of optimTensors.values()) if (!t.data.every(Number.isFinite)) return undefined;
  return { settings: settings as OptimizerSpec & { steps: number }, tensors: optimTensors };
}
