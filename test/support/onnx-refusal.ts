// The refusal of an ONNX file by importOnnx: a BAD_FILE MnistWasmError that leaves no wasm memory
// allocated. Shared by the graph reader's tests and the QDQ reader's.
import { expect } from "vitest";
import { importOnnx, MnistWasmError, type Runtime } from "../../sdk/node";

/** The message importOnnx refuses `bytes` with; fails the test when it accepts them. */
export function onnxRefusal(rt: Runtime, bytes: Uint8Array): string {
  const before = rt.usedBytes;
  try {
    importOnnx(rt, bytes, "m.onnx").model.dispose();
  } catch (e) {
    expect(e).toBeInstanceOf(MnistWasmError);
    expect((e as MnistWasmError).code).toBe("BAD_FILE");
    expect(rt.usedBytes, "wasm memory left allocated").toBe(before);
    return (e as Error).message;
  }
  throw new Error("accepted");
}
