// No module of the SDK, the CLI or the demo imports itself back through others: the graph of
// their relative imports (demo/*.ts, sdk/**/*.ts, cli/**/*.ts) has no cycle.
//
// Type-only imports (`import type`, `export type … from`, `import { type A }`) count as edges. They
// vanish from the JavaScript, so a cycle of them cannot break loading; but a panel that imports its
// hooks' type from the module that mounts it cannot be read, moved or tested without that module,
// which is the tangle this test exists to prevent (the demo's panels were one). Cycles with a
// runtime edge in every step are never allowed: one module would run before its import is defined.
// KNOWN_TYPE_CYCLES lists the type-only cycles still in the SDK; the test fails if one of them
// gains a runtime edge, and also once it is gone, so that the list only shrinks.
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");

/** Type-only cycles that remain, each with where it lies (module paths from the repository root, sorted). */
const KNOWN_TYPE_CYCLES: string[][] = [
  // spec.ts takes PLAN_LIMITS from plan.ts, which takes the spec's types back.
  ["sdk/plan.ts", "sdk/spec.ts"],
  // fit-arguments.ts checks FitOptions, declared in train.ts, which calls it.
  ["sdk/fit-arguments.ts", "sdk/train.ts"],
  // qdq.ts writes the QDQ nodes of the ExportContext operators.ts declares and calls it with.
  ["sdk/onnx/operators.ts", "sdk/onnx/qdq.ts"],
];

interface Edge {
  to: string;
  typeOnly: boolean;
}
type Graph = Map<string, Edge[]>;

/** TypeScript files under `dir` (with `deep`, in its subfolders too), as paths from the root. */
function sources(dir: string, deep: boolean): string[] {
  const out: string[] = [];
  for (const name of readdirSync(join(ROOT, dir)).sort()) {
    const path = `${dir}/${name}`;
    if (statSync(join(ROOT, path)).isDirectory()) {
      if (deep) out.push(...sources(path, deep));
    } else if (name.endsWith(".ts") && !name.endsWith(".d.ts")) {
      out.push(path);
    }
  }
  return out;
}

// `import … from "m"`, `import "m"`, `export … from "m"` at the start of a line (the clause may
// span lines), and `import("m")` anywhere.
const STATIC = /^[ \t]*(import|export)\s+(type\s+)?(?:([^;'"=()]*?)\s+from\s+)?["']([^"']+)["']/gm;
const DYNAMIC = /\bimport\(\s*["']([^"']+)["']\s*\)/g;

/** Whether an import clause names only types: `{ type A, type B }` (and nothing else). */
const onlyTypes = (clause: string): boolean => {
  const braces = /^\{([^}]*)\}$/.exec(clause.trim());
  if (!braces) return false;
  const names = braces[1]
    .split(",")
    .map((n) => n.trim())
    .filter(Boolean);
  return names.length > 0 && names.every((n) => n.startsWith("type "));
};

/**
 * The module a relative specifier names, as the bundler resolves it (x.ts, x.js -> x.ts, x/index.ts,
 * or a JavaScript module that is there).
 */
function resolveModule(from: string, specifier: string): string | undefined {
  const base = resolve(ROOT, dirname(from), specifier);
  const candidates = [base, `${base}.ts`, base.replace(/\.js$/, ".ts"), join(base, "index.ts")];
  const hit = candidates.find((c) => /\.(ts|js)$/.test(c) && existsSync(c) && statSync(c).isFile());
  return hit && relative(ROOT, hit).split("\\").join("/");
}

/** The relative imports of `files` (unresolvable ones are returned apart, to fail the test). */
function importGraph(files: string[]): { graph: Graph; unresolved: string[] } {
  const graph: Graph = new Map();
  const unresolved: string[] = [];
  for (const file of files) {
    const text = readFileSync(join(ROOT, file), "utf8");
    const found: { specifier: string; typeOnly: boolean }[] = [];
    for (const m of text.matchAll(STATIC))
      found.push({ specifier: m[4], typeOnly: Boolean(m[2]) || onlyTypes(m[3] ?? "") });
    for (const m of text.matchAll(DYNAMIC)) found.push({ specifier: m[1], typeOnly: false });
    const edges: Edge[] = [];
    for (const { specifier, typeOnly } of found) {
      if (!specifier.startsWith(".")) continue; // packages and node: built-ins
      const to = resolveModule(file, specifier);
      if (to) edges.push({ to, typeOnly });
      else unresolved.push(`${file}: "${specifier}"`);
    }
    graph.set(file, edges);
  }
  return { graph, unresolved };
}

/**
 * The cycles of `graph`: its strongly connected components of more than one module, or of one
 * that imports itself (Tarjan), each sorted. With `runtimeOnly`, type-only edges are left out.
 */
function cycles(graph: Graph, runtimeOnly: boolean): string[][] {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: string[][] = [];
  const next = (v: string): string[] =>
    (graph.get(v) ?? []).filter((e) => graph.has(e.to) && !(runtimeOnly && e.typeOnly)).map((e) => e.to);
  const visit = (v: string): void => {
    index.set(v, index.size);
    low.set(v, index.get(v)!);
    stack.push(v);
    onStack.add(v);
    for (const w of next(v)) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) {
        low.set(v, Math.min(low.get(v)!, index.get(w)!));
      }
    }
    if (low.get(v) !== index.get(v)) return;
    const component: string[] = [];
    let w: string;
    do {
      w = stack.pop()!;
      onStack.delete(w);
      component.push(w);
    } while (w !== v);
    if (component.length > 1 || next(v).includes(v)) found.push(component.sort());
  };
  for (const v of graph.keys()) if (!index.has(v)) visit(v);
  return found.sort((a, b) => a[0].localeCompare(b[0]));
}

const FILES = [...sources("demo", false), ...sources("sdk", true), ...sources("cli", true)];
const { graph, unresolved } = importGraph(FILES);
const key = (cycle: string[]): string => cycle.join(" <-> ");

describe("the import graph of the SDK, the CLI and the demo", () => {
  it("is read from every module, each relative import resolved to a file", () => {
    expect(FILES.length).toBeGreaterThan(50);
    expect(unresolved).toEqual([]);
    // Runtime and type-only edges are told apart, multi-line clauses included.
    expect(graph.get("demo/panels.ts")).toEqual(
      expect.arrayContaining([
        { to: "demo/cifar.ts", typeOnly: false },
        { to: "demo/page-hooks.ts", typeOnly: true },
      ]),
    );
    expect(graph.get("demo/train.ts")).toContainEqual({ to: "sdk/index.ts", typeOnly: false });
    expect(graph.get("sdk/index.ts")).toContainEqual({ to: "sdk/layers/layer.ts", typeOnly: true });
  });

  it("finds cycles: runtime ones, type-only ones, self-imports, and nothing in a tree", () => {
    const g = (edges: [string, string, boolean][]): Graph => {
      const out: Graph = new Map();
      for (const [from, to, typeOnly] of edges) {
        if (!out.has(to)) out.set(to, []);
        out.set(from, [...(out.get(from) ?? []), { to, typeOnly }]);
      }
      return out;
    };
    const ring = g([
      ["a", "b", false],
      ["b", "c", false],
      ["c", "a", false],
      ["c", "d", false],
    ]);
    expect(cycles(ring, true)).toEqual([["a", "b", "c"]]);
    const typeRing = g([
      ["page", "panel", false],
      ["panel", "page", true],
    ]);
    expect(cycles(typeRing, false)).toEqual([["page", "panel"]]);
    expect(cycles(typeRing, true)).toEqual([]);
    expect(cycles(g([["a", "a", false]]), false)).toEqual([["a"]]);
    expect(
      cycles(
        g([
          ["a", "b", false],
          ["a", "c", true],
          ["b", "c", false],
        ]),
        false,
      ),
    ).toEqual([]);
  });

  it("has no cycle of runtime imports", () => {
    expect(cycles(graph, true).map(key)).toEqual([]);
  });

  it("has no cycle of imports, type-only ones included, beyond the known ones in the SDK", () => {
    const known = new Set(KNOWN_TYPE_CYCLES.map(key));
    const all = cycles(graph, false).map(key);
    expect(
      all.filter((c) => !known.has(c)),
      "new cycles",
    ).toEqual([]);
    expect(
      [...known].filter((c) => !all.includes(c)),
      "gone: take them out of KNOWN_TYPE_CYCLES",
    ).toEqual([]);
  });
});
