// A benchmark-only module, not part of the library: the GEMM's 5x8 micro-kernel alone, called
// over and over on the same panels, so it runs with everything in L1 and nothing else to do.
// Its GFLOP/s is the ceiling the whole GEMM (packing, cache blocking, edges) is measured
// against. bench/gemm.mjs compiles it with the plain and the relaxed SIMD build.
//
// Memory from `base`: panel A [kc, 5] broadcast (kc·80 bytes), panel B [kc, 8] (kc·32 bytes),
// C [5, 8] and a scratch tile; the caller fills the panels.
import { micro5x8 } from "../../assembly/gemm";

/** Bytes of memory from `base` that microKernelLoop() uses for a depth of kc. */
export function microKernelBytes(kc: i32): usize {
  return <usize>kc * 112 + 320;
}

/**
 * Runs the micro-kernel 2 · pairs times on the panels at `base` (2 · 5 · 8 · kc flops each),
 * on C of row length ldc (8) with the caller's beta, mr (5) and nr (8).
 */
export function microKernelLoop(base: usize, kc: i32, pairs: i32, ldc: i32, beta: f32, mr: i32, nr: i32): void {
  const panelA = base;
  const panelB = panelA + <usize>kc * 80;
  const c = panelB + <usize>kc * 32;
  const tile = c + 160;
  // The arguments come from the caller and there are two call sites, so Binaryen neither
  // inlines the kernel nor specialises it for constant arguments: either changes how V8
  // allocates its registers (inlined or specialised, it spilled two accumulators and ran at
  // about half speed), and then it would not be the GEMM's kernel.
  for (let i = 0; i < pairs; i++) {
    micro5x8(panelA, panelB, kc, c, ldc, beta, mr, nr, tile);
    micro5x8(panelA, panelB, kc, c, ldc, beta, mr, nr, tile);
  }
}
