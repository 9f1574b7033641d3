// mnist-wasm: the command line. Parses flags (cli/program.ts), calls the SDK, prints. Every
// failure becomes one line on stderr and an exit code: 2 a usage mistake, 1 bad input or an SDK
// error, 70 anything unexpected (an uncaught exception or an unhandled rejection included).
// A stack trace only with DEBUG set.
import { CommanderError } from "commander";
import { MnistWasmError } from "../sdk/node";
import { oneLine, UsageError } from "./errors";
import { buildProgram } from "./program";

/** Exit codes (README, "Errors and guarantees"). */
const EXIT = { ok: 0, failed: 1, usage: 2, internal: 70 } as const;

/** Reports `e` as one line on stderr and returns the exit code it deserves. */
function report(e: unknown): number {
  if (e instanceof CommanderError && e.exitCode === 0) return EXIT.ok; // --help, --version
  if (e instanceof UsageError) return say(e.message, EXIT.usage);
  if (e instanceof MnistWasmError) return say(e.message, EXIT.failed);
  const message = e instanceof Error ? e.message : String(e);
  const code = say(`unexpected error: ${message}`, EXIT.internal);
  if (process.env.DEBUG) process.stderr.write(`${e instanceof Error ? e.stack : e}\n`);
  return code;
}

function say(message: string, code: number): number {
  process.stderr.write(`mnist-wasm: ${oneLine(message)}\n`);
  return code;
}

/** An error nobody caught (an event handler, a timer, a forgotten promise) ends the run with one line. */
function die(e: unknown): never {
  process.exit(report(e));
}

async function main(): Promise<void> {
  process.on("uncaughtException", die);
  process.on("unhandledRejection", die);
  try {
    await buildProgram().parseAsync(process.argv);
  } catch (e) {
    process.exitCode = report(e);
  }
}

await main();
