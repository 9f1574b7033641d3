// npm run bench: every suite in turn. The peer comparison needs TensorFlow.js, a
// devDependency of bench/ only (cd bench && npm ci); without it, it says so and is skipped.
await import("./mlp.mjs");
await import("./cnn.mjs");
await import("./peers.mjs");
