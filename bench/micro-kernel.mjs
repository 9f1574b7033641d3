// The GEMM's ceiling on this machine: its 5x8 micro-kernel alone on panels in L1
// (bench/assembly/micro-kernel.ts), compiled here with the plain and the relaxed SIMD build and
// timed like a GEMM row, in GFLOP/s. bench/gemm.mjs prints it beside the GEMM so that each run
// shows how much of the kernel's own speed the whole product keeps.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import os from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
const KC = 256; // the GEMM's depth block: panels of 20 KB (A, broadcast) and 8 KB (B) fit L1
const PAIRS = 1000; // pairs of calls per timed sample (about a millisecond)

/** micro5x8's text in a .wat file, with the module path taken out of the names. */
function microKernelText(wat) {
  const start = wat.search(/\n \(func \$[^ ]*assembly\/gemm\/micro5x8 /);
  if (start < 0) return undefined;
  const end = wat.indexOf("\n )", start);
  return wat.slice(start, end).replace(/\$[^ ()]*assembly\/gemm\//g, "$");
}

/**
 * Compiles the module with or without relaxed SIMD; returns its exports on a fresh memory and
 * whether its micro-kernel is instruction for instruction the one in the library's build.
 */
async function instantiate(relaxed) {
  const dir = mkdtempSync(join(os.tmpdir(), "mnist-wasm-micro-"));
  try {
    const out = join(dir, "micro-kernel.wasm");
    const text = join(dir, "micro-kernel.wat");
    const features = relaxed ? ["--enable", "simd", "--enable", "relaxed-simd"] : ["--enable", "simd"];
    execFileSync(
      process.execPath,
      [
        join(ROOT, "node_modules", "assemblyscript", "bin", "asc.js"),
        join(ROOT, "bench", "assembly", "micro-kernel.ts"),
        "--config",
        "none",
        "--runtime",
        "stub",
        "--importMemory",
        "--noAssert",
        "--optimizeLevel",
        "3",
        "--shrinkLevel",
        "0",
        ...features,
        "-o",
        out,
        "-t",
        text,
      ],
      { cwd: dir, stdio: ["ignore", "ignore", "inherit"] },
    );
    const libraryWat = join(ROOT, "build", relaxed ? "kernels-relaxed.wat" : "kernels.wat");
    const kernel = microKernelText(readFileSync(text, "utf8"));
    const same = kernel !== undefined && kernel === microKernelText(readFileSync(libraryWat, "utf8"));
    const memory = new WebAssembly.Memory({ initial: 16 });
    const { instance } = await WebAssembly.instantiate(readFileSync(out), {
      env: {
        memory,
        abort() {
          throw new Error("abort");
        },
      },
    });
    return { exports: instance.exports, memory, same };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * Mean GFLOP/s (and the best sample) of the micro-kernel over `seconds` of samples after a
 * warm-up, for the plain (relaxed = false) or relaxed build. `sameAsLibrary` is false if the
 * compiled kernel differs from build/kernels*.wat (then it is not the GEMM's kernel);
 * `correct` says whether the timed calls left C = panel Aᵀ · panel B.
 */
export async function microKernelGflops(relaxed, seconds = 1) {
  const { exports, memory, same } = await instantiate(relaxed);
  const base = 1 << 16;
  // Small, varied values (no subnormals or overflow to slow the multiplies down); panel A's
  // come broadcast, each value four times, the way the GEMM packs it.
  const floats = new Float32Array(memory.buffer, base, Number(exports.microKernelBytes(KC)) / 4);
  const panelAFloats = 5 * 4 * KC;
  floats.forEach((_, i) => {
    floats[i] = (((i < panelAFloats ? i >> 2 : i) % 13) - 6) / 64;
  });
  const flopsPerSample = 2 * (2 * 5 * 8 * KC) * PAIRS;
  const run = () => exports.microKernelLoop(base, KC, PAIRS, 8, 0, 5, 8);
  for (const end = performance.now() + 200; performance.now() < end; ) run();
  const rates = [];
  for (const end = performance.now() + seconds * 1000; performance.now() < end; ) {
    const start = performance.now();
    run();
    rates.push(flopsPerSample / (performance.now() - start) / 1e6);
  }
  return {
    value: rates.reduce((sum, r) => sum + r, 0) / rates.length,
    best: Math.max(...rates),
    unit: "GFLOP/s",
    sameAsLibrary: same,
    correct: productIsRight(floats),
  };
}

/** Panel A (broadcast, [KC][5] f32x4), panel B ([KC][8]) and C ([5][8]) in `floats`. */
function productIsRight(floats) {
  const b = 5 * 4 * KC;
  const c = b + 8 * KC;
  for (let i = 0; i < 5; i++) {
    for (let j = 0; j < 8; j++) {
      let sum = 0;
      for (let p = 0; p < KC; p++) sum += floats[(p * 5 + i) * 4] * floats[b + p * 8 + j];
      if (Math.abs(floats[c + i * 8 + j] - sum) > 1e-4 * Math.max(1, Math.abs(sum))) return false;
    }
  }
  return true;
}
