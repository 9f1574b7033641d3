import { checkModel } from "../evaluate";
import { byteArray, checkOptions, describeValue } from "../args";
import { fail, MnistWasmError } from "../errors";
import { Model } from "../model";
import type { Optimizer, OptimizerName, OptimizerSpec } from "../optim/optimizer";
import type { Runtime } from "../runtime/runtime";
import { OPTIMIZERS } from "../optim/optimizer";
import { planModel, type LayerPlan } from "../plan";
import { validateSpec, type ModelSpec } from "../spec";
import { quote } from "../text";
import { readRunRecord, type RunRecord } from "./run-record";
import { attachInt8, INT8_MODEL_FORMAT, readInt8Tensors } from "./int8-file";
import { decodeSafetensors, encodeSafetensors, type NamedTensor } from "./safetensors";

export type { RunRecord } from "./run-record";

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
 * "optim.<param>.<k>" and its settings and step count as JSON in "optimizer". A training run
 * writes its record as JSON in "run" (sdk/io/run-record.ts; TrainingSession.save).
 *
 * What is written passes the reader's own checks (tensorProblem, factProblem, outputProblem,
 * optimizerSettingsProblem, optimizerTensorsProblem): weights beyond the plausible range or
 * non-finite optimizer state (a diverged run) are a DIVERGED error, facts out of range a
 * BAD_ARGUMENT, a tampered optimizer (its step count) a BAD_STATE; and nothing is returned.
 */
export function serializeModel(model: Model, facts: Record<string, string> = {}, optimizer?: Optimizer): Uint8Array {
  checkModel(model, "serializeModel");
  if (model.quantized)
    fail("BAD_STATE", "serializeModel: an int8 model is written by quantizeModel, from the float model it came from");
  const factIssue = factProblem(facts);
  if (factIssue) fail("BAD_ARGUMENT", `cannot save the model: ${factIssue}`);
  const runIssue = facts.run === undefined ? undefined : readRunRecord(facts.run).problem;
  if (runIssue) fail("BAD_ARGUMENT", `cannot save the model: its run record is wrong: ${runIssue}`);
  const tensors = new Map<string, NamedTensor>();
  for (const p of [...model.params, ...model.buffers]) {
    const data = p.value.read();
    const issue = tensorProblem(p.name, data);
    if (issue) fail("DIVERGED", `cannot save the model: ${issue} (training has diverged; try a smaller learning rate)`);
    tensors.set(p.name, { shape: [...p.value.shape], data });
  }
  const outputIssue = outputProblem(model);
  if (outputIssue)
    fail("DIVERGED", `cannot save the model: ${outputIssue} (training has diverged; try a smaller learning rate)`);
  const metadata: Record<string, string> = { ...facts, format: MODEL_FORMAT, spec: JSON.stringify(model.spec) };
  if (optimizer) {
    const state = optimizer.exportState(model.params);
    for (const [name, t] of state.tensors) tensors.set(name, t);
    metadata.optimizer = JSON.stringify(state.settings);
    const settingsIssue = optimizerSettingsProblem(metadata.optimizer);
    if (settingsIssue) fail("BAD_STATE", `cannot save the optimizer state: ${settingsIssue}`);
    const stateIssue = optimizerTensorsProblem(state.tensors);
    if (stateIssue)
      fail(
        "DIVERGED",
        `cannot save the optimizer state: ${stateIssue} (training has diverged; try a smaller learning rate)`,
      );
  }
  return encodeSafetensors(tensors, metadata);
}

/** What deserializeModel() returns: the model, its file's metadata, and what a resumed run needs. */
export interface LoadedModel {
  model: Model;
  metadata: Record<string, string>;
  optimizerState?: SavedOptimizerState;
  run?: RunRecord;
  runProblem?: string;
}

/**
 * A reader of a model format other than safetensors, added by the entry that brings it (the ONNX
 * reader by "mnist-wasm/onnx", and by "mnist-wasm/node"): a format a page does not import costs
 * it no bytes. `detect` must refuse every safetensors file.
 */
export interface ModelFormatReader {
  detect(bytes: Uint8Array): boolean;
  read(rt: Runtime, bytes: Uint8Array, what: string): LoadedModel;
}

const formatReaders: ModelFormatReader[] = [];

/** Lets deserializeModel() read another format. */
export function registerModelFormat(reader: ModelFormatReader): void {
  if (!formatReaders.includes(reader)) formatReaders.push(reader);
}

/**
 * Builds the model a file describes and loads its parameters; says which tensor is wrong, if any.
 * Reads safetensors (serializeModel's format) and the formats registered by other entries:
 * ONNX once "mnist-wasm/onnx" is imported (always with "mnist-wasm/node"); without it, an ONNX
 * file is refused as a file that is not safetensors. `options.winograd` turns on the model's
 * Winograd convolutions (see Model.winograd); an option of the wrong type is BAD_ARGUMENT.
 */
export function deserializeModel(
  rt: Runtime,
  bytes: Uint8Array,
  what = "model file",
  options: LoadModelOptions = {},
): LoadedModel {
  bytes = byteArray(bytes, "deserializeModel: bytes");
  const { winograd } = checkLoadOptions(options, "deserializeModel");
  const loaded = readModel(rt, bytes, what);
  if (winograd) loaded.model.winograd = true;
  return loaded;
}

/** How a loaded model runs (see deserializeModel). */
export interface LoadModelOptions {
  /** Inference by Winograd convolutions where they pay (Model's `winograd`; off by default). */
  winograd?: boolean;
}

/** `options` as deserializeModel() or loadModelFile() (`caller`) takes them, or BAD_ARGUMENT. */
export function checkLoadOptions(options: unknown, caller: string): LoadModelOptions {
  const { winograd } = checkOptions<LoadModelOptions>(options, `${caller} options`, ["winograd"]);
  if (winograd !== undefined && typeof winograd !== "boolean")
    fail("BAD_ARGUMENT", `${caller}: winograd must be true or false, got ${describeValue(winograd)}`);
  return { winograd };
}

function readModel(rt: Runtime, bytes: Uint8Array, what: string): LoadedModel {
  for (const reader of formatReaders) if (reader.detect(bytes)) return reader.read(rt, bytes, what);
  const { tensors, int8, metadata } = decodeSafetensors(bytes, what, true);
  const quantized = metadata.format === INT8_MODEL_FORMAT;
  if (metadata.format !== MODEL_FORMAT && !quantized) {
    const format = metadata.format === undefined ? "null" : quote(metadata.format);
    fail(
      "BAD_FILE",
      `${what}: not an mnist-wasm model (format ${format}, expected "${MODEL_FORMAT}" or "${INT8_MODEL_FORMAT}")`,
    );
  }
  if (!quantized && int8.size > 0)
    fail("BAD_FILE", `${what}: tensor ${quote([...int8.keys()][0])} is I8, which only an int8 model file holds`);
  let specJson: unknown;
  try {
    specJson = JSON.parse(metadata.spec ?? "");
  } catch {
    fail("BAD_FILE", `${what}: the model spec in its metadata is not JSON`);
  }
  const model = modelFromTensors(rt, specJson, tensors, metadata, what, quantized ? int8 : undefined);
  const optimizerState = readOptimizerState(metadata.optimizer, tensors);
  // The run record is optional like the optimizer state: a damaged one is dropped, and said why.
  const run = metadata.run === undefined ? {} : readRunRecord(metadata.run);
  return {
    model,
    metadata,
    ...(optimizerState ? { optimizerState } : {}),
    ...(run.record ? { run: run.record } : {}),
    ...(run.problem ? { runProblem: run.problem } : {}),
  };
}

/**
 * The model an untrusted spec describes, with its parameters and buffers taken from `tensors`
 * (named as in a model file, "<layer>.<param>"): the spec, the facts in `metadata`, every
 * tensor's shape and values are checked before anything is built (BAD_FILE naming what is
 * wrong); tensors "optim.*" are left for the caller, any other extra one is refused.
 */
export function modelFromTensors(
  rt: Runtime,
  specJson: unknown,
  tensors: Map<string, NamedTensor>,
  metadata: Record<string, string>,
  what: string,
  int8?: Parameters<typeof readInt8Tensors>[3],
): Model {
  /** An int8 model file's: its I8 weights, quantized per output channel (sdk/io/int8-file.ts). */
  const quantized = int8 !== undefined;
  let spec: ModelSpec;
  try {
    spec = validateSpec(specJson);
  } catch (e) {
    if (e instanceof MnistWasmError) fail("BAD_FILE", `${what}: ${e.message}`);
    throw e;
  }
  const factIssue = factProblem(metadata);
  if (factIssue) fail("BAD_FILE", `${what}: ${factIssue}`);
  // Compare the file's tensors with what the spec needs before building anything, so a spec
  // edited to ask for a huge model is refused instead of allocated.
  let plans: LayerPlan[];
  try {
    plans = planModel(spec);
  } catch (e) {
    if (e instanceof MnistWasmError) fail("BAD_FILE", `${what}: ${e.message}`);
    throw e;
  }
  // An int8 file's quantized weights become float ones here (its scales checked and used up).
  const quants = int8 ? readInt8Tensors(spec, plans, tensors, int8, what) : undefined;
  const expected = new Set<string>();
  for (const { name, shape } of plans.flatMap((p) => p.tensors)) {
    expected.add(name);
    const t = tensors.get(name);
    if (!t) fail("BAD_FILE", `${what}: tensor "${name}" is missing`);
    if (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i])) {
      fail("BAD_FILE", `${what}: tensor "${name}" has shape [${t.shape}], the spec needs [${shape}]`);
    }
    const issue = tensorProblem(name, t.data);
    if (issue) fail("BAD_FILE", `${what}: ${issue}`);
  }
  for (const name of tensors.keys()) {
    if (!expected.has(name) && (quantized || !name.startsWith("optim.")))
      fail("BAD_FILE", `${what}: unexpected tensor ${quote(name)} for this spec`);
  }
  const model = new Model(rt, spec);
  try {
    for (const p of [...model.params, ...model.buffers]) p.value.write(tensors.get(p.name)!.data);
    if (quants) attachInt8(model, quants);
    const issue = outputProblem(model);
    if (issue) fail("BAD_FILE", `${what}: ${issue}`);
  } catch (e) {
    model.dispose();
    if (e instanceof MnistWasmError && e.code !== "BAD_FILE") fail("BAD_FILE", `${what}: ${e.message}`);
    throw e;
  }
  return model;
}

/** Weights of a trained model are small; larger values mean a damaged or hostile file, or a diverged run. */
export const MAX_ABS_VALUE = 1e8;

/**
 * What a reader refuses in a saved tensor's values (one beyond ±MAX_ABS_VALUE or not a number,
 * a negative variance), or undefined. Shared by the reader, the writer and fit()'s end-of-epoch check.
 */
export function tensorProblem(name: string, data: Float32Array): string | undefined {
  for (let i = 0; i < data.length; i++) {
    const v = data[i];
    if (!(Math.abs(v) <= MAX_ABS_VALUE))
      return `tensor "${name}" holds ${v}, not a plausible weight (beyond ±${MAX_ABS_VALUE})`;
  }
  if (name.endsWith(".running_var")) {
    for (let i = 0; i < data.length; i++) if (data[i] < 0) return `tensor "${name}" holds a negative variance`;
  }
  return undefined;
}

/** The values passed one by one; their combination must still give finite outputs (checked on a zero image). */
function outputProblem(model: Model): string | undefined {
  const zero = new Float32Array(model.inputSize);
  const outputs = model.task === "classifier" ? model.predict(zero) : model.reconstruct(zero);
  return outputs.every(Number.isFinite) ? undefined : "the model's outputs are not finite numbers";
}

/**
 * The facts a model file states as numbers, with the range each must be in. A file whose fact is
 * out of range (or not a plain decimal number) is refused, naming the fact: train --init-from
 * counts epochs on from "epochs", and a reader must not carry nonsense on.
 */
export const NUMERIC_FACTS: Record<string, { valid: (x: number) => boolean; range: string }> = {
  epochs: { valid: (x) => Number.isInteger(x) && x >= 0 && x <= 1e6, range: "an integer from 0 to 1000000" },
  testAccuracy: { valid: (x) => x >= 0 && x <= 1, range: "a number from 0 to 1" },
  // Training stops as diverged long before a mean loss of 1,000; toFixed() writes this range plainly.
  loss: { valid: (x) => x >= 0 && x <= 1e6, range: "a number from 0 to 1000000" },
};

/**
 * A plain decimal number as the trainer writes it (String of an integer, toFixed of a fraction):
 * digits, optionally a point and more digits; no sign, exponent, leading zeros, blanks, hex or
 * "Infinity".
 */
export const PLAIN_DECIMAL = /^(0|[1-9]\d*)(\.\d+)?$/;

/** What is wrong with a file's (or a save's) numeric facts, or undefined. */
export function factProblem(metadata: Record<string, string>): string | undefined {
  for (const [name, rule] of Object.entries(NUMERIC_FACTS)) {
    if (!Object.hasOwn(metadata, name)) continue;
    const text = metadata[name];
    const value = Number(text);
    if (typeof text !== "string" || !PLAIN_DECIMAL.test(text) || !Number.isFinite(value) || !rule.valid(value)) {
      return `metadata "${name}" is ${typeof text === "string" ? quote(text) : String(text)}, not ${rule.range}`;
    }
  }
  return undefined;
}

/** Largest optimizer step count a file may record. */
const MAX_STEPS = 2 ** 31;

/**
 * What is wrong with a saved optimizer record (the settings JSON in "optimizer"), or undefined:
 * an optimizer the SDK has, a step count from 0 to 2^31, settings that the Optimizer accepts
 * (finite, non-negative, a positive learning rate, decays below 1).
 */
export function optimizerSettingsProblem(record: string): string | undefined {
  let settings: unknown;
  try {
    settings = JSON.parse(record);
  } catch {
    return "its record is not JSON";
  }
  if (typeof settings !== "object" || settings === null || Array.isArray(settings))
    return "its record is not a JSON object";
  const s = settings as Record<string, unknown>;
  if (!OPTIMIZERS.includes(s.name as OptimizerName)) return "its record names no known optimizer";
  const steps = s.steps;
  if (!Number.isInteger(steps) || (steps as number) < 0 || (steps as number) > MAX_STEPS) {
    return `"steps" is ${String(JSON.stringify(steps))}, not an integer from 0 to ${MAX_STEPS}`;
  }
  for (const key of ["lr", "momentum", "rho", "eps", "beta1", "beta2", "weightDecay"]) {
    const v = s[key];
    if (v === undefined) continue;
    const below1 = key === "momentum" || key === "rho" || key === "beta1" || key === "beta2";
    if (typeof v !== "number" || !Number.isFinite(v) || v < 0 || (key === "lr" && v === 0) || (below1 && v >= 1)) {
      return `"${key}" is ${String(JSON.stringify(v))}, not ${below1 ? "a number from 0 to below 1" : key === "lr" ? "a positive number" : "a non-negative number"}`;
    }
  }
  return undefined;
}

/** What is wrong with the optimizer's state tensors ("optim.*": finite values), or undefined. */
export function optimizerTensorsProblem(tensors: Map<string, NamedTensor>): string | undefined {
  for (const [name, t] of tensors) {
    if (!name.startsWith("optim.")) continue;
    for (let i = 0; i < t.data.length; i++)
      if (!Number.isFinite(t.data[i])) return `tensor "${name}" holds ${t.data[i]}`;
  }
  return undefined;
}

/**
 * The optimizer state of a file, or undefined when there is none or its record is damaged
 * (optimizerSettingsProblem, optimizerTensorsProblem): the optimizer state is optional, and a damaged record only costs a
 * resumed run its optimizer state (the optimizer starts afresh), never the model.
 */
function readOptimizerState(
  record: string | undefined,
  tensors: Map<string, NamedTensor>,
): SavedOptimizerState | undefined {
  if (!record) return undefined;
  const optimTensors = new Map([...tensors].filter(([name]) => name.startsWith("optim.")));
  if (optimizerSettingsProblem(record) || optimizerTensorsProblem(optimTensors)) return undefined;
  return { settings: JSON.parse(record) as OptimizerSpec & { steps: number }, tensors: optimTensors };
}
