import { checkOptions, describeValue } from "../args";
import { fail } from "../errors";
import type { Dataset } from "./dataset";

export const CIFAR10_CLASSES = [
  "airplane",
  "automobile",
  "bird",
  "cat",
  "deer",
  "dog",
  "frog",
  "horse",
  "ship",
  "truck",
];

/** One record of the CIFAR-10 binary version: a label byte, then 1024 red, green, blue bytes. */
const RECORD = 1 + 3 * 32 * 32;

/** The files of each split, as named in the official cifar-10-binary.tar.gz. */
export const CIFAR10_FILES = {
  train: ["data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin", "data_batch_4.bin", "data_batch_5.bin"],
  test: ["test_batch.bin"],
} as const;

/**
 * Builds a data set from the (inflated) batch files of one split, in order. Checks that each file
 * is a whole number of 3,073-byte records and every label is 0-9. The data set is called `name`
 * ("cifar10" by default) and its classes `classes` (10 names; CIFAR10_CLASSES by default).
 */
export function datasetFromCifarBatches(
  files: { name: string; bytes: Uint8Array }[],
  options: { name?: string; classes?: string[] } = {},
): Dataset {
  if (!Array.isArray(files) || !files.every((f) => f?.bytes instanceof Uint8Array))
    fail(
      "BAD_ARGUMENT",
      `datasetFromCifarBatches: files must be an array of { name, bytes: Uint8Array }, got ${describeValue(files)}`,
    );
  options = checkOptions<typeof options>(options, "datasetFromCifarBatches options");
  const classes = options.classes ?? CIFAR10_CLASSES;
  if (
    !Array.isArray(classes) ||
    classes.length !== CIFAR10_CLASSES.length ||
    !classes.every((c) => typeof c === "string")
  ) {
    fail(
      "BAD_ARGUMENT",
      `datasetFromCifarBatches: classes must be ${CIFAR10_CLASSES.length} class names, got ${describeValue(classes)}`,
    );
  }
  let count = 0;
  for (const { name, bytes } of files) {
    if (bytes.length === 0 || bytes.length % RECORD !== 0) {
      fail(
        "BAD_FILE",
        `${name}: ${bytes.length} bytes is not a whole number of CIFAR-10 records (3,073 bytes: label + 3x32x32)`,
      );
    }
    count += bytes.length / RECORD;
  }
  const images = new Uint8Array(count * (RECORD - 1));
  const labels = new Uint8Array(count);
  let i = 0;
  for (const { name, bytes } of files) {
    for (let offset = 0; offset < bytes.length; offset += RECORD, i++) {
      const label = bytes[offset];
      if (label >= CIFAR10_CLASSES.length)
        fail("BAD_FILE", `${name}: record ${offset / RECORD} has label ${label}, not 0-9`);
      labels[i] = label;
      images.set(bytes.subarray(offset + 1, offset + RECORD), i * (RECORD - 1));
    }
  }
  return { name: options.name ?? "cifar10", shape: [3, 32, 32], images, labels, count, classes };
}
