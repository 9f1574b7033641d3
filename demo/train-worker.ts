// The demo's model worker: the SDK's worker side, bundled by scripts/build-demo.mjs into
// demo/dist/train-worker.js. demo/train.ts talks to it through ModelWorker.
import { startModelWorker } from "../sdk/index";

startModelWorker();
