// "Your own model": load a model file (the safetensors `mnist-wasm train` writes, or an ONNX
// model: one `mnist-wasm export` writes, or one PyTorch exports) from a file picker or by dropping
// it anywhere on the page. The bytes go through the SDK's deserializeModel, the same call that
// loads the shipped model by URL; importing the ONNX entry lets it read ONNX. A digit model (input
// [1, 28, 28]) takes over the drawing, browsing, inspecting and evaluation panels; a CIFAR-10
// model (input [3, 32, 32]) the CIFAR-10 samples; an autoencoder or VAE of digits with a 2-D code
// the latent space. Anything else, or a damaged file, is a message in the page.
import { deserializeModel, formatArch, MnistWasmError, type Model } from "../sdk/index";
import "../sdk/onnx/index";
import type { CifarPanel } from "./cifar-panel";
import type { LatentPanel } from "./latent-panel";
import type { PageHooks } from "./page-hooks";

/** Larger files are refused before they are read: the largest model this page could run is far smaller. */
const MAX_BYTES = 256 * 2 ** 20;

/** A one-line description of a model: its name, size and the test accuracy its file records (the layers are in `title`). */
export function describeModel(
  name: string,
  model: Model,
  metadata: Record<string, string>,
  dataset: string,
): { text: string; title: string } {
  const acc = Number(metadata.testAccuracy);
  return {
    text: `${name} · ${model.paramCount.toLocaleString("en")} parameters${Number.isFinite(acc) ? ` · ${(acc * 100).toFixed(2)}% on ${dataset}'s test set` : ""}`,
    title: formatArch(model.spec.layers),
  };
}

const sameShape = (a: readonly number[], b: readonly number[]): boolean =>
  a.length === b.length && a.every((v, i) => v === b[i]);

export function mountModelFile(hooks: PageHooks, cifar: CifarPanel, latent: LatentPanel): void {
  const input = document.getElementById("model-input") as HTMLInputElement;
  const reset = document.getElementById("model-reset") as HTMLButtonElement;
  const message = document.getElementById("model-message")!;
  const overlay = document.createElement("div");
  overlay.className = "drop-overlay";
  overlay.hidden = true;
  overlay.innerHTML = `<div><strong>Drop the model file</strong><span>a .safetensors file from <code>mnist-wasm train</code>, or an .onnx model</span></div>`;
  document.body.append(overlay);

  // The digit model this panel made, disposed when a later file or the reset replaces it (the
  // CIFAR-10 panel disposes the models it is given itself).
  let digitModel: Model | null = null;
  let cifarLoaded = false;
  // The autoencoder or VAE this panel gave the latent-space panel, disposed once that shows another.
  let latentModel: Model | null = null;
  latent.onChange(() => {
    if (latentModel && !latent.shows(latentModel)) {
      latentModel.dispose();
      latentModel = null;
    }
  });

  const say = (text: string, kind: "ok" | "error" | "busy"): void => {
    message.textContent = text;
    message.dataset.kind = kind;
  };

  async function load(file: File): Promise<void> {
    if (file.size > MAX_BYTES) {
      say(
        `${file.name} is ${(file.size / 2 ** 20).toFixed(0)} MB: not a model this page can run (at most ${MAX_BYTES / 2 ** 20} MB)`,
        "error",
      );
      return;
    }
    say(`Reading ${file.name}…`, "busy");
    let model: Model;
    let metadata: Record<string, string>;
    try {
      const bytes = new Uint8Array(await file.arrayBuffer());
      ({ model, metadata } = deserializeModel(hooks.model().rt, bytes, file.name));
    } catch (e) {
      // The SDK's errors already name the file and what is wrong with it; anything else is unexpected.
      say(
        e instanceof MnistWasmError
          ? e.message
          : `${file.name}: could not be read (${e instanceof Error ? e.message : String(e)})`,
        "error",
      );
      return;
    }
    const { input: shape } = model.spec;
    const digits = sameShape(shape, [1, 28, 28]);
    if (digits && model.task !== "classifier" && model.latentSize === 2) {
      const previous = latentModel;
      latentModel = model;
      latent.useModel(model, describeModel(file.name, model, metadata, "MNIST"));
      previous?.dispose();
      say(
        `Loaded ${file.name} (${model.paramCount.toLocaleString("en")} parameters): the latent space shows its codes and decodes yours.`,
        "ok",
      );
    } else if (model.task !== "classifier") {
      model.dispose();
      say(
        `${file.name} is ${model.task === "vae" ? "a VAE" : "an autoencoder"} of input [${shape}] with ${model.latentSize}-D codes; the latent space shows those of MNIST digits (input [1,28,28]) with 2-D codes.`,
        "error",
      );
      return;
    } else if (digits && model.classCount === 10) {
      const previous = digitModel;
      digitModel = model;
      hooks.useModel(model, describeModel(file.name, model, metadata, "MNIST").text);
      previous?.dispose();
      say(
        `Loaded ${file.name} (${model.paramCount.toLocaleString("en")} parameters): it now reads your drawings, the test set and the layers above.`,
        "ok",
      );
    } else if (sameShape(shape, [3, 32, 32]) && model.classCount === 10) {
      cifarLoaded = true;
      cifar.useModel(model, describeModel(file.name, model, metadata, "CIFAR-10"));
      say(
        `Loaded ${file.name} (${model.paramCount.toLocaleString("en")} parameters): it now classifies the CIFAR-10 samples.`,
        "ok",
      );
    } else {
      model.dispose();
      say(
        `${file.name} takes input [${shape}] with ${model.classCount} classes; this page runs digit models (input [1,28,28], 10 classes), CIFAR-10 models (input [3,32,32], 10 classes) and autoencoders or VAEs of digits with 2-D codes.`,
        "error",
      );
      return;
    }
    reset.hidden = false;
  }

  input.addEventListener("change", () => {
    const file = input.files?.[0];
    input.value = ""; // choosing the same file again loads it again
    if (file) void load(file);
  });

  reset.addEventListener("click", () => {
    if (digitModel) {
      hooks.useModel(null);
      digitModel.dispose();
      digitModel = null;
    }
    if (cifarLoaded) {
      cifar.useModel(null);
      cifarLoaded = false;
    }
    if (latentModel) latent.useModel(null); // its change listener disposes the model
    reset.hidden = true;
    say("Back to the shipped models.", "ok");
  });

  // Drag and drop anywhere on the page. Only drags that carry files show the overlay.
  const carriesFiles = (e: DragEvent): boolean => Array.from(e.dataTransfer?.types ?? []).includes("Files");
  let depth = 0; // dragenter/dragleave fire for every element crossed
  window.addEventListener("dragenter", (e) => {
    if (!carriesFiles(e)) return;
    e.preventDefault();
    depth++;
    overlay.hidden = false;
  });
  window.addEventListener("dragover", (e) => {
    if (!carriesFiles(e)) return;
    e.preventDefault();
    e.dataTransfer!.dropEffect = "copy";
  });
  window.addEventListener("dragleave", (e) => {
    if (!carriesFiles(e)) return;
    depth = Math.max(0, depth - 1);
    if (depth === 0) overlay.hidden = true;
  });
  window.addEventListener("drop", (e) => {
    if (!carriesFiles(e)) return;
    e.preventDefault(); // the browser would otherwise open the file
    depth = 0;
    overlay.hidden = true;
    const file = e.dataTransfer?.files[0];
    if (file) void load(file);
  });
}
