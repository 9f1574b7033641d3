// Mutation fuzzing of every reader of untrusted bytes: idx (MNIST), CIFAR-10 batches, tar, gzip
// (the platform stream and the Node file path), safetensors and model files, ONNX models (seeds:
// the two trained models exported, and the PyTorch-made fixtures; byte-level and protobuf-level
// mutations, accepted ones checked against ONNX Runtime). Seeds are real
// files (the MNIST test set cut to 200 images, 50 CIFAR-10 records made here, a ustar archive of
// them, gzips of each, and model files of a trained MLP and a small CNN with batch norm and
// optimizer state); each case applies a few seeded mutations to one seed and checks that the
// reader either returns a result that is internally consistent (and agrees with a small
// independent oracle), or throws MnistWasmError with code BAD_FILE or BAD_SHAPE, within ~1 s.
//
// Every case is reproducible from its reader name and index alone (see `caseRng`); a failure
// names both plus the seed file and the mutations applied. Environment knobs, all off in CI:
// FUZZ_CASE=model:123 replays one case, FUZZ_SCALE=20 runs twenty times as many cases,
// FUZZ_STATS=1 prints how many cases ran.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { gunzipSync, gzipSync } from "node:zlib";
import * as ort from "onnxruntime-web";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  exportOnnx,
  importOnnx,
  CIFAR10_CLASSES,
  datasetFromCifarBatches,
  datasetFromIdx,
  decodeSafetensors,
  autoencoderSpec,
  deserializeModel,
  fit,
  takeFirst,
  gunzipIfNeeded,
  isGzip,
  loadCifar10,
  MNIST_CLASSES,
  MnistWasmError,
  Model,
  MODEL_FORMAT,
  Optimizer,
  OPTIMIZERS,
  Random,
  readMaybeGzip,
  readTar,
  Runtime,
  serializeModel,
  type Dataset,
  type ModelSpec,
  imageCost,
  inferenceBatch,
  PLAN_LIMITS,
  planModel,
  validateSpec,
} from "../sdk/node";
import { int32Bias } from "../sdk/layers/int8";
import { factProblem, optimizerSettingsProblem } from "../sdk/io/model-file";
import { INT8_MODEL_FORMAT } from "../sdk/io/int8-file";
import { outputIndex } from "../sdk/layers/int8";
import { quantizeModel } from "../sdk/quantize";
import { classNameProblem } from "../sdk/spec";
import { type ModelProto, onnx } from "../sdk/onnx/proto";

/** Wall-clock budget of one case (a sync reader cannot be interrupted; it is measured after). */
const CASE_MS = 1000;
const ALLOWED_CODES = new Set(["BAD_FILE", "BAD_SHAPE"]);

// ---------------------------------------------------------------------------------------------
// Seeded randomness

function hashString(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193) >>> 0;
  return h;
}

/** The generator of case `index` of `reader`: any single case can be replayed on its own. */
const caseRng = (reader: string, index: number): Random =>
  new Random((hashString(reader) ^ Math.imul(index + 1, 0x9e3779b1)) >>> 0);

const pick = <T>(rng: Random, items: readonly T[]): T => items[rng.int(items.length)];

// ---------------------------------------------------------------------------------------------
// Seed files

interface Seed {
  name: string;
  bytes: Uint8Array;
  /** Byte ranges worth hitting more often than uniform positions would (headers, labels, trailers). */
  hot: [number, number][];
  /** Record or block size: truncations and duplicated chunks sometimes align to it. */
  grain: number;
}

const IMAGES = 200;
const RECORDS = 50;
const RECORD = 3073;

function be32(value: number): number[] {
  return [(value >>> 24) & 255, (value >>> 16) & 255, (value >>> 8) & 255, value & 255];
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** A minimal ustar writer: one header block per entry, data padded to 512, two zero blocks. */
function ustar(entries: { name: string; prefix?: string; type?: string; data?: Uint8Array }[]): {
  bytes: Uint8Array;
  headers: number[];
} {
  const parts: Uint8Array[] = [];
  const headers: number[] = [];
  let offset = 0;
  const ascii = (block: Uint8Array, at: number, text: string): void => {
    for (let i = 0; i < text.length; i++) block[at + i] = text.charCodeAt(i);
  };
  for (const entry of entries) {
    const data = entry.data ?? new Uint8Array(0);
    const header = new Uint8Array(512);
    ascii(header, 0, entry.name);
    ascii(header, 100, "0000644\0");
    ascii(header, 108, "0001750\0");
    ascii(header, 116, "0001750\0");
    ascii(header, 124, data.length.toString(8).padStart(11, "0") + "\0");
    ascii(header, 136, "14771734400\0");
    ascii(header, 148, "        ");
    ascii(header, 156, entry.type ?? "0");
    ascii(header, 257, "ustar\0");
    ascii(header, 263, "00");
    ascii(header, 265, "fuzz\0");
    ascii(header, 297, "fuzz\0");
    if (entry.prefix) ascii(header, 345, entry.prefix);
    let sum = 0;
    for (const b of header) sum += b;
    ascii(header, 148, sum.toString(8).padStart(6, "0") + "\0 ");
    headers.push(offset);
    parts.push(header);
    const padded = new Uint8Array(Math.ceil(data.length / 512) * 512);
    padded.set(data);
    parts.push(padded);
    offset += 512 + padded.length;
  }
  parts.push(new Uint8Array(1024));
  return { bytes: concat(...parts), headers };
}

const MNIST_DIR = fileURLToPath(new URL("../data/mnist/", import.meta.url));

/** CIFAR-10 records made here (label i mod 10, seeded pixels), so that no seed needs shared/. */
function cifarRecords(count: number): Uint8Array {
  const rng = new Random(3073);
  const bytes = new Uint8Array(count * RECORD);
  for (let i = 0; i < count; i++) {
    bytes[i * RECORD] = i % 10;
    for (let p = 1; p < RECORD; p++) bytes[i * RECORD + p] = rng.int(256);
  }
  return bytes;
}

function buildDataSeeds(): { images: Seed; labels: Seed; cifar: Seed; tar: Seed; meta: Uint8Array } {
  const allImages = readMaybeGzip(join(MNIST_DIR, "t10k-images-idx3-ubyte.gz"));
  const allLabels = readMaybeGzip(join(MNIST_DIR, "t10k-labels-idx1-ubyte.gz"));
  const imageBytes = concat(
    Uint8Array.from([0, 0, 8, 3, ...be32(IMAGES), ...be32(28), ...be32(28)]),
    allImages.subarray(16, 16 + IMAGES * 784),
  );
  const labelBytes = concat(Uint8Array.from([0, 0, 8, 1, ...be32(IMAGES)]), allLabels.subarray(8, 8 + IMAGES));
  const cifarBytes = cifarRecords(RECORDS);
  const meta = new TextEncoder().encode(CIFAR10_CLASSES.join("\n") + "\n");
  const tar = ustar([
    { name: "cifar-10-batches-bin/", type: "5" },
    { prefix: "cifar-10-batches-bin", name: "batches.meta.txt", data: meta },
    { prefix: "cifar-10-batches-bin", name: "test_batch.bin", data: cifarBytes },
  ]);
  const labelRanges: [number, number][] = Array.from({ length: RECORDS }, (_, i) => [i * RECORD, i * RECORD + 1]);
  return {
    images: {
      name: "t10k-images[200].idx3",
      bytes: imageBytes,
      hot: [
        [0, 16],
        [imageBytes.length - 8, imageBytes.length],
      ],
      grain: 784,
    },
    labels: {
      name: "t10k-labels[200].idx1",
      bytes: labelBytes,
      hot: [
        [0, 8],
        [8, labelBytes.length],
      ],
      grain: 1,
    },
    cifar: { name: "test_batch[50].bin", bytes: cifarBytes, hot: labelRanges, grain: RECORD },
    tar: {
      name: "cifar[50].tar",
      bytes: tar.bytes,
      hot: [...tar.headers.map((h): [number, number] => [h, h + 512]), [tar.bytes.length - 1024, tar.bytes.length]],
      grain: 512,
    },
    meta,
  };
}

function gzipSeed(seed: Seed): Seed {
  const bytes = new Uint8Array(gzipSync(seed.bytes));
  return {
    name: `${seed.name}.gz`,
    bytes,
    hot: [
      [0, 10],
      [bytes.length - 8, bytes.length],
    ],
    grain: 1,
  };
}

function modelSeed(name: string, bytes: Uint8Array): Seed {
  const headerLength = Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true));
  return { name, bytes, hot: [[0, 8 + headerLength]], grain: 4 };
}

/** An ONNX model: its graph's nodes come first, the metadata last; the weights' bytes are in between. */
function onnxSeed(name: string, bytes: Uint8Array): Seed {
  return {
    name,
    bytes,
    hot: [
      [0, 1500],
      [bytes.length - 600, bytes.length],
    ],
    grain: 4,
  };
}

// ---------------------------------------------------------------------------------------------
// Byte-level mutations

const INTERESTING_BYTES = [
  0x00, 0x01, 0x08, 0x0a, 0x20, 0x22, 0x2c, 0x30, 0x37, 0x39, 0x5b, 0x5d, 0x7b, 0x7d, 0x7f, 0x80, 0xfe, 0xff,
];

function position(rng: Random, seed: Seed, length: number): number {
  if (length === 0) return 0;
  if (seed.hot.length > 0 && rng.uniform() < 0.6) {
    const [a, b] = pick(rng, seed.hot);
    const lo = Math.min(a, length - 1);
    const hi = Math.max(lo + 1, Math.min(b, length));
    return lo + rng.int(hi - lo);
  }
  return rng.int(length);
}

function cutPoint(rng: Random, seed: Seed, length: number): number {
  const r = rng.uniform();
  if (r < 0.1) return 0;
  if (r < 0.2) return Math.max(0, length - 1 - rng.int(4));
  if (r < 0.4 && seed.grain > 1)
    return Math.min(
      length,
      seed.grain * rng.int(Math.floor(length / seed.grain) + 1) + (rng.uniform() < 0.5 ? 0 : rng.int(3) - 1),
    );
  if (r < 0.7) return position(rng, seed, length);
  return rng.int(length + 1);
}

type ByteMutation = (bytes: Uint8Array, rng: Random, seed: Seed) => { bytes: Uint8Array; what: string };

const BYTE_MUTATIONS: Record<string, ByteMutation> = {
  flipBits(bytes, rng, seed) {
    const out = bytes.slice();
    const n = 1 + rng.int(8);
    const at: number[] = [];
    for (let i = 0; i < n && out.length > 0; i++) {
      const p = position(rng, seed, out.length);
      out[p] ^= 1 << rng.int(8);
      at.push(p);
    }
    return { bytes: out, what: `flip bits at ${at.join(",")}` };
  },
  overwriteBytes(bytes, rng, seed) {
    const out = bytes.slice();
    const n = 1 + rng.int(8);
    const at: string[] = [];
    for (let i = 0; i < n && out.length > 0; i++) {
      const p = position(rng, seed, out.length);
      out[p] = rng.uniform() < 0.5 ? pick(rng, INTERESTING_BYTES) : rng.int(256);
      at.push(`${p}=${out[p]}`);
    }
    return { bytes: out, what: `overwrite ${at.join(",")}` };
  },
  truncate(bytes, rng, seed) {
    const at = cutPoint(rng, seed, bytes.length);
    return { bytes: bytes.slice(0, at), what: `truncate to ${at}` };
  },
  append(bytes, rng) {
    const n = pick(rng, [1, 3, 8, 512, 1 + rng.int(4096)]);
    const zeros = rng.uniform() < 0.3;
    const extra = Uint8Array.from({ length: n }, () => (zeros ? 0 : rng.int(256)));
    return { bytes: concat(bytes, extra), what: `append ${n} ${zeros ? "zero" : "random"} bytes` };
  },
  duplicateChunk(bytes, rng, seed) {
    if (bytes.length === 0) return { bytes, what: "duplicate nothing" };
    const aligned = seed.grain > 1 && rng.uniform() < 0.4;
    const length = aligned ? Math.min(seed.grain, bytes.length) : 1 + rng.int(Math.min(4096, bytes.length));
    const start = aligned
      ? seed.grain * rng.int(Math.floor(bytes.length / seed.grain) || 1)
      : position(rng, seed, bytes.length);
    const chunk = bytes.slice(start, start + length);
    const at = aligned ? start + chunk.length : rng.int(bytes.length + 1);
    return {
      bytes: concat(bytes.subarray(0, at), chunk, bytes.subarray(at)),
      what: `duplicate ${start}+${chunk.length} at ${at}`,
    };
  },
};

/** One to three byte mutations of a seed, logged (with `what` in front) as they are made. */
function mutateBytes(seed: Seed, rng: Random, log: string[], what = seed.name): Uint8Array {
  let bytes = seed.bytes;
  const names = Object.keys(BYTE_MUTATIONS);
  for (let n = 1 + rng.int(3); n > 0; n--) {
    const r = BYTE_MUTATIONS[pick(rng, names)](bytes, rng, seed);
    bytes = r.bytes;
    log.push(`${what}: ${r.what}`);
  }
  return bytes;
}

// ---------------------------------------------------------------------------------------------
// safetensors-aware mutations: the header length, and JSON-level edits of the header

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** Sizes and values a mutated header may take. */
const INTERESTING_JSON: Json[] = [
  0,
  -1,
  1,
  2,
  3,
  4,
  7,
  16,
  64,
  255,
  256,
  0.5,
  1.5,
  -0.5,
  1e-300,
  1e9,
  2 ** 31,
  2 ** 32,
  2 ** 53,
  2 ** 53 + 2,
  1e308,
  "",
  "0",
  "4",
  "F32",
  "F16",
  "F64",
  "I32",
  "x",
  "mnist-wasm/1",
  "mnist-wasm/2",
  "__proto__",
  null,
  true,
  false,
  [],
  {},
  [1],
  [0, 0],
  [4, 4],
  { type: "relu" },
];

function readHeader(bytes: Uint8Array): { header: Record<string, Json>; data: Uint8Array } {
  const n = Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true));
  return { header: JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + n))), data: bytes.subarray(8 + n) };
}

function writeHeader(header: Json, data: Uint8Array, rng: Random, log: string[]): Uint8Array {
  let text = JSON.stringify(header);
  if (rng.uniform() < 0.5) text += " ".repeat((8 - (text.length % 8)) % 8);
  const json = new TextEncoder().encode(text);
  const out = new Uint8Array(8 + json.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  out.set(data, 8 + json.length);
  if (rng.uniform() < 0.1) {
    const delta = pick(rng, [-8, -1, 1, 8]);
    new DataView(out.buffer).setBigUint64(0, BigInt(Math.max(0, json.length + delta)), true);
    log.push(`header length ${json.length} -> ${json.length + delta}`);
  }
  return out;
}

/** Every path inside a JSON value (the root is []). */
function paths(value: Json, prefix: (string | number)[] = [], out: (string | number)[][] = []): (string | number)[][] {
  out.push(prefix);
  if (Array.isArray(value)) value.forEach((v, i) => paths(v, [...prefix, i], out));
  else if (value !== null && typeof value === "object")
    for (const k of Object.keys(value)) paths(value[k], [...prefix, k], out);
  return out;
}

const getAt = (root: Json, path: (string | number)[]): Json =>
  path.reduce<Json>((v, k) => (v as Record<string | number, Json>)[k], root);

/** One generic edit somewhere in a JSON value: replace, delete, tweak a number, duplicate, change type. Returns the new root. */
function mutateJson(root: Json, rng: Random, log: string[], where: string): Json {
  const all = paths(root);
  const path = pick(rng, all);
  const label = `${where}${path.map((k) => `[${JSON.stringify(k)}]`).join("")}`;
  const old = getAt(root, path);
  let replacement: Json | undefined;
  const r = rng.uniform();
  if (r < 0.45) replacement = structuredClone(pick(rng, INTERESTING_JSON));
  else if (r < 0.6 && typeof old === "number")
    replacement = pick(rng, [old + 1, old - 1, old * 2, -old, old + 0.5, old * 1.0001]);
  else if (r < 0.7 && path.length > 0)
    replacement = undefined; // delete
  else if (r < 0.8 && Array.isArray(old) && old.length > 0) {
    const copy = structuredClone(old);
    const i = rng.int(copy.length);
    if (rng.uniform() < 0.5) copy.splice(i, 0, structuredClone(copy[i]));
    else copy.splice(i, 1);
    replacement = copy;
  } else if (r < 0.9) replacement = rng.uniform() < 0.5 ? [structuredClone(old)] : JSON.stringify(old);
  else replacement = structuredClone(pick(rng, INTERESTING_JSON));
  log.push(
    replacement === undefined ? `delete ${label}` : `set ${label} = ${JSON.stringify(replacement).slice(0, 60)}`,
  );
  if (path.length === 0) return replacement === undefined ? null : replacement;
  const parent = getAt(root, path.slice(0, -1)) as Record<string | number, Json>;
  const key = path[path.length - 1];
  if (replacement !== undefined) parent[key] = replacement;
  else if (Array.isArray(parent)) parent.splice(key as number, 1);
  else delete parent[key];
  return root;
}

/** Edits a JSON document kept as a string (metadata "spec" and "optimizer"), sometimes breaking its syntax. */
function mutateJsonString(text: string, rng: Random, log: string[], where: string): string {
  if (rng.uniform() < 0.1) {
    const cut = rng.int(text.length);
    log.push(`cut ${where} at ${cut}`);
    return text.slice(0, cut);
  }
  let value: Json;
  try {
    value = JSON.parse(text);
  } catch {
    value = text; // an earlier edit broke it: edit it as a JSON string
  }
  for (let n = 1 + rng.int(2); n > 0; n--) value = mutateJson(value, rng, log, where);
  return JSON.stringify(value);
}

/** One safetensors-aware mutation: header length, a tensor's fields, the metadata (spec, format, optimizer), the structure. */
function mutateSafetensors(seed: Seed, rng: Random, log: string[]): Uint8Array {
  const r = rng.uniform();
  if (r < 0.3) return mutateBytes(seed, rng, log);
  if (r < 0.4) {
    const out = seed.bytes.slice();
    const n = Number(new DataView(out.buffer).getBigUint64(0, true));
    const value = pick(rng, [
      0n,
      1n,
      2n,
      BigInt(n - 1),
      BigInt(n + 1),
      BigInt(n + 8),
      BigInt(out.length - 8),
      BigInt(out.length - 7),
      2n ** 32n,
      2n ** 53n + 1n,
      2n ** 63n,
      2n ** 64n - 1n,
      BigInt(rng.nextU32()),
      BigInt(rng.nextU32()) << 32n,
    ]);
    new DataView(out.buffer).setBigUint64(0, value, true);
    log.push(`header length = ${value}`);
    return out;
  }
  const { header, data } = readHeader(seed.bytes);
  let root: Json = header;
  const metadata = header.__metadata__ as Record<string, string>;
  const tensorNames = Object.keys(header).filter((k) => k !== "__metadata__");
  for (let n = 1 + rng.int(2); n > 0; n--) {
    const t = rng.uniform();
    if (t < 0.4) {
      const name = pick(rng, tensorNames);
      const entry = header[name] as Record<string, Json> | undefined;
      if (entry === undefined || entry === null || typeof entry !== "object") continue;
      const field = pick(rng, ["shape", "dtype", "data_offsets", "data_offsets", "shape"]);
      if (field === "data_offsets" && Array.isArray(entry.data_offsets) && rng.uniform() < 0.5) {
        // Point it at another tensor's range, or shift it by a float's width.
        const other = header[pick(rng, tensorNames)] as Record<string, Json>;
        const shift = pick(rng, [-4, 4, 8]);
        entry.data_offsets =
          rng.uniform() < 0.5 && other?.data_offsets
            ? structuredClone(other.data_offsets)
            : (entry.data_offsets as number[]).map((o) => o + shift);
        log.push(`set ${name}.data_offsets = ${JSON.stringify(entry.data_offsets)}`);
      } else {
        entry[field] = mutateJson(entry[field] ?? null, rng, log, `${name}.${field}`);
      }
    } else if (t < 0.7 && typeof metadata?.spec === "string") {
      metadata.spec = mutateJsonString(metadata.spec, rng, log, "spec");
    } else if (t < 0.78 && typeof metadata?.optimizer === "string") {
      metadata.optimizer = mutateJsonString(metadata.optimizer, rng, log, "optimizer");
    } else if (t < 0.88 && metadata && typeof metadata === "object") {
      header.__metadata__ = mutateJson(metadata as Json, rng, log, "__metadata__");
    } else {
      const s = rng.uniform();
      if (s < 0.3 && tensorNames.length > 0) {
        // A tensor under another name: renamed, or an extra copy.
        const from = pick(rng, tensorNames);
        const to = pick(rng, ["__proto__", "constructor", "", "optim.x", "0.weight", "9.bias", `${from} `]);
        Object.defineProperty(header, to, {
          value: structuredClone(header[from]),
          enumerable: true,
          writable: true,
          configurable: true,
        });
        if (rng.uniform() < 0.5) delete header[from];
        log.push(`copy tensor ${from} to ${JSON.stringify(to)}`);
      } else {
        root = mutateJson(root, rng, log, "header");
        if (root !== header) break;
      }
    }
  }
  const bytes = writeHeader(root, data, rng, log);
  return rng.uniform() < 0.15 ? mutateBytes({ ...seed, bytes }, rng, log, "then") : bytes;
}

// ---------------------------------------------------------------------------------------------
// Running cases

interface Outcome {
  /** Why the case is a failure, or undefined. */
  problem?: string;
}

const describeError = (e: unknown): string =>
  e instanceof Error
    ? `${e.constructor.name}${e instanceof MnistWasmError ? ` ${e.code}` : ""}: ${e.message.slice(0, 200)}`
    : String(e);

/** undefined when `e` is an allowed refusal, else why it is not. */
function refusalProblem(e: unknown): string | undefined {
  if (e instanceof MnistWasmError && ALLOWED_CODES.has(e.code)) return undefined;
  return `threw ${describeError(e)}${e instanceof Error && !(e instanceof MnistWasmError) ? `\n${e.stack?.split("\n").slice(1, 4).join("\n")}` : ""}`;
}

/** FUZZ_SCALE=20 runs twenty times as many cases (for a longer hunt; CI runs the default). */
const SCALE = Math.max(1, Number(process.env.FUZZ_SCALE) || 1);

/** Runs `count` cases of one reader and fails with every broken case (the first few in full). */
async function runCases(
  reader: string,
  baseCount: number,
  one: (rng: Random, log: string[]) => Promise<Outcome> | Outcome,
): Promise<void> {
  const count = baseCount * SCALE;
  const failures: string[] = [];
  // FUZZ_CASE=model:123 replays that one case (and skips every other).
  const only = process.env.FUZZ_CASE?.split(":");
  const indices = only ? (only[0] === reader ? [Number(only[1])] : []) : Array.from({ length: count }, (_, i) => i);
  for (const i of indices) {
    const rng = caseRng(reader, i);
    const log: string[] = [];
    const start = performance.now();
    let outcome: Outcome;
    try {
      outcome = await one(rng, log);
    } catch (e) {
      outcome = { problem: `the harness threw ${describeError(e)}` };
    }
    const ms = performance.now() - start;
    if (!outcome.problem && ms > CASE_MS) outcome = { problem: `took ${ms.toFixed(0)} ms` };
    if (outcome.problem) failures.push(`${reader} case ${i}: ${outcome.problem}\n    mutations: ${log.join("; ")}`);
  }
  if (process.env.FUZZ_STATS) console.log(reader, indices.length, "cases;", failures.length, "failed");
  expect(
    failures.slice(0, 8).join("\n\n") + (failures.length > 8 ? `\n… and ${failures.length - 8} more` : ""),
    `${failures.length} of ${indices.length} ${reader} cases failed`,
  ).toBe("");
}

/** Calls a reader and classifies the outcome: a value to check, or a (possibly allowed) refusal. */
async function attempt<T>(fn: () => T | Promise<T>): Promise<{ value: T } | { problem?: string; error: unknown }> {
  try {
    return { value: await fn() };
  } catch (e) {
    return { error: e, problem: refusalProblem(e) };
  }
}

// ---------------------------------------------------------------------------------------------
// Properties of accepted results

function checkDataset(d: Dataset, shape: [number, number, number], classes: readonly string[]): string | undefined {
  const size = d.shape[0] * d.shape[1] * d.shape[2];
  if (
    d.shape.length !== 3 ||
    d.shape[0] !== shape[0] ||
    (shape[1] > 0 && (d.shape[1] !== shape[1] || d.shape[2] !== shape[2]))
  ) {
    return `shape [${d.shape}], expected [${shape}]`;
  }
  if (!Number.isInteger(d.count) || d.count <= 0) return `count ${d.count}`;
  if (d.images.length !== d.count * size) return `images.length ${d.images.length} !== count ${d.count} x ${size}`;
  if (d.labels.length !== d.count) return `labels.length ${d.labels.length} !== count ${d.count}`;
  if (d.classes.length !== classes.length) return `${d.classes.length} classes, expected ${classes.length}`;
  for (let i = 0; i < d.labels.length; i++)
    if (d.labels[i] >= d.classes.length) return `label ${d.labels[i]} at ${i} >= ${d.classes.length} classes`;
  return undefined;
}

/** An idx data set must be exactly the bytes after the headers. */
function checkIdx(
  d: Dataset,
  imageBytes: Uint8Array,
  labelBytes: Uint8Array,
  classes: readonly string[],
): string | undefined {
  const view = new DataView(imageBytes.buffer, imageBytes.byteOffset);
  const h = view.getUint32(8, false);
  const w = view.getUint32(12, false);
  const problem = checkDataset(d, [1, h, w], classes);
  if (problem) return problem;
  if (d.count !== view.getUint32(4, false)) return `count ${d.count}, the header says ${view.getUint32(4, false)}`;
  if (!sameBytes(d.images, imageBytes.subarray(16))) return "images differ from the file's pixel bytes";
  if (!sameBytes(d.labels, labelBytes.subarray(8))) return "labels differ from the file's label bytes";
  return undefined;
}

/** A CIFAR-10 data set must be exactly the records of the file(s). */
function checkCifar(d: Dataset, bytes: Uint8Array): string | undefined {
  const problem = checkDataset(d, [3, 32, 32], CIFAR10_CLASSES);
  if (problem) return problem;
  if (d.count * RECORD !== bytes.length) return `count ${d.count} for ${bytes.length} bytes`;
  for (let i = 0; i < d.count; i++) {
    if (d.labels[i] !== bytes[i * RECORD]) return `label ${i} is ${d.labels[i]}, the record says ${bytes[i * RECORD]}`;
    if (!sameBytes(d.images.subarray(i * 3072, (i + 1) * 3072), bytes.subarray(i * RECORD + 1, (i + 1) * RECORD)))
      return `pixels of record ${i} differ`;
  }
  return undefined;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Tar entries are views of the archive, inside it, and the test batch (when present) reads as CIFAR-10. */
async function checkTar(bytes: Uint8Array): Promise<string | undefined> {
  const r = await attempt(() => readTar(bytes, "fuzz.tar"));
  if (!("value" in r)) return r.problem && `readTar ${r.problem}`;
  for (const e of r.value) {
    if (typeof e.name !== "string") return `entry name ${String(e.name)}`;
    const start = e.data.byteOffset - bytes.byteOffset;
    if (e.data.buffer !== bytes.buffer || start < 512 || start + e.data.length > bytes.length)
      return `entry ${e.name} is not inside the archive`;
    // The entry has the size its header declares (read here independently), all of it.
    const field = bytes.subarray(start - 512 + 124, start - 512 + 136);
    const sizeField =
      new TextDecoder().decode(field.subarray(0, field.indexOf(0) < 0 ? 12 : field.indexOf(0))).trim() || "0";
    if (parseInt(sizeField, 8) !== e.data.length)
      return `entry ${e.name} has ${e.data.length} bytes, its header says ${JSON.stringify(sizeField)}`;
  }
  const batch = r.value.find((e) => e.name.split("/").pop() === "test_batch.bin");
  if (!batch) return undefined;
  const c = await attempt(() => datasetFromCifarBatches([{ name: batch.name, bytes: batch.data }]));
  if (!("value" in c)) return c.problem && `datasetFromCifarBatches (from the tar) ${c.problem}`;
  return checkCifar(c.value, batch.data);
}

let rt: Runtime;

/**
 * decodeSafetensors, then deserializeModel, of one file: each refuses it properly or returns a
 * consistent result, they agree, and no wasm memory is left behind either way.
 */
function checkModel(bytes: Uint8Array): Outcome {
  const before = rt.usedBytes;
  let decoded: ReturnType<typeof decodeSafetensors> | undefined;
  try {
    decoded = decodeSafetensors(bytes, "fuzz.safetensors", true);
  } catch (e) {
    const problem = refusalProblem(e);
    if (problem) return { problem: `decodeSafetensors ${problem}` };
  }
  if (decoded) {
    const problem = checkSafetensors(decoded, bytes);
    if (problem) return { problem: `decodeSafetensors accepted it, but ${problem}` };
  }
  let loaded: ReturnType<typeof deserializeModel>;
  try {
    loaded = deserializeModel(rt, bytes, "fuzz.safetensors");
  } catch (e) {
    if (rt.usedBytes !== before)
      return {
        problem: `deserializeModel leaked ${rt.usedBytes - before} bytes of wasm memory when it threw ${describeError(e)}`,
      };
    const problem = refusalProblem(e);
    return problem ? { problem: `deserializeModel ${problem}` } : {};
  }
  let outcome: Outcome;
  try {
    outcome = decoded
      ? checkLoadedModel(loaded, decoded)
      : { problem: "deserializeModel accepted a file that decodeSafetensors refuses" };
  } finally {
    loaded.model.dispose();
  }
  if (!outcome.problem && rt.usedBytes !== before)
    return { problem: `a loaded and disposed model leaked ${rt.usedBytes - before} bytes` };
  return outcome;
}

/** A model read from a file holds the file's tensors, sane optimizer state, and predicts probabilities. */
function checkLoadedModel(
  loaded: ReturnType<typeof deserializeModel>,
  decoded: ReturnType<typeof decodeSafetensors>,
): Outcome {
  const { model, metadata, optimizerState } = loaded;
  if (metadata.format !== MODEL_FORMAT && metadata.format !== INT8_MODEL_FORMAT)
    return { problem: `format ${metadata.format}` };
  if ((metadata.format === INT8_MODEL_FORMAT) !== model.quantized)
    return { problem: `format ${metadata.format}, but model.quantized is ${model.quantized}` };
  for (const p of [...model.params, ...model.buffers]) {
    const q = decoded.int8.get(p.name);
    const v = p.value.read();
    if (q) {
      // An int8 weight is loaded dequantized: q · the scale of its output.
      const index = p.name.split(".")[0];
      const scale = decoded.tensors.get(`${index}.weight_scale`)!.data;
      const outputOf = outputIndex(model.spec.layers[Number(index)].type, p.value.shape);
      if (q.data.length !== v.length || q.data.some((x, i) => Math.fround(x * scale[outputOf(i)]) !== v[i]))
        return { problem: `"${p.name}" was not loaded from the file's int8 weights` };
      continue;
    }
    const t = decoded.tensors.get(p.name);
    if (!t || t.data.length !== v.length) return { problem: `"${p.name}" was not loaded from the file` };
    // An int8 layer's bias is loaded in int32 steps of input scale · weight scale (int32Bias).
    const [index, role] = p.name.split(".");
    const inputQuant = role === "bias" ? decoded.tensors.get(`${index}.input_quant`) : undefined;
    const weightScale = decoded.tensors.get(`${index}.weight_scale`);
    const steps = inputQuant && weightScale ? int32Bias(t.data, inputQuant.data[0], weightScale.data) : undefined;
    const want = steps ? Float32Array.from(steps.values, (q, o) => q * steps.scale[o]) : t.data;
    if (want.some((x, i) => !Object.is(x, v[i]))) return { problem: `"${p.name}" was not loaded from the file` };
  }
  if (optimizerState) {
    const s = optimizerState.settings as unknown as Record<string, unknown> | null;
    const ok =
      typeof s === "object" &&
      s !== null &&
      !Array.isArray(s) &&
      OPTIMIZERS.includes(s.name as never) &&
      Number.isInteger(s.steps) &&
      (s.steps as number) >= 0;
    if (!ok) return { problem: `optimizerState.settings ${JSON.stringify(s)}` };
    for (const [name, t] of optimizerState.tensors) {
      if (!name.startsWith("optim.")) return { problem: `optimizer tensor ${name}` };
      if (!t.data.every(Number.isFinite)) return { problem: `optimizer tensor ${name} holds NaN or infinite values` };
    }
  }
  // What an accepted file states is within the stated limits.
  const facts = factProblem(metadata);
  if (facts) return { problem: `accepted, but ${facts}` };
  if (model.spec.layers.length > PLAN_LIMITS.layers)
    return { problem: `accepted a model of ${model.spec.layers.length} layers` };
  for (const name of model.spec.classes ?? []) {
    if (classNameProblem(name))
      return { problem: `accepted the class name ${JSON.stringify(name)}: it ${classNameProblem(name)}` };
  }
  if (optimizerState) {
    const settings = optimizerSettingsProblem(JSON.stringify(optimizerState.settings));
    if (settings) return { problem: `accepted optimizer settings where ${settings}` };
  }
  if (model.task !== "classifier") {
    // An autoencoder or VAE reconstructs a zero image as finite pixels, in [0, 1] under "bce".
    let pixels: Float32Array;
    try {
      pixels = model.reconstruct(new Uint8Array(model.inputSize));
      model.encode(new Uint8Array(model.inputSize));
    } catch (e) {
      return { problem: `reconstruct on an accepted model ${refusalProblem(e) ?? `threw ${describeError(e)}`}` };
    }
    const bounded = model.loss.kind !== "bce" || pixels.every((v) => v >= 0 && v <= 1);
    if (pixels.length !== model.inputSize || !pixels.every(Number.isFinite) || !bounded)
      return { problem: `accepted, but reconstruct gives ${pixels.length} values ([${[...pixels].slice(0, 10)}])` };
    return {};
  }
  let probs: Float32Array;
  try {
    probs = model.predict(new Uint8Array(model.inputSize));
  } catch (e) {
    return { problem: `predict on an accepted model ${refusalProblem(e) ?? `threw ${describeError(e)}`}` };
  }
  const sum = probs.reduce((a, b) => a + b, 0);
  if (probs.length !== model.classCount || !probs.every(Number.isFinite) || Math.abs(sum - 1) > 1e-4) {
    return {
      problem: `accepted, but predict gives ${probs.length} probabilities summing to ${sum} ([${[...probs].slice(0, 10)}])`,
    };
  }
  return {};
}

/** Decoded tensors have the shapes they claim and exactly the bytes at their offsets. */
function checkSafetensors(decoded: ReturnType<typeof decodeSafetensors>, bytes: Uint8Array): string | undefined {
  const n = Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true));
  const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + n)));
  for (const [k, v] of Object.entries(decoded.metadata))
    if (typeof v !== "string") return `metadata ${k} is ${typeof v}`;
  for (const [name, t] of decoded.tensors) {
    if (!t.shape.every((d) => Number.isInteger(d) && d >= 0))
      return `tensor ${name} has shape ${JSON.stringify(t.shape)}`;
    if (t.data.length !== t.shape.reduce((a, b) => a * b, 1))
      return `tensor ${name}: ${t.data.length} values for shape [${t.shape}]`;
    const [begin, end] = header[name].data_offsets as [number, number];
    if (
      !sameBytes(
        new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength),
        bytes.subarray(8 + n + begin, 8 + n + end),
      )
    ) {
      return `tensor ${name} differs from the bytes at its offsets`;
    }
  }
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// The seeds, built once

// ---------------------------------------------------------------------------------------------
// ONNX: protobuf-level mutations, and the properties of an accepted model

/** Operators the importer reads, and some it does not. */
const ONNX_OPS = [
  ...["Gemm", "MatMul", "Add", "Conv", "Relu", "Sigmoid", "MaxPool", "AveragePool", "BatchNormalization"],
  ...["Flatten", "Reshape", "Dropout", "Identity", "Pad", "Softmax", "Constant", "LeakyRelu", "Concat", ""],
  ...["QuantizeLinear", "DequantizeLinear", "Clip"],
];
const INTERESTING_INTS = [0, 1, 2, 3, -1, -2, 5, 7, 28, 255, 1 << 20, 2 ** 31, 2 ** 40];
const INTERESTING_FLOATS = [0, 1, -1, 0.5, 1e-5, 1e30, Number.NaN, Number.POSITIVE_INFINITY, -0];

/** One to three edits of a decoded ONNX model (a node, an attribute, a tensor, the input, the opset…), encoded again. */
function mutateOnnx(bytes: Uint8Array, rng: Random, log: string[]): Uint8Array {
  const m = onnx.ModelProto.decode(bytes) as ModelProto;
  const graph = m.graph!;
  const nodes = graph.node!;
  const inits = graph.initializer!;
  const names = [...nodes.flatMap((n) => [...(n.input ?? []), ...(n.output ?? [])]), "", "nowhere"];
  const edits: Record<string, () => string> = {
    opType: () => {
      const n = pick(rng, nodes);
      n.opType = pick(rng, ONNX_OPS);
      return `node ${n.name} becomes ${n.opType}`;
    },
    deleteNode: () => `delete node ${nodes.splice(rng.int(nodes.length), 1)[0]?.name}`,
    duplicateNode: () => {
      const i = rng.int(nodes.length);
      nodes.splice(i, 0, { ...nodes[i] });
      return `duplicate node ${nodes[i]?.name}`;
    },
    swapNodes: () => {
      const i = rng.int(nodes.length);
      const j = rng.int(nodes.length);
      [nodes[i], nodes[j]] = [nodes[j], nodes[i]];
      return `swap nodes ${i} and ${j}`;
    },
    input: () => {
      const n = pick(rng, nodes);
      const inputs = [...(n.input ?? [])];
      const i = rng.int(inputs.length + 1);
      inputs[i] = pick(rng, names);
      n.input = inputs;
      return `node ${n.name} input ${i} is "${inputs[i]}"`;
    },
    attribute: () => {
      const n = pick(rng, nodes);
      const attributes = n.attribute ?? [];
      if (attributes.length === 0 || rng.uniform() < 0.2) {
        const name = pick(rng, ["kernel_shape", "strides", "pads", "axis", "group", "transB", "epsilon", "foo"]);
        attributes.push({ name, type: 7, ints: [pick(rng, INTERESTING_INTS), pick(rng, INTERESTING_INTS)] });
        n.attribute = attributes;
        return `node ${n.name} gains ${name}`;
      }
      const a = pick(rng, attributes);
      const r = rng.uniform();
      if (r < 0.4 && a.ints?.length)
        a.ints = a.ints.map((v) => (rng.uniform() < 0.5 ? pick(rng, INTERESTING_INTS) : v));
      else if (r < 0.6) a.i = pick(rng, INTERESTING_INTS);
      else if (r < 0.8) a.f = pick(rng, INTERESTING_FLOATS);
      else a.type = rng.int(12);
      return `node ${n.name} attribute ${a.name}: ${JSON.stringify({ i: a.i, f: a.f, ints: a.ints, type: a.type })}`;
    },
    dims: () => {
      const t = pick(rng, inits);
      const dims = [...(t.dims ?? [])];
      if (rng.uniform() < 0.3) dims.push(pick(rng, INTERESTING_INTS));
      else if (dims.length) dims[rng.int(dims.length)] = pick(rng, INTERESTING_INTS);
      t.dims = dims;
      return `tensor ${t.name} dims [${dims}]`;
    },
    tensorData: () => {
      const t = pick(rng, inits);
      const r = rng.uniform();
      if (r < 0.3) t.dataType = pick(rng, [0, 2, 6, 7, 9, 10, 11, 16]);
      else if (r < 0.5) t.dataLocation = 1;
      else if (r < 0.7 && t.rawData) t.rawData = t.rawData.subarray(0, rng.int(t.rawData.length + 1));
      else if (t.rawData) {
        // A copy of its own: the decoded rawData may be a view of the seed's bytes.
        const raw = new Uint8Array(t.rawData);
        const view = new DataView(raw.buffer);
        if (raw.length >= 4) view.setFloat32(4 * rng.int(raw.length >> 2), pick(rng, INTERESTING_FLOATS), true);
        t.rawData = raw;
      }
      return `tensor ${t.name}: type ${t.dataType}, location ${t.dataLocation}, ${t.rawData?.length} raw bytes`;
    },
    inputShape: () => {
      const dims = graph.input![0].type!.tensorType!.shape!.dim!;
      const i = rng.int(dims.length + 1);
      dims[i] = rng.uniform() < 0.3 ? { dimParam: "d" } : { dimValue: pick(rng, INTERESTING_INTS) };
      return `input dim ${i}: ${JSON.stringify(dims[i])}`;
    },
    opset: () => {
      m.opsetImport = [
        { domain: pick(rng, ["", "ai.onnx", "com.microsoft"]), version: pick(rng, [1, 6, 7, 11, 13, 17, 23, 24, 99]) },
      ];
      return `opset ${JSON.stringify(m.opsetImport[0])}`;
    },
    metadata: () => {
      const value = pick(rng, ['["a","b"]', "[1,2,3]", "{}", "not json", JSON.stringify(Array(10).fill("\u0007"))]);
      m.metadataProps = [
        ...(m.metadataProps ?? []),
        { key: pick(rng, ["classes", "epochs", "testAccuracy", "task"]), value },
      ];
      return `metadata ${JSON.stringify(m.metadataProps.at(-1))}`;
    },
    output: () => {
      graph.output = rng.uniform() < 0.5 ? [] : [{ name: pick(rng, names) }];
      return `outputs ${JSON.stringify(graph.output)}`;
    },
  };
  const kinds = Object.keys(edits);
  for (let n = 1 + rng.int(3); n > 0; n--) log.push(edits[pick(rng, kinds)]());
  return onnx.ModelProto.encode(m).finish();
}

/**
 * importOnnx (or deserializeModel) either refuses the bytes (BAD_FILE or BAD_SHAPE) leaving wasm
 * memory as it was, or gives a model that predicts finite probabilities; with `oracle`, ONNX
 * Runtime, when it runs the same bytes, agrees with it.
 */
async function checkOnnx(bytes: Uint8Array, viaDeserialize: boolean, oracle: boolean): Promise<Outcome> {
  const before = rt.usedBytes;
  let loaded: ReturnType<typeof importOnnx>;
  try {
    loaded = viaDeserialize ? deserializeModel(rt, bytes, "fuzz.onnx") : importOnnx(rt, bytes, "fuzz.onnx");
  } catch (e) {
    if (rt.usedBytes !== before)
      return {
        problem: `the ONNX reader leaked ${rt.usedBytes - before} bytes of wasm memory when it threw ${describeError(e)}`,
      };
    const problem = refusalProblem(e);
    return problem ? { problem: `the ONNX reader ${problem}` } : {};
  }
  const { model } = loaded;
  onnxStats.accepted++;
  let problem: string | undefined;
  try {
    validateSpec(model.spec);
    const images = seeds.images.bytes.subarray(16, 16 + 2 * 784);
    const input = model.inputSize === 784 ? images : new Uint8Array(2 * model.inputSize);
    // A classifier's probabilities, or an autoencoder's reconstruction (finite; within 0-1 after a sigmoid).
    const classifier = model.task === "classifier";
    const probs = classifier ? model.predict(input) : model.reconstruct(input);
    const width = probs.length / 2;
    for (let i = 0; i < 2 && !problem; i++) {
      const row = probs.subarray(i * width, (i + 1) * width);
      const sum = row.reduce((a, b) => a + b, 0);
      if (!row.every(Number.isFinite) || (classifier && Math.abs(sum - 1) > 1e-4))
        problem = `accepted, but predicts [${row.slice(0, 10)}…]`;
    }
    if (!problem && oracle) problem = await ortDisagreement(bytes, model, input, probs);
  } finally {
    model.dispose();
  }
  if (!problem && rt.usedBytes !== before)
    problem = `a loaded and disposed model leaked ${rt.usedBytes - before} bytes`;
  return { problem };
}

/** ONNX models accepted, and those ONNX Runtime also ran (printed with FUZZ_STATS). */
const onnxStats = { accepted: 0, comparedWithOrt: 0 };

/** Where ONNX Runtime's answer for an accepted model differs from the SDK's (undefined when it agrees or cannot run it). */
async function ortDisagreement(
  bytes: Uint8Array,
  model: Model,
  pixels: Uint8Array,
  ours: Float32Array,
): Promise<string | undefined> {
  let theirs: Float32Array;
  try {
    const session = await ort.InferenceSession.create(bytes);
    const x = Float32Array.from(pixels, (v) => v / 255);
    const out = await session.run({ [session.inputNames[0]]: new ort.Tensor("float32", x, [2, ...model.spec.input]) });
    theirs = out[session.outputNames[0]].data as Float32Array;
    await session.release();
  } catch {
    return undefined; // ONNX Runtime refuses what the SDK reads: not a wrong answer by itself
  }
  onnxStats.comparedWithOrt++;
  if (theirs.length !== ours.length) return `ONNX Runtime gives ${theirs.length} outputs, the SDK ${ours.length}`;
  const k = ours.length / 2;
  for (let i = 0; i < 2; i++) {
    let row = Array.from(theirs.subarray(i * k, (i + 1) * k));
    // A classifier's graph ending in logits: the SDK's head applies the softmax.
    const logits = Math.abs(row.reduce((a, b) => a + b, 0) - 1) > 1e-3 || row.some((v) => v < 0);
    if (model.task === "classifier" && logits) {
      const max = Math.max(...row);
      const sum = row.reduce((a, v) => a + Math.exp(v - max), 0);
      row = row.map((v) => Math.exp(v - max) / sum);
    }
    for (let c = 0; c < k; c++) {
      if (!(Math.abs(row[c] - ours[i * k + c]) <= 1e-4))
        return `accepted, but ONNX Runtime gives p[${i}][${c}] = ${row[c]}, the SDK ${ours[i * k + c]}`;
    }
  }
  return undefined;
}

let seeds: ReturnType<typeof buildDataSeeds>;
let gz: { images: Seed; labels: Seed; cifar: Seed; tar: Seed };
let models: Seed[];
let onnxSeeds: Seed[];
let tmp: string;

beforeAll(async () => {
  seeds = buildDataSeeds();
  gz = {
    images: gzipSeed(seeds.images),
    labels: gzipSeed(seeds.labels),
    cifar: gzipSeed(seeds.cifar),
    tar: gzipSeed(seeds.tar),
  };
  rt = await Runtime.create();
  // Trained a little on the 200 images, so biases, batch-norm statistics and optimizer state are not their initial values.
  const train = datasetFromIdx(seeds.images.bytes, seeds.labels.bytes);
  const mlp: ModelSpec = {
    input: [1, 28, 28],
    layers: [
      { type: "dense", units: 16 },
      { type: "batchnorm" },
      { type: "relu" },
      { type: "dropout", rate: 0.1 },
      { type: "dense", units: 10 },
    ],
  };
  const cnn: ModelSpec = {
    input: [1, 28, 28],
    layers: [
      { type: "conv2d", filters: 4, size: 3, padding: 1 },
      { type: "batchnorm" },
      { type: "relu" },
      { type: "maxpool", size: 2 },
      { type: "conv2d", filters: 4, size: 3, stride: 2 },
      { type: "avgpool", size: 2 },
      { type: "flatten" },
      { type: "dense", units: 10, init: "xavier" },
    ],
    classes: MNIST_CLASSES,
  };
  models = [];
  onnxSeeds = ["lenet-pytorch.onnx", "mlp-pytorch.onnx", "autoencoder-pytorch.onnx"].map((name) =>
    onnxSeed(name, new Uint8Array(readFileSync(fileURLToPath(new URL(`fixtures/onnx/${name}`, import.meta.url))))),
  );
  ort.env.wasm.numThreads = 1;
  for (const [name, spec, optimizerName] of [
    ["mlp", mlp, "momentum"],
    ["cnn", cnn, "adam"],
  ] as const) {
    const model = new Model(rt, spec, { seed: 1 });
    const optimizer = new Optimizer(rt, { name: optimizerName });
    await fit(model, train, { epochs: 1, batchSize: 50, optimizer, seed: 1 });
    models.push(modelSeed(`${name}.safetensors`, serializeModel(model, { dataset: "mnist", epochs: "1" })));
    onnxSeeds.push(onnxSeed(`${name}.onnx`, exportOnnx(model, { dataset: "mnist", epochs: "1" })));
    models.push(modelSeed(`${name}+${optimizerName}.safetensors`, serializeModel(model, { epochs: "1" }, optimizer)));
    // Its int8 model (the CNN's batch norm gives its next layer negative inputs: a zero point).
    const calibration = 100;
    const pixels = train.images.subarray(0, calibration * model.inputSize);
    const int8Bytes = quantizeModel(model, pixels, calibration, { facts: { dataset: "mnist" } });
    models.push(modelSeed(`${name}.int8.safetensors`, int8Bytes));
    // And its ONNX QDQ graph (sdk/onnx/qdq.ts): QuantizeLinear, DequantizeLinear, Clip.
    const int8 = deserializeModel(rt, int8Bytes).model;
    onnxSeeds.push(onnxSeed(`${name}.int8.onnx`, exportOnnx(int8, { dataset: "mnist" })));
    int8.dispose();
    optimizer.dispose();
    model.dispose();
  }
  // A convolutional VAE: its task, its split and every generative layer go through the reader too.
  const vae = new Model(
    rt,
    autoencoderSpec({
      input: [1, 28, 28],
      latent: 2,
      variational: true,
      encoder: "conv:4x4s2p1,relu",
      decoder: "dense:196,relu,reshape:4x7x7,upsample:2,convT:1x4s2p1",
      classes: MNIST_CLASSES,
    }),
    { seed: 1 },
  );
  const adam = new Optimizer(rt, { name: "adam" });
  await fit(vae, takeFirst(train, 200), { epochs: 1, batchSize: 50, optimizer: adam, seed: 1 });
  models.push(modelSeed("vae+adam.safetensors", serializeModel(vae, { dataset: "mnist", epochs: "1" }, adam)));
  adam.dispose();
  vae.dispose();
  tmp = mkdtempSync(join(tmpdir(), "mnist-wasm-fuzz-"));
}, 60_000);

afterAll(() => {
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

// ---------------------------------------------------------------------------------------------
// The fuzzers

describe("fuzz: every reader, on seeded mutations of real files", () => {
  it("the unmutated seeds read back as they were written", async () => {
    const d = datasetFromIdx(seeds.images.bytes, seeds.labels.bytes);
    expect(checkIdx(d, seeds.images.bytes, seeds.labels.bytes, MNIST_CLASSES)).toBeUndefined();
    expect(d.count).toBe(IMAGES);
    expect(
      checkCifar(datasetFromCifarBatches([{ name: "b", bytes: seeds.cifar.bytes }]), seeds.cifar.bytes),
    ).toBeUndefined();
    expect(readTar(seeds.tar.bytes, "t").map((e) => e.name)).toEqual([
      "cifar-10-batches-bin/batches.meta.txt",
      "cifar-10-batches-bin/test_batch.bin",
    ]);
    expect(await checkTar(seeds.tar.bytes)).toBeUndefined();
    for (const [key, seed] of Object.entries(gz)) {
      expect(sameBytes(await gunzipIfNeeded(seed.bytes, key), seeds[key as keyof typeof gz].bytes)).toBe(true);
    }
    for (const seed of models) expect(checkModel(seed.bytes), seed.name).toEqual({});
  });

  it("datasetFromIdx (and parseIdx)", async () => {
    const classOptions = [MNIST_CLASSES, MNIST_CLASSES, MNIST_CLASSES, ["a", "b", "c"], []];
    await runCases("idx", 500, (rng, log) => {
      let imageBytes = seeds.images.bytes;
      let labelBytes = seeds.labels.bytes;
      const which = rng.int(3);
      if (which !== 1) imageBytes = mutateBytes(seeds.images, rng, log);
      if (which !== 0) labelBytes = mutateBytes(seeds.labels, rng, log);
      const classes = pick(rng, classOptions);
      if (classes !== MNIST_CLASSES) log.push(`${classes.length} classes`);
      try {
        const d = datasetFromIdx(imageBytes, labelBytes, { classes });
        const problem = checkIdx(d, imageBytes, labelBytes, classes);
        return problem ? { problem: `accepted, but ${problem}` } : {};
      } catch (e) {
        return { problem: refusalProblem(e) };
      }
    });
  });

  it("datasetFromCifarBatches", async () => {
    await runCases("cifar", 400, (rng, log) => {
      const files = [{ name: "test_batch.bin", bytes: mutateBytes(seeds.cifar, rng, log) }];
      if (rng.uniform() < 0.2)
        files.push({ name: "data_batch_1.bin", bytes: mutateBytes(seeds.cifar, rng, log, "second batch") });
      try {
        const d = datasetFromCifarBatches(files);
        const problem = checkCifar(d, concat(...files.map((f) => f.bytes)));
        return problem ? { problem: `accepted, but ${problem}` } : {};
      } catch (e) {
        return { problem: refusalProblem(e) };
      }
    });
  });

  it("readTar, then the CIFAR-10 batch inside", async () => {
    await runCases("tar", 400, async (rng, log) => {
      return { problem: await checkTar(mutateBytes(seeds.tar, rng, log)) };
    });
  });

  it("gunzipIfNeeded (agreeing with zlib), then the reader of what it inflates", async () => {
    const kinds = ["images", "labels", "cifar", "tar"] as const;
    await runCases("gzip", 500, async (rng, log) => {
      const kind = pick(rng, kinds);
      const bytes = mutateBytes(gz[kind], rng, log);
      const r = await attempt(() => gunzipIfNeeded(bytes, "fuzz.gz"));
      if (!("value" in r)) return { problem: r.problem && `gunzipIfNeeded ${r.problem}` };
      const out = r.value;
      if (!isGzip(bytes))
        return { problem: out === bytes ? undefined : "bytes without the gzip magic were not returned as they are" };
      let reference: Uint8Array | undefined;
      try {
        reference = gunzipSync(bytes);
      } catch {
        // zlib refuses what the stream accepted: not wrong by itself (the stream is the one the browser has)
      }
      if (reference && !sameBytes(out, reference))
        return { problem: `inflated ${out.length} bytes, zlib inflates ${reference.length} different ones` };
      // Then what was inflated, through the reader of that kind of file.
      switch (kind) {
        case "images":
        case "labels": {
          const images = kind === "images" ? out : seeds.images.bytes;
          const labels = kind === "labels" ? out : seeds.labels.bytes;
          const d = await attempt(() => datasetFromIdx(images, labels));
          if (!("value" in d)) return { problem: d.problem && `datasetFromIdx ${d.problem}` };
          const problem = checkIdx(d.value, images, labels, MNIST_CLASSES);
          return { problem: problem && `datasetFromIdx accepted it, but ${problem}` };
        }
        case "cifar": {
          const d = await attempt(() => datasetFromCifarBatches([{ name: "test_batch.bin", bytes: out }]));
          if (!("value" in d)) return { problem: d.problem && `datasetFromCifarBatches ${d.problem}` };
          const problem = checkCifar(d.value, out);
          return { problem: problem && `datasetFromCifarBatches accepted it, but ${problem}` };
        }
        case "tar":
          return { problem: await checkTar(out) };
      }
    });
  });

  it("readMaybeGzip and loadCifar10 on mutated files on disk", async () => {
    const kinds = ["cifar", "tar"] as const;
    await runCases("node-files", 150, (rng, log) => {
      const kind = pick(rng, kinds);
      const seed = rng.uniform() < 0.7 ? gz[kind] : seeds[kind];
      const bytes = mutateBytes(seed, rng, log);
      const path = join(tmp, kind === "tar" ? "cifar-10-binary.tar.gz" : "test_batch.bin.gz");
      writeFileSync(path, bytes);
      let inflated: Uint8Array | undefined;
      try {
        inflated = readMaybeGzip(path);
      } catch (e) {
        const problem = refusalProblem(e);
        if (problem) return { problem: `readMaybeGzip ${problem}` };
      }
      if (inflated) {
        let reference: Uint8Array = bytes;
        if (isGzip(bytes)) {
          try {
            reference = gunzipSync(bytes);
          } catch {
            return { problem: "readMaybeGzip accepted what zlib refuses" };
          }
        }
        if (!sameBytes(inflated, reference)) return { problem: "readMaybeGzip returned other bytes than zlib" };
      }
      if (kind === "cifar") return {};
      try {
        const d = loadCifar10("test", path);
        const problem = checkDataset(d, [3, 32, 32], CIFAR10_CLASSES);
        return { problem: problem && `loadCifar10 accepted it, but ${problem}` };
      } catch (e) {
        return { problem: refusalProblem(e) && `loadCifar10 ${refusalProblem(e)}` };
      }
    });
  });

  it("decodeSafetensors and deserializeModel (then predict on a zero image)", async () => {
    await runCases("model", 600, (rng, log) => {
      const seed = pick(rng, models);
      log.push(seed.name);
      return checkModel(mutateSafetensors(seed, rng, log));
    });
  });

  it("importOnnx (and deserializeModel) on byte-level mutations", async () => {
    await runCases("onnx-bytes", 300, async (rng, log) => {
      const seed = pick(rng, onnxSeeds);
      return checkOnnx(mutateBytes(seed, rng, log), rng.uniform() < 0.5, false);
    });
  });

  it("importOnnx on protobuf-level mutations of the graph, accepted ones run by ONNX Runtime too", async () => {
    await runCases("onnx-graph", 300, async (rng, log) => {
      const seed = pick(rng, onnxSeeds);
      log.push(seed.name);
      return checkOnnx(mutateOnnx(seed.bytes, rng, log), false, true);
    });
    if (process.env.FUZZ_STATS) console.log("onnx models accepted", onnxStats);
  });
});

describe("fuzz: generated specs, planned before anything is allocated", () => {
  /** Sizes at and around every limit, and values that are not sizes at all. */
  const SIZES = [
    1,
    2,
    3,
    5,
    28,
    127,
    128,
    129,
    1000,
    4096,
    65_536,
    2 ** 24,
    2 ** 24 + 1,
    2 ** 31,
    1e308,
    0,
    -1,
    2.5,
    NaN,
  ];
  const INPUTS = [[1, 28, 28], [3, 32, 32], [784], [1, 2048, 2048], [64, 256, 256], [2048, 32, 32], [1, 1, 1]];

  function randomLayer(rng: Random): Record<string, unknown> {
    const size = (): number => (rng.uniform() < 0.6 ? 1 + rng.int(6) : pick(rng, SIZES));
    const type = pick(rng, [
      "dense",
      "conv2d",
      "conv2d",
      "maxpool",
      "avgpool",
      "relu",
      "sigmoid",
      "flatten",
      "batchnorm",
      "dropout",
      "convT",
      "upsample",
      "reshape",
      "sampling",
    ]);
    switch (type) {
      case "dense":
        return { type, units: rng.uniform() < 0.6 ? 1 + rng.int(300) : pick(rng, SIZES) };
      case "conv2d":
      case "convT":
        return {
          type,
          filters: rng.uniform() < 0.6 ? 1 + rng.int(64) : pick(rng, SIZES),
          size: size(),
          ...(rng.uniform() < 0.4 ? { stride: size() } : {}),
          ...(rng.uniform() < 0.5 ? { padding: pick(rng, [0, 1, 2, 4, 10_000, ...SIZES]) } : {}),
        };
      case "maxpool":
      case "avgpool":
        return { type, size: size(), ...(rng.uniform() < 0.3 ? { stride: size() } : {}) };
      case "dropout":
        return { type, rate: 0.5 };
      case "upsample":
        return { type, scale: rng.uniform() < 0.7 ? 1 + rng.int(4) : pick(rng, [16, 17, ...SIZES]) };
      case "reshape":
        return {
          type,
          shape: pick(rng, [
            [784],
            [1, 28, 28],
            [4, 14, 14],
            [3, 32, 32],
            [3072],
            [2, 2],
            [1, 1, 1],
            [0],
            [2 ** 24, 2 ** 24],
            [1, 1, 1, 1],
          ]),
        };
      default:
        return { type };
    }
  }

  it("each is refused within a second as BAD_ARGUMENT or BAD_SHAPE, or fits the limits and its inference batch fits the budget", async () => {
    const seen = { refused: 0, accepted: 0, built: 0, generative: 0 };
    const GENERATIVE = ["convT", "upsample", "reshape", "sampling"];
    await runCases("spec", 400, (rng, log) => {
      const count =
        rng.uniform() < 0.05 ? pick(rng, [PLAN_LIMITS.layers, PLAN_LIMITS.layers + 1, 100_000]) : 1 + rng.int(8);
      const layers = Array.from({ length: count - 1 }, () => (count > 20 ? { type: "relu" } : randomLayer(rng)));
      const candidate = { input: pick(rng, INPUTS), layers: [...layers, { type: "dense", units: 1 + rng.int(10) }] };
      log.push(JSON.stringify(candidate).slice(0, 300));
      let spec: ModelSpec;
      try {
        spec = validateSpec(candidate);
        planModel(spec);
      } catch (e) {
        if (
          e instanceof MnistWasmError &&
          (e.code === "BAD_ARGUMENT" || e.code === "BAD_SHAPE") &&
          !e.message.includes("\n")
        ) {
          seen.refused++;
          return {};
        }
        return { problem: `threw ${describeError(e)}` };
      }
      const plans = planModel(spec);
      const parameters = plans.reduce(
        (n, p) => n + p.tensors.reduce((m, t) => m + t.shape.reduce((a, b) => a * b, 1), 0),
        0,
      );
      const cost = imageCost(spec);
      if (
        spec.layers.length > PLAN_LIMITS.layers ||
        parameters > PLAN_LIMITS.parameters ||
        cost.training > PLAN_LIMITS.imageBytes + 5 * 2 ** 24
      ) {
        return {
          problem: `accepted: ${spec.layers.length} layers, ${parameters} parameters, ${cost.training} bytes per image`,
        };
      }
      seen.accepted++;
      // Build the small ones: their inference batch must take no more than the plan says.
      if (parameters > 2 ** 20) return {};
      seen.built++;
      if (spec.layers.some((l) => GENERATIVE.includes(l.type))) seen.generative++;
      const before = rt.usedBytes;
      const model = new Model(rt, spec);
      const built = rt.usedBytes;
      const batch = inferenceBatch(spec);
      try {
        model.allocate(batch, false);
        const used = rt.usedBytes - built;
        // Per batch: the plan's bytes per image; once: scratch, packed filters (a few copies of the weights) and alignment.
        const bound =
          batch * cost.inference +
          cost.scratch.inference * rt.threads +
          4 * 4 * parameters +
          64 * (spec.layers.length + 2) * 16;
        if (used > bound) return { problem: `a batch of ${batch} took ${used} bytes, the plan allows ${bound}` };
      } finally {
        model.dispose();
      }
      if (rt.usedBytes !== before) return { problem: `leaked ${rt.usedBytes - before} bytes` };
      return {};
    });
    // The generator reaches both sides of the limits.
    if (!process.env.FUZZ_CASE) {
      expect(seen.refused, JSON.stringify(seen)).toBeGreaterThan(40);
      expect(seen.built, JSON.stringify(seen)).toBeGreaterThan(40);
      // …with the layers of generative models among those built.
      expect(seen.generative, JSON.stringify(seen)).toBeGreaterThan(5);
    }
  });
});

// ---------------------------------------------------------------------------------------------
// The model-file bugs this fuzzer found, each reduced to one case: the loader now refuses them.

describe("bugs the fuzzer found, now refused", () => {
  function editModel(seed: Seed, edit: (header: Record<string, Json>, data: Uint8Array) => void): Uint8Array {
    const { header, data } = readHeader(seed.bytes);
    const copy = data.slice();
    edit(header, copy);
    const json = new TextEncoder().encode(JSON.stringify(header));
    const out = new Uint8Array(8 + json.length + copy.length);
    new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
    out.set(json, 8);
    out.set(copy, 8 + json.length);
    return out;
  }

  function expectBadFile(fn: () => unknown): void {
    let caught: unknown;
    try {
      const r = fn() as { model?: Model } | undefined;
      r?.model?.dispose();
    } catch (e) {
      caught = e;
    }
    expect(caught, "an error").toBeInstanceOf(MnistWasmError);
    expect((caught as MnistWasmError).code, (caught as Error).message).toBe("BAD_FILE");
  }

  function editSpec(seed: Seed, edit: (spec: ModelSpec) => void): Uint8Array {
    return editModel(seed, (header) => {
      const metadata = header.__metadata__ as Record<string, string>;
      const spec = JSON.parse(metadata.spec);
      edit(spec);
      metadata.spec = JSON.stringify(spec);
    });
  }

  it("a spec asking for a huge model is refused as BAD_FILE, without growing wasm memory", () => {
    const pages = rt.memory.buffer.byteLength;
    // 784 x 2^31 weights: OUT_OF_MEMORY today; 1e308: BAD_ARGUMENT "cannot allocate Infinity bytes".
    expectBadFile(() =>
      deserializeModel(
        rt,
        editSpec(models[0], (spec) => ((spec.layers[0] as { units: number }).units = 2 ** 31)),
      ),
    );
    expectBadFile(() =>
      deserializeModel(
        rt,
        editSpec(models[0], (spec) => (spec.input[0] = 1e308)),
      ),
    );
    expect(rt.memory.buffer.byteLength).toBe(pages);
  });

  /** The file is refused, or the model read from it predicts finite probabilities for a zero image. */
  function expectRefusedOrFinite(bytes: Uint8Array): void {
    let loaded: ReturnType<typeof deserializeModel>;
    try {
      loaded = deserializeModel(rt, bytes);
    } catch (e) {
      expect(e).toBeInstanceOf(MnistWasmError);
      return;
    }
    const probs = loaded.model.predict(new Uint8Array(loaded.model.inputSize));
    loaded.model.dispose();
    expect([...probs].every(Number.isFinite), `probabilities [${probs}]`).toBe(true);
  }

  it("a negative batch-norm running variance is refused (it makes every prediction NaN)", () => {
    expectRefusedOrFinite(
      editModel(models[0], (header, data) => {
        const [begin] = (header["1.running_var"] as { data_offsets: number[] }).data_offsets;
        data[begin + 3] ^= 0x80; // the sign bit of running_var[0]
      }),
    );
  });

  it("finite weights of absurd size are refused (they make every prediction NaN)", () => {
    expectRefusedOrFinite(
      editModel(models[0], (header, data) => {
        const set = (name: string, value: number): void => {
          const [begin, end] = (header[name] as { data_offsets: number[] }).data_offsets;
          new DataView(data.buffer, data.byteOffset).setFloat32(begin, value, true);
          for (let at = begin; at < end; at += 4)
            new DataView(data.buffer, data.byteOffset).setFloat32(at, value, true);
        };
        set("1.gamma", 0); // every hidden unit is then exactly beta
        set("1.beta", 3e38);
        set("4.weight", 1); // every logit is 16 x 3e38 = Infinity
      }),
    );
  });

  it("optimizer state tensors holding NaN are refused (or dropped), as the model's own are", () => {
    const bytes = editModel(models[1], (header, data) => {
      const [begin] = (header["optim.0.weight.0"] as { data_offsets: number[] }).data_offsets;
      data.set([0x00, 0x00, 0xc0, 0x7f], begin); // NaN
    });
    let loaded: ReturnType<typeof deserializeModel>;
    try {
      loaded = deserializeModel(rt, bytes);
    } catch (e) {
      expect(e).toBeInstanceOf(MnistWasmError); // refusing the file is a fix too
      return;
    }
    loaded.model.dispose();
    for (const t of loaded.optimizerState?.tensors.values() ?? []) expect(t.data.every(Number.isFinite)).toBe(true);
  });

  it("optimizer settings that are not an optimizer's are refused (or dropped)", () => {
    for (const optimizer of ["null", "3", '{"name":"adam","steps":"many"}', '{"name":"nope","steps":1}']) {
      const bytes = editModel(models[3], (header) => {
        (header.__metadata__ as Record<string, string>).optimizer = optimizer;
      });
      let settings: unknown;
      try {
        const loaded = deserializeModel(rt, bytes);
        settings = loaded.optimizerState?.settings;
        loaded.model.dispose();
      } catch (e) {
        expect(e, optimizer).toBeInstanceOf(MnistWasmError);
        continue;
      }
      if (settings === undefined) continue;
      const s = settings as Record<string, unknown> | null;
      expect(
        s !== null && typeof s === "object" && OPTIMIZERS.includes(s.name as never) && Number.isInteger(s.steps),
        optimizer,
      ).toBe(true);
    }
  });
});
