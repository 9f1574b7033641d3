// The panels that look into and around the digit model (demo/inspect.ts, evaluation.ts,
// latent.ts, cifar.ts, model-file.ts, benchmark.ts), mounted by main.ts once the shipped model is in. They
// reach the page's state only through PageHooks (demo/page-hooks.ts), so main.ts stays the one
// owner of the digit model, the drawing and the test set.
import { mountBenchmark } from "./benchmark";
import { mountCifar } from "./cifar";
import { mountEvaluation } from "./evaluation";
import { mountInspect } from "./inspect";
import type { LatentPanel } from "./latent-panel";
import { mountLatent } from "./latent";
import { mountModelFile } from "./model-file";
import type { PageHooks } from "./page-hooks";

export interface Panels {
  /** The pad was classified: its 28x28 pixels as the model saw them, or null when it is empty. */
  drawn(pixels: Uint8Array | null): void;
  /** The digit model changed (main.ts calls this from useModel, whoever asked for the switch). */
  modelChanged(): void;
  /** The latent-space panel, for the training panel's autoencoders and VAEs. */
  latent: LatentPanel;
}

export function mountPanels(hooks: PageHooks): Panels {
  const inspect = mountInspect(hooks);
  const evaluation = mountEvaluation(hooks);
  const latent = mountLatent(hooks);
  const cifar = mountCifar(hooks);
  // A model from a file replaces the digit model (through hooks.useModel), the CIFAR-10 one or the VAE.
  mountModelFile(hooks, cifar, latent);
  mountBenchmark(hooks);
  return {
    drawn: (pixels) => inspect.drawn(pixels),
    modelChanged: () => {
      inspect.modelChanged();
      evaluation.modelChanged();
    },
    latent,
  };
}
