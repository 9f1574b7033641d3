// What the model-file panel (demo/model-file.ts) may ask of the CIFAR-10 panel (demo/cifar.ts):
// to show a model loaded from a file. In its own module because cifar.ts uses model-file.ts's
// describeModel, and the two would otherwise import each other.
import type { Model } from "../sdk/index";

export interface CifarPanel {
  /** Makes `model` (input [3, 32, 32]) the panel's model, or the shipped one again for null. */
  useModel(model: Model | null, label?: { text: string; title: string }): void;
}
