import { DATASETS, type DatasetName } from "../sdk/node";

/** The data set a model file says it was trained on (MNIST for files that do not say). */
export function datasetOf(metadata: Record<string, string>): DatasetName {
  return DATASETS.includes(metadata.dataset as DatasetName) ? (metadata.dataset as DatasetName) : "mnist";
}
