// A live line chart on a canvas, in the page's dark style: the loss and accuracy curves of the
// training panel, redrawn as points arrive. (sdk/report/chart.ts writes the CLI's SVG charts on
// white; a canvas redraws a growing curve without rebuilding a document each time.) Both take
// their ticks from axisTicks.
import { axisTicks } from "../sdk/report/chart";

export interface ChartSeries {
  name: string;
  color: string;
  /** [x, y] points, x ascending. */
  points: [number, number][];
  /** Mark every point (sparse series such as one test accuracy per epoch). */
  dots?: boolean;
}

export interface ChartOptions {
  /** Tick labels of the y axis. */
  yFormat: (y: number) => string;
  /** Fixed ends of the y axis; unset ends follow the data. */
  yMin?: number;
  yMax?: number;
  /** Where the legend sits: over falling curves "top", over rising ones "bottom". */
  legend: "top" | "bottom";
}

const FONT = '11px ui-sans-serif, system-ui, -apple-system, "Segoe UI", Roboto, sans-serif';
const GRID = "#222938";
const AXIS_TEXT = "#8891a3";
const MARGIN = { left: 44, right: 12, top: 10, bottom: 24 };

export class LineChart {
  private series: ChartSeries[] = [];
  private xMax = 1;
  private readonly ctx: CanvasRenderingContext2D;

  constructor(
    private readonly canvas: HTMLCanvasElement,
    private options: ChartOptions,
  ) {
    this.ctx = canvas.getContext("2d")!;
    // The canvas follows its CSS size (and the screen's pixel ratio), so lines stay sharp.
    new ResizeObserver(() => this.draw()).observe(canvas);
  }

  /** Replaces the axes' options (the next set() or resize redraws with them). */
  configure(options: ChartOptions): void {
    this.options = options;
  }

  /** Sets the curves and the x axis' end (0 to xMax), and redraws. */
  set(series: ChartSeries[], xMax: number): void {
    this.series = series;
    this.xMax = xMax > 0 ? xMax : 1;
    this.draw();
  }

  draw(): void {
    const { canvas, ctx, options } = this;
    const dpr = globalThis.devicePixelRatio || 1;
    const cssWidth = canvas.clientWidth;
    const cssHeight = canvas.clientHeight;
    if (cssWidth === 0 || cssHeight === 0) return;
    if (canvas.width !== Math.round(cssWidth * dpr) || canvas.height !== Math.round(cssHeight * dpr)) {
      canvas.width = Math.round(cssWidth * dpr);
      canvas.height = Math.round(cssHeight * dpr);
    }
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, cssWidth, cssHeight);
    ctx.font = FONT;

    const ys = this.series.flatMap((s) => s.points.map((p) => p[1])).filter(Number.isFinite);
    let y0 = options.yMin ?? (ys.length ? Math.min(...ys) : 0);
    let y1 = options.yMax ?? (ys.length ? Math.max(...ys) : 1);
    if (!(y1 > y0)) [y0, y1] = [y0 - 0.5, y0 + 0.5];
    const yTicks = axisTicks(y0, y1, 4);
    // Open ends snap outwards to a tick, so the curve never touches the frame.
    const step = yTicks.length > 1 ? yTicks[1] - yTicks[0] : 1;
    if (options.yMin === undefined && yTicks[0] > y0) yTicks.unshift(Number((yTicks[0] - step).toPrecision(12)));
    if (options.yMin === undefined) y0 = yTicks[0];
    if (options.yMax === undefined && yTicks[yTicks.length - 1] < y1)
      yTicks.push(Number((yTicks[yTicks.length - 1] + step).toPrecision(12)));
    if (options.yMax === undefined) y1 = yTicks[yTicks.length - 1];
    const w = cssWidth - MARGIN.left - MARGIN.right;
    const h = cssHeight - MARGIN.top - MARGIN.bottom;
    const sx = (x: number): number => MARGIN.left + (x / this.xMax) * w;
    const sy = (y: number): number => MARGIN.top + h - ((y - y0) / (y1 - y0)) * h;

    ctx.lineWidth = 1;
    ctx.textBaseline = "middle";
    ctx.textAlign = "right";
    for (const t of yTicks) {
      if (t < y0 - 1e-9 || t > y1 + 1e-9) continue;
      const y = Math.round(sy(t)) + 0.5;
      ctx.strokeStyle = GRID;
      ctx.beginPath();
      ctx.moveTo(MARGIN.left, y);
      ctx.lineTo(MARGIN.left + w, y);
      ctx.stroke();
      ctx.fillStyle = AXIS_TEXT;
      ctx.fillText(options.yFormat(t), MARGIN.left - 8, y);
    }
    ctx.textAlign = "center";
    ctx.textBaseline = "top";
    // Whole epochs only, however short the run.
    const xTicks = axisTicks(0, this.xMax, Math.min(this.xMax, 8), { integers: true });
    for (const t of xTicks) ctx.fillText(String(t), sx(t), MARGIN.top + h + 7);
    canvas.dataset.xTicks = xTicks.join(" "); // the labels drawn, for a test to read
    // The x axis' name goes under the y labels, where no tick can collide with it.
    ctx.textAlign = "right";
    ctx.fillText("epoch", MARGIN.left - 8, MARGIN.top + h + 7);

    ctx.save();
    ctx.beginPath();
    ctx.rect(MARGIN.left, MARGIN.top - 4, w + 4, h + 8);
    ctx.clip();
    ctx.lineJoin = "round";
    ctx.lineCap = "round";
    for (const s of this.series) {
      const pts = s.points.filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y));
      ctx.strokeStyle = s.color;
      ctx.fillStyle = s.color;
      ctx.lineWidth = 2;
      if (pts.length > 1) {
        ctx.beginPath();
        pts.forEach(([x, y], i) => (i === 0 ? ctx.moveTo(sx(x), sy(y)) : ctx.lineTo(sx(x), sy(y))));
        ctx.stroke();
      }
      if (s.dots || pts.length === 1) {
        for (const [x, y] of pts) {
          ctx.beginPath();
          ctx.arc(sx(x), sy(y), 3.5, 0, 2 * Math.PI);
          ctx.fill();
        }
      }
    }
    ctx.restore();

    // Legend: a swatch and a name per series, in one row at the top or bottom right.
    ctx.textAlign = "left";
    ctx.textBaseline = "middle";
    const widths = this.series.map((s) => ctx.measureText(s.name).width + 26);
    let x = MARGIN.left + w - widths.reduce((a, b) => a + b, 0) - 4;
    const y = options.legend === "top" ? MARGIN.top + 10 : MARGIN.top + h - 10;
    this.series.forEach((s, i) => {
      ctx.fillStyle = s.color;
      ctx.fillRect(x, y - 1.5, 12, 3);
      ctx.fillStyle = AXIS_TEXT;
      ctx.fillText(s.name, x + 16, y);
      x += widths[i];
    });
  }
}
