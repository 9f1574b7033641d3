// A pointer V8 can see is already zero-extended, to keep a hot loop free of `movl`s.
//
// V8 (Node 20) addresses wasm memory with 64-bit registers, so before an i32 pointer is used in
// an address it is zero-extended: one `movl` per pointer per iteration of a loop, unless every
// path into the loop's pointer comes from 32-bit arithmetic, which leaves the upper half zero
// already. A function's parameter does not count as such; the parameter plus a zero that
// Binaryen cannot fold away does. The GEMM's micro-kernel uses it on both panel pointers
// (docs/DESIGN.md, "The GEMM", has the instruction counts).

/**
 * `pointer`, as the result of an add V8 knows zero-extends. `nonNegative` must be >= 0 (a count
 * or a size of the loop): its top bit is the zero added.
 */
// @ts-ignore: decorator
@inline
export function zeroExtended(pointer: usize, nonNegative: i32): usize {
  return pointer + <usize>(<u32>nonNegative >>> 31);
}
