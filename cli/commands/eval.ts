import { DEFAULT_MODEL_PATH, evaluate, loadModelFile, Runtime } from "../../sdk/node";
import { testDataFor } from "../dataset";
import { confusionTable, percent, terminalText } from "../render";

export interface EvalOptions {
  /** Threads running the kernels. */
  threads?: number;
  model?: string;
  data?: string;
}

export async function evalCommand(options: EvalOptions): Promise<void> {
  const rt = await Runtime.create({ threads: options.threads });
  const path = options.model ?? DEFAULT_MODEL_PATH;
  const { model, metadata } = await loadModelFile(rt, path);
  const test = testDataFor(model, metadata, options.data);
  const result = evaluate(model, test);
  const correct = Math.round(result.accuracy * test.count);
  process.stdout.write(
    [
      `model:    ${path}`,
      `data:     ${terminalText(test.name)} test set, ${test.count} images`,
      `accuracy: ${percent(result.accuracy)} (${correct}/${test.count})`,
      `loss:     ${result.loss.toFixed(4)} (mean cross-entropy)`,
      "",
      "confusion matrix (rows: true label, columns: prediction)",
      confusionTable(result.confusion, test.classes),
    ].join("\n") + "\n",
  );
}
