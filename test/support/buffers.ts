// Shared by the kernel and gradient tests (not a test file itself: vitest runs test/**/*.test.ts):
//
// - the wasm runtime of a test file (`rt`, created by useRuntime());
// - buffers in its memory between sentinel guards (f32Buf, i32Buf, u8Buf), which
//   checkGuardsAfterEach() checks and frees after every test, so a kernel writing out of bounds
//   fails the test;
// - seeded random data and small array helpers.
//
// Each test file gets its own copy of this module (vitest isolates test files), so `rt` and the
// list of live buffers belong to the file that imports them.
import { afterEach, beforeAll, expect } from "vitest";
import { type Random, Runtime } from "../../sdk/index";

// ---------------------------------------------------------------------------------------------
// The runtime

/** The test file's runtime; set before its first test by the beforeAll hook of useRuntime(). */
export let rt: Runtime;

/** Creates a fresh runtime (`rt`) before the tests of the calling file. Call once, at top level. */
export function useRuntime(): void {
  beforeAll(async () => {
    rt = await Runtime.create();
  });
}

// ---------------------------------------------------------------------------------------------
// Buffers with guards

/** Bytes of guard on each side of a buffer (64, so the data keeps the 64-byte alignment). */
const GUARD_BYTES = 64;
/** Guard elements of a float32 / int32 buffer on each side. */
export const GUARD = GUARD_BYTES / 4;
const SENTINEL_F32 = -12345.5;
const SENTINEL_U8 = 0xa5;

type Kind = "f32" | "i32" | "u8";
const ELEMENT_BYTES: Record<Kind, number> = { f32: 4, i32: 4, u8: 1 };
const view = (kind: Kind, ptr: number, n: number): Float32Array | Int32Array | Uint8Array =>
  kind === "f32" ? rt.f32(ptr, n) : kind === "i32" ? rt.i32(ptr, n) : rt.u8(ptr, n);

const buffers: { base: number; bytes: number; kind: Kind; sentinel: number; what: string }[] = [];

/**
 * Allocates `values` between two guards. Every buffer's guards hold their own sentinel: a kernel
 * that reads one element past its input and writes it one past its output would otherwise copy
 * a sentinel onto an identical sentinel and go unnoticed.
 */
function guarded(kind: Kind, values: ArrayLike<number>, what: string): number {
  const n = values.length;
  const k = buffers.length;
  // float32 and int32 sentinels count down from -12345.5 / -12345; bytes from 0xa5 (never 0).
  const sentinel =
    kind === "f32" ? SENTINEL_F32 - k : kind === "i32" ? (SENTINEL_F32 | 0) - k : SENTINEL_U8 - (k % 128);
  const guard = GUARD_BYTES / ELEMENT_BYTES[kind];
  const base = rt.alloc(n * ELEMENT_BYTES[kind] + 2 * GUARD_BYTES);
  const all = view(kind, base, n + 2 * guard);
  all.fill(sentinel);
  all.set(values, guard);
  buffers.push({ base, bytes: n * ELEMENT_BYTES[kind], kind, sentinel, what });
  return base + GUARD_BYTES;
}

/** Allocates `values` in wasm memory (float32) between two sentinel guards; returns its address. */
export const f32Buf = (values: ArrayLike<number>, what = "f32 buffer"): number => guarded("f32", values, what);
/** Allocates `values` (int32) between two sentinel guards; returns its address. */
export const i32Buf = (values: ArrayLike<number>, what = "i32 buffer"): number => guarded("i32", values, what);
/** Allocates `values` (bytes) between two sentinel guards; returns its address. */
export const u8Buf = (values: ArrayLike<number>, what = "u8 buffer"): number => guarded("u8", values, what);

/** After each test of the calling file: every guard still holds its sentinel; then the buffers are freed. */
export function checkGuardsAfterEach(): void {
  afterEach(() => {
    const damaged: string[] = [];
    for (const b of buffers.splice(0)) {
      const guard = GUARD_BYTES / ELEMENT_BYTES[b.kind];
      const before = view(b.kind, b.base, guard);
      const after = view(b.kind, b.base + GUARD_BYTES + b.bytes, guard);
      if (!before.every((v) => v === b.sentinel) || !after.every((v) => v === b.sentinel)) damaged.push(b.what);
      rt.free(b.base);
    }
    expect(damaged, "kernel wrote outside these buffers").toEqual([]);
  });
}

/** A copy of n float32 values at `ptr`. */
export const readF32 = (ptr: number, n: number): Float32Array => rt.f32(ptr, n).slice();
/** A copy of n int32 values at `ptr`. */
export const readI32 = (ptr: number, n: number): Int32Array => rt.i32(ptr, n).slice();

// ---------------------------------------------------------------------------------------------
// Seeded random data

/** n normal values times `scale`, each rounded to float32 (so a float32 buffer holds them exactly). */
export const normals = (rng: Random, n: number, scale = 1): Float64Array => {
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) out[i] = Math.fround(rng.normal() * scale);
  return out;
};

/** n integers in [0, limit). */
export const bytes = (rng: Random, n: number, limit = 256): Uint8Array => {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = rng.int(limit);
  return out;
};

/** Fills `out` with shift + scale·N(0, 1). */
export function fillNormal(out: Float32Array, rng: Random, scale: number, shift = 0): void {
  for (let i = 0; i < out.length; i++) out[i] = shift + rng.normal() * scale;
}

/** n NaNs: the starting contents of an output that must be overwritten everywhere. */
export const nans = (n: number): Float64Array => new Float64Array(n).fill(NaN);
