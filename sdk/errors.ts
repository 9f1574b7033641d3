/**
 * Every error the SDK raises on purpose. `code` says what kind of problem it is, so callers
 * (the CLI, a page) can tell bad input from bugs; the message is one line a person can act on.
 */
export type ErrorCode =
  | "BAD_FILE" // a data or model file that is not what it claims to be
  | "BAD_SHAPE" // shapes that do not fit together
  | "BAD_ARGUMENT" // an option or argument out of range
  | "OUT_OF_MEMORY" // wasm memory could not grow
  | "DIVERGED" // training ran away: a non-finite or exploding loss, or implausible weights
  | "WRONG_TASK" // a model used for what it was not trained to do (classifying with an autoencoder, generating with a classifier)
  | "BAD_STATE"; // a request that does not fit the current state (no model yet, a worker busy training, a disposed runtime)

export class MnistWasmError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string) {
    super(message);
    this.name = "MnistWasmError";
    this.code = code;
  }
}

export function fail(code: ErrorCode, message: string): never {
  throw new MnistWasmError(code, message);
}
