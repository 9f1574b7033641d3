// What other panels may ask of the latent-space panel (demo/latent.ts): to show an autoencoder
// or VAE of their own (a model file, a model trained in this tab). In its own module so that
// they depend on this interface, not on the panel.
import type { Model } from "../sdk/index";

export interface LatentPanel {
  /**
   * Makes `model` (an autoencoder or VAE of MNIST digits with a 2-D code) the panel's model, or
   * the shipped VAE again for null. The panel never disposes a model it is given: the giver
   * does, once the panel shows another (onChange tells it).
   */
  useModel(model: Model | null, label?: { text: string; title: string }): void;
  /** Whether the panel shows `model` now. */
  shows(model: Model): boolean;
  /** Calls `listener` whenever useModel() changed the panel's model. */
  onChange(listener: () => void): void;
}
