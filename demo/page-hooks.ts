// What a panel may ask of the page (demo/main.ts): the digit model, the MNIST test set and the
// browse panel. The panels import this type, main.ts implements it and panels.ts passes it on,
// so no panel depends on the module that mounts it.
import type { Dataset, Model } from "../sdk/index";

export interface PageHooks {
  /** The digit model every panel uses now (the shipped CNN until the user loads another). */
  model(): Model;
  /** Makes `next` the digit model of the page (null: the shipped one again); `label` goes in the status line. */
  useModel(next: Model | null, label?: string): void;
  /** The MNIST test set, fetched once. */
  testSet(): Promise<Dataset>;
  /** Shows test image `index` in the browse panel. */
  showTest(index: number): Promise<unknown>;
}
