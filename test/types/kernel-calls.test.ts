// Kernel calls the compiler checks. A KernelCall is `[name, ...Parameters<Kernels[name]>]`
// (sdk/runtime/threads.ts), so a call with a wrong name, a wrong number of arguments or its name
// out of place must not compile. This suite runs the TypeScript compiler (as `npx tsc` would, with
// the project's options) and shows it:
//
// - Kernels, the one typed statement of the kernels' signatures, names every function the compiled
//   module exports, each with the number of parameters the wasm function takes;
// - for every kernel, a call with its own arguments compiles, and one with an argument missing, one
//   too many, a string among the numbers, the name after an argument or misspelt does not, whether written
//   as a KernelCall, given to rt.parallel, returned from rt.parallelFor's task or pushed on a list;
// - every kernel call the SDK builds (layers, runtime, anywhere in sdk/), broken in each of those ways in
//   its own source, makes the compiler report an error at that call.
import { readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import ts from "typescript";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Runtime } from "../../sdk/node";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
/** Where kernel calls are built: the whole SDK, so a new file that builds them is covered too. */
const SOURCES = ["sdk"];
const SNIPPET = join(ROOT, "test/types/kernel-call-snippet.ts");

function compilerOptions(): ts.CompilerOptions {
  const config = ts.readConfigFile(join(ROOT, "tsconfig.json"), ts.sys.readFile);
  return ts.parseJsonConfigFileContent(config.config, ts.sys, ROOT).options;
}

function rootFiles(): string[] {
  return SOURCES.flatMap((path) => {
    const full = join(ROOT, path);
    if (path.endsWith(".ts")) return [full];
    return ts.sys.readDirectory(full, [".ts"]).filter((f) => !f.endsWith(".generated.ts"));
  });
}

/**
 * A program over the SDK's kernel-calling sources, with some files' text replaced (`overrides`,
 * by absolute path: a mutated source, or the snippet file that exists only here).
 */
function program(overrides: Map<string, string>, old?: ts.Program): ts.Program {
  const options = compilerOptions();
  const host = ts.createCompilerHost(options, true);
  const read = host.getSourceFile.bind(host);
  host.getSourceFile = (name, language, onError, fresh) => {
    const text = overrides.get(resolve(name));
    return text === undefined ? read(name, language, onError, fresh) : ts.createSourceFile(name, text, language, true);
  };
  const fileExists = host.fileExists.bind(host);
  host.fileExists = (name) => overrides.has(resolve(name)) || fileExists(name);
  const roots = [...new Set([...rootFiles(), ...overrides.keys()])];
  return ts.createProgram(roots, options, host, old);
}

/** Errors the compiler reports in `file`: line and message. */
function errorsIn(p: ts.Program, file: string): { line: number; text: string }[] {
  const source = p.getSourceFile(file);
  if (!source) throw new Error(`${file} is not in the program`);
  return [...p.getSyntacticDiagnostics(source), ...p.getSemanticDiagnostics(source)].map((d) => ({
    line: source.getLineAndCharacterOfPosition(d.start ?? 0).line + 1,
    text: ts.flattenDiagnosticMessageText(d.messageText, "\n"),
  }));
}

let base: ts.Program;
/** Kernel name -> number of parameters, as the Kernels interface declares it. */
const declared = new Map<string, number>();

beforeAll(() => {
  base = program(new Map());
  const checker = base.getTypeChecker();
  const kernelsFile = base.getSourceFile(join(ROOT, "sdk/runtime/kernels.ts"))!;
  const decl = kernelsFile.statements.find(
    (s): s is ts.InterfaceDeclaration => ts.isInterfaceDeclaration(s) && s.name.text === "Kernels",
  )!;
  for (const property of checker.getPropertiesOfType(checker.getTypeAtLocation(decl))) {
    const signatures = checker.getTypeOfSymbol(property).getCallSignatures();
    declared.set(property.name, signatures[0]?.parameters.length ?? -1);
  }
});

describe("the Kernels interface", () => {
  let rt: Runtime;
  beforeAll(async () => {
    rt = await Runtime.create();
  });
  afterAll(() => rt.dispose());

  it("declares every function the compiled kernels export, with the wasm function's parameter count", () => {
    const exports = rt.kernels as unknown as Record<string, unknown>;
    const exported = new Map(
      Object.keys(exports)
        .filter((name) => typeof exports[name] === "function")
        .map((name) => [name, (exports[name] as (...a: unknown[]) => unknown).length]),
    );
    expect(exported.size).toBeGreaterThan(40);
    expect(Object.fromEntries(declared)).toEqual(Object.fromEntries(exported));
  });

  it("the SDK's sources compile as they are", () => {
    for (const file of rootFiles()) expect(errorsIn(base, file), file).toEqual([]);
  });
});

/** Ways to get a kernel call wrong, each applied to a call's elements as source text. */
const MISTAKES: Record<string, (elements: string[]) => string[]> = {
  "one argument missing": (e) => e.slice(0, -1),
  "one argument too many": (e) => [...e, "0"],
  "a string among the arguments": (e) => [e[0], `"0"`, ...e.slice(2)],
  "the name after an argument": (e) => [e[1], e[0], ...e.slice(2)],
};

describe("a kernel call written by hand", () => {
  /**
   * For every kernel, the correct call and each mistake, in four places a call is written:
   * returns the snippet's lines, each marked with whether it must compile.
   */
  function snippetLines(): { text: string; ok: boolean; what: string }[] {
    const lines: { text: string; ok: boolean; what: string }[] = [];
    const places: [string, (call: string) => string][] = [
      ["a KernelCall", (call) => `{ const c: KernelCall = ${call}; void c; }`],
      ["rt.parallel", (call) => `rt.parallel([[], [${call}]]);`],
      ["rt.parallelFor's task", (call) => `rt.parallelFor(8, 1, (start, end) => [${call}]);`],
      ["a list's push", (call) => `{ const calls: KernelCall[] = []; calls.push(${call}); }`],
    ];
    for (const [name, arity] of declared) {
      const right = [`"${name}"`, ...Array.from({ length: arity }, (_, i) => `${i}`)];
      for (const [place, write] of places) {
        lines.push({ text: write(`[${right.join(", ")}]`), ok: true, what: `${name} in ${place}` });
        for (const [mistake, make] of Object.entries(MISTAKES)) {
          if (arity === 0 && mistake !== "one argument too many") continue;
          const text = write(`[${make(right).join(", ")}]`);
          lines.push({ text, ok: false, what: `${name}, ${mistake}, in ${place}` });
        }
        const misspelt = [`"${name}s"`, ...right.slice(1)];
        lines.push({ text: write(`[${misspelt.join(", ")}]`), ok: false, what: `${name}s (no kernel) in ${place}` });
      }
    }
    return lines;
  }

  it("compiles with its kernel's arguments and fails with any mistake, for every kernel", () => {
    const lines = snippetLines();
    const header = [
      `import type { KernelCall } from "../../sdk/runtime/threads";`,
      `import type { Runtime } from "../../sdk/runtime/runtime";`,
      `declare const rt: Runtime;`,
    ];
    const text = [...header, ...lines.map((l) => l.text)].join("\n");
    const errors = errorsIn(program(new Map([[SNIPPET, text]]), base), SNIPPET);
    const failing = new Set(errors.map((e) => e.line - header.length - 1));
    const wrong = lines
      .filter((l, i) => l.ok === failing.has(i))
      .map((l) => `${l.ok ? "fails" : "compiles"}: ${l.what}`);
    expect(lines.filter((l) => !l.ok).length).toBeGreaterThan(declared.size * 16);
    expect(wrong).toEqual([]);
  });
});

/** A kernel call the SDK builds: an array literal whose contextual type is KernelCall. */
interface CallSite {
  file: string;
  start: number;
  end: number;
  elements: string[];
}

function kernelCallSites(p: ts.Program): CallSite[] {
  const checker = p.getTypeChecker();
  const sites: CallSite[] = [];
  for (const file of rootFiles()) {
    const source = p.getSourceFile(file)!;
    const visit = (node: ts.Node): void => {
      if (ts.isArrayLiteralExpression(node)) {
        const context = checker.getContextualType(node);
        if (context?.aliasSymbol?.name === "KernelCall") {
          const elements = node.elements.map((e) => e.getText(source));
          sites.push({ file, start: node.getStart(source), end: node.getEnd(), elements });
        }
      }
      ts.forEachChild(node, visit);
    };
    visit(source);
  }
  return sites;
}

describe("the kernel calls the SDK builds", () => {
  let sites: CallSite[];
  beforeAll(() => {
    sites = kernelCallSites(base);
  });

  it("are found in every source that shares work among threads", () => {
    const files = new Set(sites.map((s) => s.file.slice(ROOT.length + 1)));
    const sharing = [
      "sdk/layers/activation.ts",
      "sdk/layers/pool2d.ts",
      "sdk/layers/conv2d.ts",
      "sdk/layers/conv-transpose.ts",
      "sdk/layers/upsample.ts",
      "sdk/runtime/runtime.ts",
    ];
    for (const file of sharing) expect(files, file).toContain(file);
    expect(sites.length).toBeGreaterThanOrEqual(15);
    // One call per line, so that an error on a call's lines is that call's.
    const lineOf = (s: CallSite): number => base.getSourceFile(s.file)!.getLineAndCharacterOfPosition(s.start).line;
    const lines = sites.map((s) => `${s.file}:${lineOf(s)}`);
    expect(new Set(lines).size).toBe(lines.length);
  });

  for (const [mistake, make] of Object.entries(MISTAKES)) {
    it(`each fails to compile with ${mistake}`, () => {
      // Every call site broken at once, each in its own place: one compiler run per kind of mistake.
      const overrides = new Map<string, string>();
      const broken: { site: CallSite; start: number; end: number }[] = [];
      for (const file of new Set(sites.map((s) => s.file))) {
        const original = readFileSync(file, "utf8");
        let text = "";
        let from = 0;
        for (const site of sites.filter((s) => s.file === file).sort((a, b) => a.start - b.start)) {
          text += original.slice(from, site.start);
          const call = `[${make(site.elements).join(", ")}]`;
          broken.push({ site, start: text.length, end: text.length + call.length });
          text += call;
          from = site.end;
        }
        overrides.set(file, text + original.slice(from));
      }
      const p = program(overrides, base);
      const errors = new Map([...overrides.keys()].map((file) => [file, errorsIn(p, file)]));
      // The compiler reports a broken call at the call or at the statement returning it: on its lines.
      const lineOf = (file: string, position: number): number =>
        p.getSourceFile(file)!.getLineAndCharacterOfPosition(position).line + 1;
      const missed = broken
        .filter(({ site, start, end }) => {
          const [first, last] = [lineOf(site.file, start), lineOf(site.file, end)];
          return !errors.get(site.file)!.some((e) => e.line >= first && e.line <= last);
        })
        .map(({ site }) => `${site.file.slice(ROOT.length + 1)}: [${site.elements.slice(0, 2).join(", ")}, …]`);
      expect(missed).toEqual([]);
    });
  }
});
