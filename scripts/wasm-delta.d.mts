/** The delta that turns `base` into `target` (the format: scripts/wasm-delta.mjs). */
export function encodeDelta(base: Uint8Array, target: Uint8Array): Uint8Array;
