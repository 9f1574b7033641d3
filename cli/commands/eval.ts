import {
  DEFAULT_MODEL_PATH,
  evaluate,
  evaluateReconstruction,
  loadModelFile,
  type Model,
  Runtime,
  selectClasses,
} from "../../sdk/node";
import { recordedSelection, testDataFor } from "../dataset";
import { UsageError } from "../errors";
import { confusionTable, percent, terminalText } from "../render";

export interface EvalOptions {
  /** Threads running the kernels. */
  threads?: number;
  model?: string;
  data?: string;
  /** --tta: test-time flips (evaluate's flip). */
  tta?: boolean;
  /** --winograd: Winograd convolutions where they pay. */
  winograd?: boolean;
}

export async function evalCommand(options: EvalOptions): Promise<void> {
  const rt = await Runtime.create({ threads: options.threads });
  const path = options.model ?? DEFAULT_MODEL_PATH;
  const { model, metadata } = await loadModelFile(rt, path, { winograd: options.winograd === true });
  const all = testDataFor(model, metadata, options.data);
  if (options.tta && model.task !== "classifier")
    throw new UsageError("--tta: test-time flips measure a classifier; this model is an autoencoder");
  if (model.task !== "classifier") {
    // A model trained on some classes only is measured on them.
    const selected = recordedSelection(metadata.selectedClasses, all.classes.length);
    const test = selected ? selectClasses(all, selected) : all;
    const result = evaluateReconstruction(model, test);
    const unit = model.loss.kind === "bce" ? "nats an image (binary cross-entropy)" : "an image (½ squared error)";
    process.stdout.write(
      [
        `model:          ${path} (${model.task === "vae" ? "a VAE" : "an autoencoder"}, ${model.latentSize}-D code)`,
        `data:           ${terminalText(test.name)} test set${selected ? ` (classes ${selected.join(", ")})` : ""}, ${test.count} images`,
        `reconstruction: ${result.reconstruction.toFixed(2)} ${unit}`,
        ...(model.task === "vae"
          ? [
              `KL divergence:  ${result.kl.toFixed(2)} nats an image`,
              ...(result.elbo !== undefined
                ? [`ELBO:           ${result.elbo.toFixed(2)} nats an image (one draw of the code an image)`]
                : []),
            ]
          : []),
      ].join("\n") + "\n",
    );
    return;
  }
  const test = all;
  const result = evaluate(model, test, { flip: options.tta === true });
  const correct = Math.round(result.accuracy * test.count);
  process.stdout.write(
    [
      `model:    ${path}`,
      `data:     ${terminalText(test.name)} test set, ${test.count} images${options.tta ? ", each also mirrored (--tta)" : ""}`,
      ...(options.winograd ? [`winograd: ${winogradNote(model)}`] : []),
      `accuracy: ${percent(result.accuracy)} (${correct}/${test.count})`,
      `loss:     ${result.loss.toFixed(4)} (mean cross-entropy)`,
      "",
      "confusion matrix (rows: true label, columns: prediction)",
      confusionTable(result.confusion, test.classes),
    ].join("\n") + "\n",
  );
}

/** eval --winograd's line: how many of the model's convolutions run Winograd. */
function winogradNote(model: Model): string {
  const convs = model.spec.layers.filter((l) => l.type === "conv2d").length;
  return `${model.winogradLayers} of ${convs} convolutions by Winograd F(2x2,3x3) or F(4x4,3x3) (3x3 stride 1, where it pays)`;
}
