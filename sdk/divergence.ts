// What a diverged run looks like in its mean loss, beside a batch loss that is not finite or far
// above where it started, or weights a model file may not hold (all checked in fit). The MSE of
// probabilities stays within 1, so it never grows far above where it started: a run has diverged
// when it does far worse than a model that knows nothing, one that answers 1/classes for every
// class; the same measure, with a wider margin, catches cross-entropy runs that stay below the
// batch check's bound.
import type { LossName, Task } from "./spec";

/**
 * The loss of a model that knows nothing, the chance level, for a model of `outputs` output
 * values. A classifier guessing 1/C for each of its C classes: ln(C) for cross-entropy,
 * ½((1 - 1/C)² + (C - 1)/C²) = ½(1 - 1/C) for the MSE ½|p - onehot|². An autoencoder answering
 * 0.5 for each of its pixels: ln 2 a pixel for binary cross-entropy, at most ⅛ a pixel for
 * the squared error ½(0.5 - t)².
 */
export function chanceLoss(kind: LossName, outputs: number, task: Task = "classifier"): number {
  if (task !== "classifier") return kind === "mse" ? outputs / 8 : outputs * Math.LN2;
  return kind === "mse" ? 0.5 * (1 - 1 / outputs) : Math.log(outputs);
}

/**
 * How many times worse than both the chance level and its first batch a run's mean loss over a
 * stretch of images (DIVERGENCE_WINDOW, or a shorter epoch) must be for the run to have diverged.
 * MSE: a model that collapses onto one class of ten scores 0.9, twice chance (0.45), while runs
 * that learn stay below chance after their first few hundred images. Cross-entropy is unbounded:
 * a sound run given a rate too high may spike to some 30 times chance and recover (a model near
 * zero loss at SGD rate 2 averages 62 over an epoch), while a blown-up one averages hundreds of
 * times chance (a sigmoid MLP at rate 1000: 420 and 670) or grows beyond the batch check's bound.
 * Binary cross-entropy on pixels: an autoencoder that learns falls to a fifth of chance in its
 * first epoch; one whose logits blew up to ±20 scores about 20 times chance.
 */
export const DIVERGED_OVER_CHANCE: Readonly<Record<LossName, number>> = { mse: 1.5, "cross-entropy": 100, bce: 10 };

/** Images a mean loss is taken over before it is judged, so that one unlucky small batch is not. */
export const DIVERGENCE_WINDOW = 1000;

/** The mean loss above which a run whose first batch scored `firstLoss` has diverged. */
export function divergedMeanLoss(
  kind: LossName,
  outputs: number,
  firstLoss: number,
  task: Task = "classifier",
): number {
  return DIVERGED_OVER_CHANCE[kind] * Math.max(chanceLoss(kind, outputs, task), firstLoss);
}
