// What a diverged run looks like in its mean loss, beside a batch loss that is not finite or far
// above where it started, or weights a model file may not hold (all checked in fit). The MSE of
// probabilities stays within 1, so it never grows far above where it started: a run has diverged
// when it does far worse than a model that knows nothing, one that answers 1/classes for every
// class; the same measure, with a wider margin, catches cross-entropy runs that stay below the
// batch check's bound.
import type { LossName } from "./spec";

/**
 * The loss of a constant guess of 1/classes for every class, the chance level: ln(classes) for
 * cross-entropy; ½((1 - 1/C)² + (C - 1)/C²) = ½(1 - 1/C) for the MSE ½|p - onehot|².
 */
export function chanceLoss(kind: LossName, classes: number): number {
  return kind === "mse" ? 0.5 * (1 - 1 / classes) : Math.log(classes);
}

/**
 * How many times worse than both the chance level and its first batch a run's mean loss over a
 * stretch of images (DIVERGENCE_WINDOW, or a shorter epoch) must be for the run to have diverged.
 * MSE: a model that collapses onto one class of ten scores 0.9, twice chance (0.45), while runs
 * that learn stay below chance after their first few hundred images. Cross-entropy is unbounded:
 * a sound run given a rate too high may spike to some 30 times chance and recover (a model near
 * zero loss at SGD rate 2 averages 62 over an epoch), while a blown-up one averages hundreds of
 * times chance (a sigmoid MLP at rate 1000: 420 and 670) or grows beyond the batch check's bound.
 */
export const DIVERGED_OVER_CHANCE: Readonly<Record<LossName, number>> = { mse: 1.5, "cross-entropy": 100 };

/** Images a mean loss is taken over before it is judged, so that one unlucky small batch is not. */
export const DIVERGENCE_WINDOW = 1000;

/** The mean loss above which a run whose first batch scored `firstLoss` has diverged. */
export function divergedMeanLoss(kind: LossName, classes: number, firstLoss: number): number {
  return DIVERGED_OVER_CHANCE[kind] * Math.max(chanceLoss(kind, classes), firstLoss);
}
