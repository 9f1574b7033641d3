import { fail } from "../errors";
import { parseIdx } from "./idx";

/**
 * Labelled images in host memory: `count` samples of `shape` ([channels, height, width]) uint8
 * pixels, sample after sample (channel planes row-major inside a sample), and one uint8 label each.
 */
export interface Dataset {
  name: string;
  shape: [number, number, number];
  images: Uint8Array;
  labels: Uint8Array;
  count: number;
  classes: string[];
}

export const MNIST_CLASSES = ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"];

/** Builds a Dataset from the inflated bytes of an idx image file and its idx label file. */
export function datasetFromIdx(
  imageBytes: Uint8Array,
  labelBytes: Uint8Array,
  options: { name?: string; classes?: string[]; imagesWhat?: string; labelsWhat?: string } = {},
): Dataset {
  const images = parseIdx(imageBytes, 3, options.imagesWhat ?? "images");
  const labels = parseIdx(labelBytes, 1, options.labelsWhat ?? "labels");
  const [count, height, width] = images.dims;
  if (labels.dims[0] !== count) {
    fail("BAD_FILE", `${options.labelsWhat ?? "labels"}: ${labels.dims[0]} labels for ${count} images`);
  }
  const classes = options.classes ?? MNIST_CLASSES;
  let maxLabel = 0;
  for (const l of labels.data) if (l > maxLabel) maxLabel = l;
  if (maxLabel >= classes.length) {
    fail("BAD_FILE", `${options.labelsWhat ?? "labels"}: label ${maxLabel} is out of range for ${classes.length} classes`);
  }
  return { name: options.name ?? "mnist", shape: [1, height, width], images: images.data, labels: labels.data, count, classes };
}

/** The first `count` samples (a view, no copy). */
export function takeFirst(data: Dataset, count: number): Dataset {
  if (count >= data.count) return data;
  const size = data.shape[0] * data.shape[1] * data.shape[2];
  return { ...data, images: data.images.subarray(0, count * size), labels: data.labels.subarray(0, count), count };
}

/** Pixels per sample. */
export const sampleSize = (data: Dataset): number => data.shape[0] * data.shape[1] * data.shape[2];
