// Checks of what callers hand the SDK's public functions: each refusal is one MnistWasmError
// line naming the call and the argument, instead of a TypeError from deep inside.
import { fail } from "./errors";

/**
 * A short description of a value for an error message: numbers, booleans and (quoted, cut at 40
 * characters) strings as they are, other values by their kind.
 */
export function describeValue(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return `an array of ${value.length}`;
  if (ArrayBuffer.isView(value))
    return `a ${value.constructor.name} of ${(value as { length?: number }).length ?? value.byteLength}`;
  if (value instanceof ArrayBuffer) return `an ArrayBuffer of ${value.byteLength} bytes`;
  switch (typeof value) {
    case "undefined":
      return "undefined";
    case "string":
      return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value);
    case "number":
    case "boolean":
      return String(value);
    case "bigint":
      return `${value}n`;
    case "symbol":
      return "a symbol";
    case "function":
      return "a function";
    default:
      return `an object (${Object.prototype.toString.call(value).slice(8, -1)})`;
  }
}

/** Refuses anything but an integer in [min, max]. */
export function checkInteger(value: unknown, name: string, min: number, max = Number.MAX_SAFE_INTEGER): number {
  if (typeof value !== "number" || !Number.isInteger(value) || value < min || value > max) {
    const range = max === Number.MAX_SAFE_INTEGER ? `${min} or more` : `from ${min} to ${max}`;
    fail("BAD_ARGUMENT", `${name} must be an integer ${range}, got ${describeValue(value)}`);
  }
  return value;
}

/** Refuses anything but a plain object (or undefined, read as {}); names unknown keys when `known` is given. */
export function checkOptions<T extends object>(value: unknown, name: string, known?: readonly string[]): Partial<T> {
  if (value === undefined) return {};
  if (typeof value !== "object" || value === null || Array.isArray(value) || ArrayBuffer.isView(value)) {
    fail("BAD_ARGUMENT", `${name} must be an object, got ${describeValue(value)}`);
  }
  if (known) {
    const unknown = Object.keys(value).find((key) => !known.includes(key));
    if (unknown !== undefined)
      fail("BAD_ARGUMENT", `${name}: unknown option ${JSON.stringify(unknown)} (known: ${known.join(", ")})`);
  }
  return value as Partial<T>;
}

/** Bytes given as a Uint8Array, or an ArrayBuffer read as bytes. */
export function byteArray(value: unknown, name: string): Uint8Array {
  if (value instanceof Uint8Array) return value;
  if (value instanceof ArrayBuffer) return bytesOfBuffer(value, name);
  return fail("BAD_ARGUMENT", `${name} must be a Uint8Array or an ArrayBuffer of bytes, got ${describeValue(value)}`);
}

/**
 * Pixels as a model takes them: bytes 0-255 (a Uint8Array, a Uint8ClampedArray such as a canvas's
 * ImageData.data, or an ArrayBuffer read as bytes), or floats already scaled to [0, 1] (a
 * Float32Array, a Float64Array, or a plain array of numbers). Floats must be finite: one NaN or
 * Infinity would make every probability NaN; `checkFinite: false` leaves that check to the caller
 * (predict() does it in wasm, see Model.checkFinite). Anything else is refused, naming `name`.
 */
export function pixelArray(value: unknown, name: string, checkFinite = true): Uint8Array | Float32Array {
  if (value instanceof Uint8Array) return value;
  if (value instanceof ArrayBuffer) return bytesOfBuffer(value, name);
  if (value instanceof Uint8ClampedArray) return new Uint8Array(value.buffer, value.byteOffset, value.length);
  let floats: Float32Array;
  if (value instanceof Float32Array) floats = value;
  else if (value instanceof Float64Array) floats = new Float32Array(value);
  else if (Array.isArray(value)) {
    const bad = value.findIndex((v) => typeof v !== "number");
    if (bad >= 0) fail("BAD_ARGUMENT", `${name}[${bad}] is ${describeValue(value[bad])}, not a number`);
    floats = Float32Array.from(value as number[]);
  } else {
    return fail(
      "BAD_ARGUMENT",
      `${name} must be bytes 0-255 (a Uint8Array, Uint8ClampedArray or ArrayBuffer) or floats in [0, 1] (a Float32Array, Float64Array or number[]), got ${describeValue(value)}`,
    );
  }
  if (checkFinite) refuseNonFinite(floats, name);
  return floats;
}

/** Refuses (BAD_ARGUMENT) floats holding NaN or ±Infinity, naming the first (offset added to its index). */
export function refuseNonFinite(values: Float32Array, name: string, offset = 0): void {
  const bad = firstNonFinite(values);
  if (bad >= 0) fail("BAD_ARGUMENT", `${name}[${bad + offset}] is ${values[bad]}: pixel values must be finite`);
}

/**
 * Index of the first NaN or ±Infinity in `values`, or -1 (x - x is 0 for every finite x, NaN
 * otherwise). About 1.5 ns a value: as much as a small MLP's whole forward pass over 1000 images,
 * so predict() checks its batches in wasm instead and comes here only to name a culprit.
 */
export function firstNonFinite(values: Float32Array): number {
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (v - v !== 0) return i;
  }
  return -1;
}

/** A seed: any safe integer (generators use its low 32 bits). */
export function checkSeed(value: unknown, name: string): number {
  // Seeds are 32-bit (sdk/random.ts): a negative or larger one would alias another seed.
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < 0 || value > 0xffff_ffff) {
    fail("BAD_ARGUMENT", `${name} must be an integer from 0 to 4294967295, got ${describeValue(value)}`);
  }
  return value;
}

/** The bytes of an ArrayBuffer; one transferred away (detached) has none to read: BAD_ARGUMENT. */
function bytesOfBuffer(buffer: ArrayBuffer, name: string): Uint8Array {
  try {
    return new Uint8Array(buffer);
  } catch {
    return fail("BAD_ARGUMENT", `${name} is an ArrayBuffer that was transferred away (detached): it holds no bytes`);
  }
}
