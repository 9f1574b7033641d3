import { byteArray, checkInteger, checkOptions, describeValue } from "../args";
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

/**
 * Builds a Dataset from the inflated bytes of an idx image file and its idx label file, called
 * `name` ("mnist" by default), its classes `classes` (MNIST's digits by default; where they come
 * from, `classesWhat`, is named when a label is beyond them).
 */
export function datasetFromIdx(
  imageBytes: Uint8Array,
  labelBytes: Uint8Array,
  options: { name?: string; classes?: string[]; classesWhat?: string; imagesWhat?: string; labelsWhat?: string } = {},
): Dataset {
  options = checkOptions<typeof options>(options, "datasetFromIdx options");
  const images = parseIdx(byteArray(imageBytes, "datasetFromIdx: imageBytes"), 3, options.imagesWhat ?? "images");
  const labels = parseIdx(byteArray(labelBytes, "datasetFromIdx: labelBytes"), 1, options.labelsWhat ?? "labels");
  const [count, height, width] = images.dims;
  if (labels.dims[0] !== count) {
    fail("BAD_FILE", `${options.labelsWhat ?? "labels"}: ${labels.dims[0]} labels for ${count} images`);
  }
  const classes = options.classes ?? MNIST_CLASSES;
  let maxLabel = 0;
  for (const l of labels.data) if (l > maxLabel) maxLabel = l;
  if (maxLabel >= classes.length) {
    fail(
      "BAD_FILE",
      `${options.labelsWhat ?? "labels"}: label ${maxLabel} is out of range for ${classes.length} classes` +
        (options.classesWhat ? ` (the class names of ${options.classesWhat})` : ""),
    );
  }
  // After the files' own checks: a label beyond the classes is the file's fault first.
  checkClasses(classes, "datasetFromIdx: classes");
  return {
    name: options.name ?? "mnist",
    shape: [1, height, width],
    images: images.data,
    labels: labels.data,
    count,
    classes,
  };
}

/** The first `count` samples (a view, no copy); Infinity keeps them all. */
export function takeFirst(data: Dataset, count: number): Dataset {
  checkDataset(data, "takeFirst: data", false);
  if (count !== Infinity) checkInteger(count, "takeFirst: count", 0);
  if (count >= data.count) return data;
  const size = data.shape[0] * data.shape[1] * data.shape[2];
  return { ...data, images: data.images.subarray(0, count * size), labels: data.labels.subarray(0, count), count };
}

/**
 * The samples whose label is one of `labels`, in their order, at most `perClass` of each class
 * (a copy; labels and class names unchanged). Refuses a label the data set has no class for.
 */
export function selectClasses(data: Dataset, labels: readonly number[], perClass = Infinity): Dataset {
  checkDataset(data, "selectClasses: data", false);
  if (!Array.isArray(labels) || labels.length === 0)
    fail(
      "BAD_ARGUMENT",
      `selectClasses: labels must be a non-empty list of class labels, got ${describeValue(labels)}`,
    );
  for (const label of labels) checkInteger(label, "selectClasses: a label", 0, data.classes.length - 1);
  if (perClass !== Infinity) checkInteger(perClass, "selectClasses: perClass", 1);
  const wanted = new Set(labels);
  const taken = new Map<number, number>();
  const size = sampleSize(data);
  const keep: number[] = [];
  for (let i = 0; i < data.count; i++) {
    const label = data.labels[i];
    const n = taken.get(label) ?? 0;
    if (!wanted.has(label) || n >= perClass) continue;
    taken.set(label, n + 1);
    keep.push(i);
  }
  const images = new Uint8Array(keep.length * size);
  const kept = new Uint8Array(keep.length);
  keep.forEach((from, to) => {
    images.set(data.images.subarray(from * size, (from + 1) * size), to * size);
    kept[to] = data.labels[from];
  });
  return { ...data, images, labels: kept, count: keep.length };
}

/** Pixels per sample. */
export function sampleSize(data: Dataset): number {
  if (!Array.isArray(data?.shape))
    fail("BAD_ARGUMENT", `sampleSize: data must be a data set, got ${describeValue(data)}`);
  return data.shape[0] * data.shape[1] * data.shape[2];
}

/** Most classes a data set may have: labels are bytes. */
const MAX_CLASSES = 256;

function checkClasses(classes: unknown, what: string): void {
  if (
    !Array.isArray(classes) ||
    classes.length < 1 ||
    classes.length > MAX_CLASSES ||
    !classes.every((c) => typeof c === "string")
  ) {
    fail("BAD_ARGUMENT", `${what} must be an array of 1 to ${MAX_CLASSES} class names, got ${describeValue(classes)}`);
  }
}

/**
 * Refuses (BAD_ARGUMENT, naming `what`) a value that is not a consistent Dataset: a [C, H, W]
 * shape of positive integers, `count` images of that shape as uint8, `count` uint8 labels, and
 * class names; with `labelsInRange`, every label below the number of classes (a scan of the
 * labels, one byte per sample, so that no kernel reads a row past the class count).
 */
export function checkDataset(data: unknown, what: string, labelsInRange = true): asserts data is Dataset {
  if (typeof data !== "object" || data === null || Array.isArray(data))
    fail("BAD_ARGUMENT", `${what} must be a data set object, got ${describeValue(data)}`);
  const d = data as Partial<Dataset>;
  const { shape, images, labels, count } = d;
  if (!Array.isArray(shape) || shape.length !== 3 || !shape.every((n) => Number.isSafeInteger(n) && n > 0)) {
    fail(
      "BAD_ARGUMENT",
      `${what}: shape must be [channels, height, width] of positive integers, got ${describeValue(shape)}`,
    );
  }
  if (typeof count !== "number" || !Number.isSafeInteger(count) || count < 0)
    fail("BAD_ARGUMENT", `${what}: count must be a non-negative integer, got ${describeValue(count)}`);
  if (!(images instanceof Uint8Array))
    fail("BAD_ARGUMENT", `${what}: images must be a Uint8Array, got ${describeValue(images)}`);
  if (!(labels instanceof Uint8Array))
    fail("BAD_ARGUMENT", `${what}: labels must be a Uint8Array, got ${describeValue(labels)}`);
  const size = shape[0] * shape[1] * shape[2];
  if (images.length !== count * size)
    fail(
      "BAD_SHAPE",
      `${what}: ${images.length} pixel bytes for ${count} images of [${shape}] (${count * size} expected)`,
    );
  if (labels.length !== count) fail("BAD_SHAPE", `${what}: ${labels.length} labels for ${count} images`);
  checkClasses(d.classes, `${what}: classes`);
  if (labelsInRange) {
    const classes = d.classes!.length;
    let max = 0;
    for (let i = 0; i < labels.length; i++) if (labels[i] > max) max = labels[i];
    if (max >= classes) fail("BAD_ARGUMENT", `${what}: label ${max} is out of range for ${classes} classes`);
  }
}
