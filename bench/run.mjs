// npm run bench: every suite in turn.
await import("./mlp.mjs");
await import("./cnn.mjs");
