// Line charts as standalone SVG text: no DOM, no dependencies, so the same code writes chart
// files from the CLI and draws charts in a page.
import { describeValue } from "../args";
import { fail } from "../errors";

export interface Series {
  name: string;
  /** [x, y] points, x ascending. */
  points: [number, number][];
}

export interface Panel {
  title: string;
  xLabel: string;
  yLabel: string;
  series: Series[];
  /** Format of y tick labels, e.g. percentages. */
  yFormat?: (y: number) => string;
  /** Corner of the legend: "top" (right) for falling curves, "bottom" (right) for rising ones. */
  legend?: "top" | "bottom";
  /** x counts whole things (epochs): its ticks are whole numbers only. */
  xIntegers?: boolean;
}

export const COLORS = ["#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c", "#0891b2", "#ca8a04", "#db2777"];
const PANEL_W = 460;
const PANEL_H = 300;
const MARGIN = { left: 60, right: 16, top: 34, bottom: 44 };

export const escapeXml = (s: string): string =>
  s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");

/**
 * About `count` round tick values covering [lo, hi]: steps of 1, 2, 2.5 or 5 times a power of ten.
 * With `integers` (an axis of epochs), whole numbers only: steps of 1, 2 or 5 times a power of ten,
 * never below 1. Shared with the demo's canvas charts (demo/train-chart.ts).
 */
export function axisTicks(lo: number, hi: number, count: number, { integers = false } = {}): number[] {
  if (!(hi > lo)) return !integers || Number.isInteger(lo) ? [lo] : [];
  const raw = (hi - lo) / count;
  const power = 10 ** Math.floor(Math.log10(raw));
  const found =
    (integers ? [1, 2, 5, 10] : [1, 2, 2.5, 5, 10]).map((m) => m * power).find((s) => s >= raw * 0.999) ?? raw;
  const step = integers ? Math.max(1, Math.round(found)) : found;
  const out: number[] = [];
  for (let t = Math.ceil(lo / step - 1e-9) * step; t <= hi + step * 1e-9; t += step)
    out.push(Number(t.toPrecision(12)));
  return out;
}

function panelSvg(panel: Panel, offsetX: number): string {
  const all = panel.series.flatMap((s) => s.points).filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y));
  const xs = all.map((p) => p[0]);
  const ys = all.map((p) => p[1]);
  let [x0, x1] = [Math.min(...xs), Math.max(...xs)];
  let [y0, y1] = [Math.min(...ys), Math.max(...ys)];
  if (!all.length) [x0, x1, y0, y1] = [0, 1, 0, 1];
  if (x1 === x0) x1 = x0 + 1;
  if (y1 === y0) [y0, y1] = [y0 - 0.5, y1 + 0.5];
  const pad = (y1 - y0) * 0.05;
  [y0, y1] = [y0 - pad, y1 + pad];
  const w = PANEL_W - MARGIN.left - MARGIN.right;
  const h = PANEL_H - MARGIN.top - MARGIN.bottom;
  const sx = (x: number): number => offsetX + MARGIN.left + ((x - x0) / (x1 - x0)) * w;
  const sy = (y: number): number => MARGIN.top + h - ((y - y0) / (y1 - y0)) * h;
  const fmt = panel.yFormat ?? ((y: number) => String(Number(y.toPrecision(3))));
  const parts: string[] = [];
  parts.push(
    `<text x="${offsetX + PANEL_W / 2}" y="20" text-anchor="middle" font-size="15" font-weight="600">${escapeXml(panel.title)}</text>`,
  );
  for (const t of axisTicks(y0, y1, 5)) {
    parts.push(`<line x1="${sx(x0)}" x2="${sx(x1)}" y1="${sy(t)}" y2="${sy(t)}" stroke="#e5e7eb"/>`);
    parts.push(
      `<text class="y-tick" x="${sx(x0) - 6}" y="${sy(t) + 4}" text-anchor="end" font-size="11" fill="#4b5563">${escapeXml(fmt(t))}</text>`,
    );
  }
  for (const t of axisTicks(x0, x1, 5, { integers: panel.xIntegers })) {
    parts.push(
      `<text class="x-tick" x="${sx(t)}" y="${MARGIN.top + h + 16}" text-anchor="middle" font-size="11" fill="#4b5563">${t}</text>`,
    );
  }
  parts.push(`<rect x="${sx(x0)}" y="${MARGIN.top}" width="${w}" height="${h}" fill="none" stroke="#9ca3af"/>`);
  parts.push(
    `<text x="${offsetX + MARGIN.left + w / 2}" y="${PANEL_H - 8}" text-anchor="middle" font-size="12">${escapeXml(panel.xLabel)}</text>`,
  );
  parts.push(
    `<text transform="translate(${offsetX + 14},${MARGIN.top + h / 2}) rotate(-90)" text-anchor="middle" font-size="12">${escapeXml(panel.yLabel)}</text>`,
  );
  panel.series.forEach((s, i) => {
    const color = COLORS[i % COLORS.length];
    const pts = s.points.filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y));
    if (pts.length > 1) {
      parts.push(
        `<polyline fill="none" stroke="${color}" stroke-width="2" points="${pts.map(([x, y]) => `${sx(x).toFixed(1)},${sy(y).toFixed(1)}`).join(" ")}"/>`,
      );
    }
    for (const [x, y] of pts)
      parts.push(`<circle cx="${sx(x).toFixed(1)}" cy="${sy(y).toFixed(1)}" r="2.5" fill="${color}"/>`);
    const ly =
      panel.legend === "bottom" ? MARGIN.top + h - 8 - (panel.series.length - 1 - i) * 16 : MARGIN.top + 14 + i * 16;
    parts.push(
      `<line x1="${sx(x1) - 120}" x2="${sx(x1) - 104}" y1="${ly - 4}" y2="${ly - 4}" stroke="${color}" stroke-width="3"/>`,
    );
    parts.push(`<text x="${sx(x1) - 100}" y="${ly}" font-size="11">${escapeXml(s.name)}</text>`);
  });
  return parts.join("\n");
}

/** Panels side by side in one SVG document. */
export function chartSvg(panels: Panel[]): string {
  if (!Array.isArray(panels)) fail("BAD_ARGUMENT", `chartSvg: panels must be an array, got ${describeValue(panels)}`);
  const width = PANEL_W * panels.length;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${PANEL_H}" viewBox="0 0 ${width} ${PANEL_H}" font-family="system-ui, sans-serif">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    ...panels.map((p, i) => panelSvg(p, i * PANEL_W)),
    "</svg>",
    "",
  ].join("\n");
}

export const percentTick = (y: number): string =>
  `${(y * 100).toFixed(Math.abs(y * 100 - Math.round(y * 100)) < 1e-6 ? 0 : 1)}%`;

/** What historyChart() draws of an epoch: EpochRecord's fields (sdk/train.ts). */
export interface ChartedEpoch {
  epoch: number;
  loss: number;
  trainAccuracy?: number;
  testAccuracy?: number;
  testLoss?: number;
  reconstruction?: number;
  testReconstruction?: number;
  kl?: number;
  testKl?: number;
}

/**
 * The loss and accuracy curves of one or more training histories; for an autoencoder or VAE
 * (records with a reconstruction loss), the loss of train and test, then the reconstruction
 * loss and a VAE's KL divergence.
 */
export function historyChart(runs: { name: string; history: ChartedEpoch[] }[]): string {
  if (!Array.isArray(runs) || !runs.every((r) => Array.isArray(r?.history)))
    fail(
      "BAD_ARGUMENT",
      `historyChart: runs must be an array of { name, history: EpochRecord[] }, got ${describeValue(runs)}`,
    );
  const single = runs.length === 1;
  const curve = (history: ChartedEpoch[], value: (h: ChartedEpoch) => number | undefined): [number, number][] =>
    history.map((h) => [h.epoch, value(h) ?? NaN]);
  if (single && runs[0].history.some((h) => h.reconstruction !== undefined)) {
    const history = runs[0].history;
    const loss: Panel = {
      title: history.some((h) => h.kl !== undefined) ? "Loss (reconstruction + KL)" : "Reconstruction loss",
      xLabel: "epoch",
      yLabel: "mean loss an image",
      xIntegers: true,
      series: [
        { name: "train", points: curve(history, (h) => h.loss) },
        { name: "test", points: curve(history, (h) => h.testLoss) },
      ],
    };
    if (!history.some((h) => h.kl !== undefined)) return chartSvg([loss]);
    return chartSvg([
      loss,
      {
        title: "KL divergence",
        xLabel: "epoch",
        yLabel: "nats an image",
        legend: "bottom",
        xIntegers: true,
        series: [
          { name: "train", points: curve(history, (h) => h.kl) },
          { name: "test", points: curve(history, (h) => h.testKl) },
        ],
      },
    ]);
  }
  return chartSvg([
    {
      title: "Training loss",
      xLabel: "epoch",
      yLabel: "mean loss",
      xIntegers: true,
      series: runs.map((r) => ({
        name: single ? "train" : r.name,
        points: curve(r.history, (h) => h.loss),
      })),
    },
    {
      title: "Accuracy",
      xLabel: "epoch",
      yLabel: "accuracy",
      yFormat: percentTick,
      legend: "bottom",
      xIntegers: true,
      series: single
        ? [
            { name: "train", points: curve(runs[0].history, (h) => h.trainAccuracy) },
            { name: "test", points: curve(runs[0].history, (h) => h.testAccuracy) },
          ]
        : runs.map((r) => ({ name: r.name, points: curve(r.history, (h) => h.testAccuracy) })),
    },
  ]);
}
