// Reports: the SVG line charts (chartSvg, historyChart) and what the CLI writes with them.
//
// - Charts are parsed by a small XML well-formedness checker (Node has no DOMParser): one root,
//   balanced tags, quoted attributes, no unescaped "<" or "&". The checker is tested first on
//   documents it must refuse. Then: one polyline per series with as many points as the series
//   has finite points, points placed inside the plot area in the data's order, NaN points
//   skipped, single points drawn as dots, names escaped and shown in the legend.
// - The CLI, run as a user runs it (`node dist/cli.js`; npm test builds dist first): training
//   writes <model>.history.json and <model>.history.svg beside the model and a resumed run
//   extends them; `experiment hidden-sizes` prints a markdown table and writes .md/.json/.svg;
//   an unknown experiment is one line on stderr and a non-zero exit.
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { run } from "./support/cli";
import { chartSvg, historyChart, percentTick, type Panel } from "../sdk/node";
import { axisTicks } from "../sdk/report/chart";

// ---------------------------------------------------------------------------------------------
// A small XML reader: enough to check well-formedness and to query the elements of an SVG.

interface XmlElement {
  name: string;
  attrs: Record<string, string>;
  /** Character data directly inside the element, entities decoded. */
  text: string;
  children: XmlElement[];
}

const NAME = "[A-Za-z_][\\w.:-]*";
const OPEN_TAG = new RegExp(`<(${NAME})((?:\\s+${NAME}\\s*=\\s*(?:"[^"]*"|'[^']*'))*)\\s*(/?)>`, "y");
const CLOSE_TAG = new RegExp(`</(${NAME})\\s*>`, "y");
const ATTRIBUTE = new RegExp(`(${NAME})\\s*=\\s*(?:"([^"]*)"|'([^']*)')`, "g");
const ENTITY = /&(?:amp|lt|gt|quot|apos|#\d+|#x[0-9a-fA-F]+);/g;

/** Refuses a "<" or an "&" that does not start an entity. */
function checkCharacters(s: string, where: string): void {
  if (/[<&]/.test(s.replace(ENTITY, "")))
    throw new Error(`unescaped "<" or "&" in ${where}: ${JSON.stringify(s.slice(0, 60))}`);
}

const decodeEntities = (s: string): string =>
  s.replace(ENTITY, (e) => {
    const named: Record<string, string> = { "&amp;": "&", "&lt;": "<", "&gt;": ">", "&quot;": '"', "&apos;": "'" };
    if (named[e]) return named[e];
    return String.fromCodePoint(e[2] === "x" ? parseInt(e.slice(3, -1), 16) : parseInt(e.slice(2, -1), 10));
  });

/** Parses `text` as XML; throws on anything not well-formed. Returns the root element. */
function parseXml(text: string): XmlElement {
  const stack: XmlElement[] = [];
  let root: XmlElement | undefined;
  let i = 0;
  if (text.startsWith("<?xml")) {
    const end = text.indexOf("?>");
    if (end < 0) throw new Error("unterminated XML declaration");
    i = end + 2;
  }
  while (i < text.length) {
    const lt = text.indexOf("<", i);
    const chunk = text.slice(i, lt < 0 ? text.length : lt);
    if (chunk) {
      checkCharacters(chunk, "text");
      if (stack.length) stack[stack.length - 1].text += decodeEntities(chunk);
      else if (chunk.trim())
        throw new Error(`text outside the root element: ${JSON.stringify(chunk.trim().slice(0, 40))}`);
    }
    if (lt < 0) break;
    if (text.startsWith("<!--", lt)) {
      const end = text.indexOf("-->", lt + 4);
      if (end < 0) throw new Error("unterminated comment");
      i = end + 3;
      continue;
    }
    CLOSE_TAG.lastIndex = lt;
    const close = CLOSE_TAG.exec(text);
    if (close) {
      const top = stack.pop();
      if (!top) throw new Error(`</${close[1]}> closes nothing`);
      if (top.name !== close[1]) throw new Error(`</${close[1]}> closes <${top.name}>`);
      i = lt + close[0].length;
      continue;
    }
    OPEN_TAG.lastIndex = lt;
    const open = OPEN_TAG.exec(text);
    if (!open) throw new Error(`malformed tag at ${lt}: ${JSON.stringify(text.slice(lt, lt + 60))}`);
    const attrs: Record<string, string> = {};
    for (const [, name, dq, sq] of open[2].matchAll(ATTRIBUTE)) {
      const value = dq ?? sq;
      if (name in attrs) throw new Error(`<${open[1]}> repeats attribute ${name}`);
      checkCharacters(value, `attribute ${name} of <${open[1]}>`);
      attrs[name] = decodeEntities(value);
    }
    const element: XmlElement = { name: open[1], attrs, text: "", children: [] };
    if (stack.length) stack[stack.length - 1].children.push(element);
    else if (root) throw new Error(`a second root element <${open[1]}>`);
    else root = element;
    if (!open[3]) stack.push(element);
    i = lt + open[0].length;
  }
  if (stack.length) throw new Error(`<${stack[stack.length - 1].name}> is not closed`);
  if (!root) throw new Error("no root element");
  return root;
}

/** Every element named `name` below `root`, in document order. */
function findAll(root: XmlElement, name: string): XmlElement[] {
  const out: XmlElement[] = [];
  const walk = (e: XmlElement): void => {
    for (const c of e.children) {
      if (c.name === name) out.push(c);
      walk(c);
    }
  };
  walk(root);
  return out;
}

/** The [x, y] pairs of a polyline's points attribute; every coordinate must be a finite number. */
function polylinePoints(e: XmlElement): [number, number][] {
  return e.attrs.points
    .trim()
    .split(/\s+/)
    .map((pair) => {
      const xy = pair.split(",").map(Number);
      expect(xy.length, `point ${pair}`).toBe(2);
      expect(xy.every(Number.isFinite), `point ${pair}`).toBe(true);
      return xy as [number, number];
    });
}

/** A chart parsed and checked for what every chart must have. */
function parseChart(svg: string, panels: number) {
  const root = parseXml(svg);
  expect(root.name).toBe("svg");
  expect(root.attrs.xmlns).toBe("http://www.w3.org/2000/svg");
  expect(Number(root.attrs.width)).toBe(460 * panels);
  expect(Number(root.attrs.height)).toBe(300);
  expect(root.attrs.viewBox).toBe(`0 0 ${460 * panels} 300`);
  expect(svg, "no NaN or infinite coordinates").not.toMatch(/NaN|Infinity/);
  // Every numeric attribute is a finite number.
  for (const name of ["line", "circle", "rect", "text"]) {
    for (const e of findAll(root, name)) {
      for (const a of ["x", "y", "x1", "x2", "y1", "y2", "cx", "cy", "r"]) {
        if (e.attrs[a] !== undefined && !e.attrs[a].endsWith("%"))
          expect(Number.isFinite(Number(e.attrs[a])), `<${name} ${a}="${e.attrs[a]}">`).toBe(true);
      }
    }
  }
  const panelOf = (x: number): number => Math.floor(x / 460);
  // The plot frame of each panel: the rect with a stroke (the first rect is the white background).
  const frames = findAll(root, "rect").filter((r) => r.attrs.stroke);
  expect(frames.length).toBe(panels);
  const frame = frames.map((r) => ({
    x0: Number(r.attrs.x),
    y0: Number(r.attrs.y),
    x1: Number(r.attrs.x) + Number(r.attrs.width),
    y1: Number(r.attrs.y) + Number(r.attrs.height),
  }));
  const polylines = findAll(root, "polyline").map((e) => ({ stroke: e.attrs.stroke, points: polylinePoints(e) }));
  const circles = findAll(root, "circle").map((e) => ({
    fill: e.attrs.fill,
    x: Number(e.attrs.cx),
    y: Number(e.attrs.cy),
  }));
  const texts = findAll(root, "text").map((e) => ({ text: e.text, x: Number(e.attrs.x) }));
  // The x axis' tick labels, per panel, in document order.
  const xTicks = Array.from({ length: panels }, () => [] as { text: string; x: number }[]);
  for (const e of findAll(root, "text").filter((t) => t.attrs.class === "x-tick"))
    xTicks[Math.floor(Number(e.attrs.x) / 460)]?.push({ text: e.text, x: Number(e.attrs.x) });
  // Every drawn point lies inside its panel's frame (to the 0.1 rounding of the coordinates).
  for (const [x, y] of [...polylines.flatMap((p) => p.points), ...circles.map((c) => [c.x, c.y] as const)]) {
    const f = frame[panelOf(x)];
    expect(f, `point ${x},${y} in no panel`).toBeDefined();
    expect(x).toBeGreaterThanOrEqual(f.x0 - 0.06);
    expect(x).toBeLessThanOrEqual(f.x1 + 0.06);
    expect(y).toBeGreaterThanOrEqual(f.y0 - 0.06);
    expect(y).toBeLessThanOrEqual(f.y1 + 0.06);
  }
  return { root, polylines, circles, texts, xTicks, panelOf, frame };
}

describe("the XML checker used below", () => {
  it("accepts well-formed documents", () => {
    const root = parseXml(
      `<?xml version="1.0"?>\n<a x="1" y='2'><!-- c --><b/>t &amp; &lt;u&gt; &#65;&#x42;<c k="&quot;v&quot;">w</c></a>\n`,
    );
    expect(root.name).toBe("a");
    expect(root.attrs).toEqual({ x: "1", y: "2" });
    expect(root.children.map((c) => c.name)).toEqual(["b", "c"]);
    expect(root.text).toBe("t & <u> AB");
    expect(root.children[1].attrs.k).toBe('"v"');
  });

  it.each([
    ["an unclosed element", "<a><b></a>"],
    ["a mismatched close", "<a><b></c></a>"],
    ["a close without an open", "<a></a></b>"],
    ["a root left open", "<a><b/>"],
    ["an unescaped &", "<a>x & y</a>"],
    ["an unescaped < in text", "<a>x < y</a>"],
    ["an & in an attribute", '<a t="x & y"/>'],
    ["a < in an attribute", '<a t="x < y"/>'],
    ["an unquoted attribute", "<a t=1/>"],
    ["a repeated attribute", '<a t="1" t="2"/>'],
    ["two roots", "<a/><b/>"],
    ["text outside the root", "<a/>tail"],
    ["nothing", ""],
    ["a bad tag name", "<1a/>"],
  ])("refuses %s", (_, doc) => {
    expect(() => parseXml(doc)).toThrow();
  });
});

// ---------------------------------------------------------------------------------------------
// chartSvg and historyChart

describe("chartSvg", () => {
  const panel = (series: Panel["series"], extra: Partial<Panel> = {}): Panel => ({
    title: "T",
    xLabel: "epoch",
    yLabel: "loss",
    series,
    ...extra,
  });

  it("one polyline per series with its points, in the data's order and scale; names in the legend", () => {
    const series = [
      {
        name: "three",
        points: [
          [1, 0.5],
          [2, 0.25],
          [3, 0.125],
        ] as [number, number][],
      },
      {
        name: "five",
        points: [
          [1, 1],
          [2, 0.9],
          [3, 0.7],
          [4, 0.2],
          [5, 0.1],
        ] as [number, number][],
      },
    ];
    const svg = chartSvg([panel(series, { title: "Losses", xLabel: "the epoch", yLabel: "the loss" })]);
    const { polylines, circles, texts } = parseChart(svg, 1);
    expect(polylines.map((p) => p.points.length)).toEqual([3, 5]);
    expect(circles.length).toBe(8);
    expect(new Set(polylines.map((p) => p.stroke)).size, "each series has its own colour").toBe(2);
    // x increases to the right; larger y is higher (smaller SVG y); equal data x -> equal pixel x.
    for (const { points } of polylines) {
      for (let k = 1; k < points.length; k++) expect(points[k][0]).toBeGreaterThan(points[k - 1][0]);
    }
    const [a, b] = polylines.map((p) => p.points);
    for (let k = 1; k < 3; k++) expect(a[k][1]).toBeGreaterThan(a[k - 1][1]); // y falls, so SVG y grows
    for (let k = 0; k < 3; k++) expect(a[k][0]).toBeCloseTo(b[k][0], 5);
    expect(b[0][1]).toBeLessThan(a[0][1]); // 1 is above 0.5
    // Linear: equal data steps, equal pixel steps.
    expect(b[1][0] - b[0][0]).toBeCloseTo(b[4][0] - b[3][0], 0);
    expect((a[0][1] - a[1][1]) / (0.5 - 0.25)).toBeCloseTo((b[3][1] - b[4][1]) / (0.2 - 0.1), -1);
    // Legend and labels.
    const words = texts.map((t) => t.text);
    for (const w of ["three", "five", "Losses", "the epoch", "the loss"]) expect(words, w).toContain(w);
    // Each circle sits on a polyline vertex of the same colour.
    for (const c of circles) {
      const line = polylines.find((p) => p.stroke === c.fill)!;
      expect(
        line.points.some(([x, y]) => Math.abs(x - c.x) < 1e-9 && Math.abs(y - c.y) < 1e-9),
        `circle ${c.x},${c.y}`,
      ).toBe(true);
    }
  });

  it("panels side by side: width 460 per panel, each panel's series drawn in its own half", () => {
    const left = panel([
      {
        name: "L",
        points: [
          [0, 0],
          [1, 1],
        ],
      },
    ]);
    const right = panel([
      {
        name: "R1",
        points: [
          [0, 5],
          [10, 6],
          [20, 4],
        ],
      },
      {
        name: "R2",
        points: [
          [0, 1],
          [20, 2],
        ],
      },
    ]);
    const { polylines, panelOf, texts } = parseChart(chartSvg([left, right]), 2);
    expect(polylines.map((p) => [p.points.length, ...new Set(p.points.map(([x]) => panelOf(x)))])).toEqual([
      [2, 0],
      [3, 1],
      [2, 1],
    ]);
    expect(texts.filter((t) => t.text === "T").map((t) => panelOf(t.x))).toEqual([0, 1]);
    expect(texts.find((t) => t.text === "R2") && panelOf(texts.find((t) => t.text === "R2")!.x)).toBe(1);
  });

  it('escapes "<", "&", ">" and quotes in names, titles and labels', () => {
    const name = 'a<b & "c" > d';
    const svg = chartSvg([
      panel(
        [
          {
            name,
            points: [
              [0, 1],
              [1, 2],
            ],
          },
        ],
        { title: "x<y&z", xLabel: "<x>", yLabel: "R&D" },
      ),
    ]);
    const { texts } = parseChart(svg, 1);
    const words = texts.map((t) => t.text);
    for (const w of [name, "x<y&z", "<x>", "R&D"]) expect(words, w).toContain(w);
    expect(svg).toContain("a&lt;b &amp; &quot;c&quot; &gt; d");
    expect(svg).not.toContain("a<b");
    expect(svg).not.toContain("R&D");
  });

  it("skips NaN and infinite points: the polyline has the finite ones only", () => {
    const svg = chartSvg([
      panel([
        {
          name: "gaps",
          points: [
            [1, 0.3],
            [2, NaN],
            [3, 0.5],
            [4, Infinity],
            [5, 0.4],
            [NaN, 0.2],
          ],
        },
        {
          name: "no finite point",
          points: [
            [1, NaN],
            [2, NaN],
          ],
        },
        {
          name: "fine",
          points: [
            [1, 0.1],
            [5, 0.9],
          ],
        },
      ]),
    ]);
    const { polylines, circles, texts } = parseChart(svg, 1);
    expect(polylines.map((p) => p.points.length)).toEqual([3, 2]);
    expect(circles.length).toBe(5);
    // The NaN series draws nothing but is still in the legend.
    expect(texts.map((t) => t.text)).toEqual(expect.arrayContaining(["gaps", "no finite point", "fine"]));
  });

  it("a single point is a dot, no polyline, inside the frame; also when it is the whole chart", () => {
    const one = parseChart(chartSvg([panel([{ name: "lonely", points: [[3, 0.7]] }])]), 1);
    expect(one.polylines.length).toBe(0);
    expect(one.circles.length).toBe(1);
    expect(one.texts.map((t) => t.text)).toContain("lonely");
    // Single points of several series at different heights: still ordered by y.
    const many = parseChart(
      chartSvg([
        panel([
          { name: "low", points: [[1, 0.2]] },
          { name: "high", points: [[1, 0.9]] },
        ]),
      ]),
      1,
    );
    expect(many.polylines.length).toBe(0);
    expect(many.circles.map((c) => c.x)).toEqual([many.circles[0].x, many.circles[0].x]);
    expect(many.circles[1].y).toBeLessThan(many.circles[0].y);
    // No points at all, and no series at all.
    parseChart(chartSvg([panel([{ name: "empty", points: [] }])]), 1);
    parseChart(chartSvg([panel([])]), 1);
  });

  it("y ticks use the panel's format; percentTick writes whole and tenth percents", () => {
    expect(percentTick(0.9)).toBe("90%");
    expect(percentTick(0.925)).toBe("92.5%");
    const { texts } = parseChart(
      chartSvg([
        panel(
          [
            {
              name: "acc",
              points: [
                [1, 0.8],
                [2, 0.95],
              ],
            },
          ],
          { yFormat: percentTick },
        ),
      ]),
      1,
    );
    const ticks = texts.filter((t) => /^\d+(\.\d)?%$/.test(t.text));
    expect(ticks.length).toBeGreaterThanOrEqual(3);
  });
});

describe("axisTicks", () => {
  // Ranges of every scale, for both kinds of axis.
  const ranges: [number, number][] = [];
  for (const lo of [0, 1, 0.3, -2, 17])
    for (const span of [0.05, 0.5, 1, 2, 3, 7, 10, 99, 250, 12345]) ranges.push([lo, lo + span]);

  it("round values inside [lo, hi], evenly spaced, about `count` of them", () => {
    for (const [lo, hi] of ranges) {
      for (const count of [4, 5, 8]) {
        const t = axisTicks(lo, hi, count);
        expect(t.length, `${lo}..${hi}`).toBeGreaterThanOrEqual(2);
        expect(t.length, `${lo}..${hi}`).toBeLessThanOrEqual(2 * count + 1);
        expect(t[0]).toBeGreaterThanOrEqual(lo - 1e-9);
        expect(t[t.length - 1]).toBeLessThanOrEqual(hi + 1e-9);
        const step = t[1] - t[0];
        const mantissa = Number((step / 10 ** Math.floor(Math.log10(step))).toPrecision(6));
        expect([1, 2, 2.5, 5], `${lo}..${hi} step ${step}`).toContain(mantissa);
        for (let k = 1; k < t.length; k++) expect(t[k] - t[k - 1]).toBeCloseTo(step, 9);
      }
    }
  });

  it("with integers: whole numbers only, steps of 1, 2 or 5 times a power of ten, covering the range's whole numbers", () => {
    // The SVG charts ask for about 5; the demo's epoch axis (0 to the run's epochs) for up to 8.
    const axes = [
      ...ranges.flatMap(([lo, hi]) => [
        [lo, hi, 5],
        [lo, hi, 8],
      ]),
      ...Array.from({ length: 100 }, (_, i) => [0, i + 1, Math.min(i + 1, 8)]),
    ];
    for (const [lo, hi, count] of axes) {
      const t = axisTicks(lo, hi, count, { integers: true });
      const what = `${lo}..${hi} by about ${count}`;
      for (const v of t) expect(Number.isInteger(v), `${what}: ${t.join(" ")}`).toBe(true);
      const wholes = Math.floor(hi) - Math.ceil(lo) + 1; // whole numbers in the range
      if (wholes >= 2) {
        expect(t.length, what).toBeGreaterThanOrEqual(2);
        const step = t[1] - t[0];
        expect(step).toBeGreaterThanOrEqual(1);
        expect([1, 2, 5], `${what}: step ${step}`).toContain(step / 10 ** Math.floor(Math.log10(step)));
        // No whole number of the range is a full step from a tick: the ticks span the axis.
        expect(t[0] - Math.ceil(lo)).toBeLessThan(step);
        expect(Math.floor(hi) - t[t.length - 1]).toBeLessThan(step);
      } else {
        expect(t.length, what).toBe(wholes);
      }
      for (const v of t) {
        expect(v).toBeGreaterThanOrEqual(lo);
        expect(v).toBeLessThanOrEqual(hi);
      }
    }
  });
});

describe("historyChart", () => {
  const record = (epoch: number, loss: number, trainAccuracy: number, testAccuracy?: number) => ({
    epoch,
    loss,
    trainAccuracy,
    ...(testAccuracy !== undefined ? { testAccuracy } : {}),
  });

  it("one run: a loss panel (train) and an accuracy panel (train, test) with a point per epoch", () => {
    const history = [record(1, 0.9, 0.7, 0.72), record(2, 0.5, 0.85, 0.84), record(3, 0.3, 0.9, 0.88)];
    const { polylines, texts, panelOf } = parseChart(historyChart([{ name: "ignored", history }]), 2);
    expect(polylines.map((p) => [panelOf(p.points[0][0]), p.points.length])).toEqual([
      [0, 3],
      [1, 3],
      [1, 3],
    ]);
    const legend = texts.filter((t) => ["train", "test"].includes(t.text)).map((t) => [t.text, panelOf(t.x)]);
    expect(legend).toEqual([
      ["train", 0],
      ["train", 1],
      ["test", 1],
    ]);
    expect(texts.map((t) => t.text)).not.toContain("ignored");
    expect(texts.map((t) => t.text)).toEqual(expect.arrayContaining(["Training loss", "Accuracy"]));
    // The loss falls (the line goes down the page); the test curve is the third line.
    const [loss, train, test] = polylines.map((p) => p.points);
    expect(loss[2][1]).toBeGreaterThan(loss[0][1]);
    expect(test[2][1]).toBeLessThan(test[0][1]);
    // Test above train in epoch 1 (72% > 70%), below it in epochs 2 and 3.
    expect(test[0][1]).toBeLessThan(train[0][1]);
    expect(test[1][1]).toBeGreaterThan(train[1][1]);
    expect(test[2][1]).toBeGreaterThan(train[2][1]);
  });

  it("epoch axes are labelled with whole epochs only, under their points, for runs of any length", () => {
    const run = (name: string, epochs: number) => ({
      name,
      history: Array.from({ length: epochs }, (_, i) =>
        record(i + 1, 1 / (i + 2), 0.5 + i / (4 * epochs), 0.5 + i / (4 * epochs)),
      ),
    });
    const cases = [1, 2, 3, 4, 5, 6, 7, 9, 10, 12, 15, 30, 100].map((n) => [run("r", n)]);
    cases.push([run("two", 2), run("three", 3)], [run("one", 1), run("twelve", 12)]);
    for (const runs of cases) {
      const chart = parseChart(historyChart(runs), 2);
      const last = Math.max(...runs.map((r) => r.history.length));
      for (const panel of [0, 1]) {
        const labels = chart.xTicks[panel].map((t) => t.text);
        const what = `${runs.map((r) => r.history.length).join("+")} epochs, panel ${panel}: ${labels.join(" ")}`;
        expect(labels.length, what).toBeGreaterThanOrEqual(2);
        for (const label of labels) expect(label, what).toMatch(/^[1-9]\d*$/);
        const epochs = labels.map(Number);
        expect(epochs[0], what).toBeGreaterThanOrEqual(1);
        expect(epochs[epochs.length - 1], what).toBeLessThanOrEqual(Math.max(last, 2));
        // A tick labelled e stands under epoch e's points.
        for (const tick of chart.xTicks[panel]) {
          const dot = chart.circles.find((c) => chart.panelOf(c.x) === panel && Math.abs(c.x - tick.x) < 0.06);
          if (Number(tick.text) <= last) expect(dot, `${what}: a point above ${tick.text}`).toBeDefined();
        }
      }
    }
  });

  it("without test accuracy the test curve is skipped, not drawn at NaN", () => {
    const history = [record(1, 0.9, 0.7), record(2, 0.5, 0.85)];
    const { polylines, circles, texts } = parseChart(historyChart([{ name: "run", history }]), 2);
    expect(polylines.map((p) => p.points.length)).toEqual([2, 2]);
    expect(circles.length).toBe(4);
    expect(texts.map((t) => t.text)).toContain("test");
  });

  it("several runs: one curve per run in each panel, named (and escaped) in the legend", () => {
    const runs = [
      { name: "hidden 10", history: [record(1, 1.2, 0.6, 0.61), record(2, 0.8, 0.75, 0.74)] },
      { name: "a<b & c", history: [record(1, 0.7, 0.8, 0.82), record(2, 0.4, 0.9, 0.9)] },
      { name: "one epoch", history: [record(1, 0.6, 0.85, 0.86)] },
    ];
    const svg = historyChart(runs);
    const { polylines, circles, texts, panelOf } = parseChart(svg, 2);
    expect(polylines.map((p) => [panelOf(p.points[0][0]), p.points.length])).toEqual([
      [0, 2],
      [0, 2],
      [1, 2],
      [1, 2],
    ]);
    expect(circles.length).toBe(10);
    for (const name of runs.map((r) => r.name)) {
      expect(
        texts.filter((t) => t.text === name).map((t) => panelOf(t.x)),
        name,
      ).toEqual([0, 1]);
    }
    expect(svg).toContain("a&lt;b &amp; c");
  });
});

// ---------------------------------------------------------------------------------------------
// The CLI

const tmp = mkdtempSync(join(tmpdir(), "mnist-wasm-report-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

interface HistoryRecord {
  epoch: number;
  loss: number;
  trainAccuracy: number;
  testAccuracy: number;
  seconds: number;
}

function expectRecords(history: unknown, epochs: number[]): HistoryRecord[] {
  expect(Array.isArray(history)).toBe(true);
  const records = history as HistoryRecord[];
  expect(records.map((r) => r.epoch)).toEqual(epochs);
  for (const r of records) {
    for (const key of ["epoch", "loss", "trainAccuracy", "testAccuracy", "seconds"] as const) {
      expect(typeof r[key], `${key} of epoch ${r.epoch}`).toBe("number");
      expect(Number.isFinite(r[key]), `${key} of epoch ${r.epoch}`).toBe(true);
    }
    expect(r.loss).toBeGreaterThan(0);
    expect(r.trainAccuracy).toBeGreaterThan(0.1);
    expect(r.trainAccuracy).toBeLessThanOrEqual(1);
    expect(r.testAccuracy).toBeGreaterThan(0.1);
    expect(r.testAccuracy).toBeLessThanOrEqual(1);
    expect(r.seconds).toBeGreaterThan(0);
  }
  return records;
}

describe("mnist-wasm train: history beside the model", () => {
  it("writes <model>.history.json and .svg, and a resumed run continues them", { timeout: 900_000 }, () => {
    const out = join(tmp, "m.safetensors");
    const first = run(["train", "--limit", "2000", "--epochs", "2", "--hidden", "16", "--out", out, "--no-progress"]);
    expect(first.code, first.stderr).toBe(0);
    expect(existsSync(out)).toBe(true);
    expect(first.stdout).toContain(join(tmp, "m.history.json"));
    const records = expectRecords(JSON.parse(readFileSync(join(tmp, "m.history.json"), "utf8")), [1, 2]);
    expect(records[1].loss).toBeLessThan(records[0].loss);
    const svg = readFileSync(join(tmp, "m.history.svg"), "utf8");
    const chart = parseChart(svg, 2);
    // loss (train), accuracy (train, test): two epochs each, on axes labelled 1 and 2 alone.
    expect(chart.polylines.map((p) => p.points.length)).toEqual([2, 2, 2]);
    expect(chart.xTicks.map((ticks) => ticks.map((t) => t.text))).toEqual([
      ["1", "2"],
      ["1", "2"],
    ]);

    const second = run(["train", "--init-from", out, "--epochs", "1", "--out", out, "--no-progress"]);
    expect(second.code, second.stderr).toBe(0);
    expect(second.stdout).toMatch(/epoch 3\/3/);
    const resumed = expectRecords(JSON.parse(readFileSync(join(tmp, "m.history.json"), "utf8")), [1, 2, 3]);
    expect(resumed.slice(0, 2), "the earlier epochs are kept as they were").toEqual(records);
    const chart2 = parseChart(readFileSync(join(tmp, "m.history.svg"), "utf8"), 2);
    expect(chart2.polylines.map((p) => p.points.length)).toEqual([3, 3, 3]);
  });
});

describe("mnist-wasm experiment", () => {
  it("hidden-sizes: a markdown table with a row per configuration, and .md, .json, .svg files", {
    timeout: 900_000,
  }, () => {
    const dir = join(tmp, "experiments");
    const r = run(["experiment", "hidden-sizes", "--epochs", "1", "--limit", "2000", "--out-dir", dir]);
    expect(r.code, r.stderr).toBe(0);
    const names = ["hidden 10", "hidden 100", "hidden 1000"];
    // The table: header, separator, one row per configuration, all with the same number of cells.
    const lines = r.stdout.split("\n");
    const header = lines.findIndex((l) => l.startsWith("| hidden-sizes |"));
    expect(header, r.stdout).toBeGreaterThanOrEqual(0);
    const table = lines.slice(header, header + 2 + names.length);
    expect(lines[header + 2 + names.length] ?? "", "nothing after the rows").not.toMatch(/^\|/);
    const cells = (line: string): string[] =>
      line
        .split("|")
        .slice(1, -1)
        .map((c) => c.trim());
    expect(table.every((l) => l.startsWith("|") && l.endsWith("|"))).toBe(true);
    const width = cells(table[0]).length;
    expect(width).toBeGreaterThanOrEqual(3);
    expect(cells(table[1]).length).toBe(width);
    expect(cells(table[1]).every((c) => /^:?-{3,}:?$/.test(c))).toBe(true);
    expect(table.slice(2).map((l) => cells(l).length)).toEqual(names.map(() => width));
    expect(table.slice(2).map((l) => cells(l)[0])).toEqual(names);
    for (const row of table.slice(2)) expect(row).toMatch(/\d+(\.\d+)?%/);

    const base = join(dir, "experiment-hidden-sizes");
    const md = readFileSync(`${base}.md`, "utf8");
    for (const line of table) expect(md).toContain(line);
    const json = JSON.parse(readFileSync(`${base}.json`, "utf8")) as { name: string; history: unknown }[];
    expect(json.map((t) => t.name)).toEqual(names);
    for (const t of json) expectRecords(t.history, [1]);
    const chart = parseChart(readFileSync(`${base}.svg`, "utf8"), 2);
    // One epoch each: a dot per configuration in each panel, named in each legend.
    expect(chart.polylines.length).toBe(0);
    expect(chart.circles.map((c) => chart.panelOf(c.x))).toEqual([0, 0, 0, 1, 1, 1]);
    for (const name of names)
      expect(
        chart.texts.filter((t) => t.text === name).map((t) => chart.panelOf(t.x)),
        name,
      ).toEqual([0, 1]);
  });

  it("an unknown experiment: one line on stderr, non-zero exit, nothing written", () => {
    const dir = join(tmp, "unknown");
    const r = run(["experiment", "no-such-thing", "--epochs", "1", "--out-dir", dir]);
    expect(r.code, "a usage error").toBe(2);
    const lines = r.stderr.trim().split("\n");
    expect(lines.length, r.stderr).toBe(1);
    expect(lines[0]).toMatch(/^mnist-wasm: unknown experiment "no-such-thing"/);
    expect(lines[0], "the known names").toContain("hidden-sizes");
    expect(r.stderr).not.toMatch(/\n\s+at /);
    expect(existsSync(dir)).toBe(false);
  });
});
