// The codes of an autoencoder or VAE on a canvas: one dot per test image at its first two code
// values, coloured by class (the SDK's classColor, as in the CLI's NAME.latent.svg), with axes
// and a legend, in the page's dark style. The latent-space panel decodes the point under the
// pointer through codeAt(), which maps canvas positions to codes on the axes drawn; the training
// panel redraws it after every epoch. (sdk/report/latent.ts writes the same plot as SVG on white
// for files; a canvas redraws a few thousand dots at once and is read back by the tests.)
import { classColor } from "../sdk/index";
import { axisTicks } from "../sdk/report/chart";

export interface LatentPoints {
  /** Codes [count, latent] row-major: dimension 0 across, dimension 1 up. */
  codes: Float32Array;
  latent: number;
  labels: ArrayLike<number>;
  classes: readonly string[];
}

/** The code values at the plot's edges. */
export interface LatentBox {
  x0: number;
  x1: number;
  y0: number;
  y1: number;
}

const FONT = '11px ui-sans-serif, system-ui, -apple-system, "Segoe UI", Roboto, sans-serif';
const FRAME = "#2b3342";
const AXIS_TEXT = "#8891a3";
const MARGIN = { left: 40, right: 44, top: 8, bottom: 24 };
/** Dots are opaque, so a dot's centre is exactly its class colour (the tests count them). */
const DOT_RADIUS = 2;

export class LatentPlot {
  private points: LatentPoints | undefined;
  private box: LatentBox = { x0: -3, x1: 3, y0: -3, y1: 3 };
  private readonly ctx: CanvasRenderingContext2D;

  constructor(private readonly canvas: HTMLCanvasElement) {
    this.ctx = canvas.getContext("2d")!;
    // The canvas follows its CSS size (and the screen's pixel ratio), so dots stay round and sharp.
    new ResizeObserver(() => this.draw()).observe(canvas);
  }

  /** The code values at the edges of the plot. */
  get bounds(): LatentBox {
    return { ...this.box };
  }

  /** Plots `points` on axes that fit them (4% to spare on each side), and redraws. */
  set(points: LatentPoints): void {
    this.points = points;
    const { codes, latent } = points;
    let [x0, x1, y0, y1] = [Infinity, -Infinity, Infinity, -Infinity];
    for (let i = 0; i < codes.length; i += latent) {
      const x = codes[i];
      const y = latent > 1 ? codes[i + 1] : 0;
      if (x < x0) x0 = x;
      if (x > x1) x1 = x;
      if (y < y0) y0 = y;
      if (y > y1) y1 = y;
    }
    if (!(x1 > x0)) [x0, x1] = [x0 - 1, x0 + 1];
    if (!(y1 > y0)) [y0, y1] = [y0 - 1, y0 + 1];
    const [padX, padY] = [(x1 - x0) * 0.04, (y1 - y0) * 0.04];
    this.box = { x0: x0 - padX, x1: x1 + padX, y0: y0 - padY, y1: y1 + padY };
    this.draw();
  }

  /** Removes the dots (the axes stay as they were), and redraws. */
  clear(): void {
    this.points = undefined;
    this.draw();
  }

  /** The plot's area in CSS pixels of the canvas. */
  private area(): { left: number; top: number; width: number; height: number } {
    return {
      left: MARGIN.left,
      top: MARGIN.top,
      width: Math.max(1, this.canvas.clientWidth - MARGIN.left - MARGIN.right),
      height: Math.max(1, this.canvas.clientHeight - MARGIN.top - MARGIN.bottom),
    };
  }

  /** The code at (x, y) CSS pixels from the canvas' top left corner; undefined outside the plot's area. */
  codeAt(x: number, y: number): [number, number] | undefined {
    const a = this.area();
    const u = (x - a.left) / a.width;
    const v = (y - a.top) / a.height;
    if (!(u >= 0 && u <= 1 && v >= 0 && v <= 1)) return undefined;
    const { x0, x1, y0, y1 } = this.box;
    return [x0 + u * (x1 - x0), y1 - v * (y1 - y0)];
  }

  /** Where code (cx, cy) sits, in CSS pixels from the canvas' top left corner. */
  pixelOf(cx: number, cy: number): [number, number] {
    const a = this.area();
    const { x0, x1, y0, y1 } = this.box;
    return [a.left + ((cx - x0) / (x1 - x0)) * a.width, a.top + ((y1 - cy) / (y1 - y0)) * a.height];
  }

  draw(): void {
    const { canvas, ctx } = this;
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
    const a = this.area();
    const { x0, x1, y0, y1 } = this.box;
    ctx.strokeStyle = FRAME;
    ctx.lineWidth = 1;
    ctx.strokeRect(a.left - 0.5, a.top - 0.5, a.width + 1, a.height + 1);
    ctx.fillStyle = AXIS_TEXT;
    ctx.textAlign = "center";
    ctx.textBaseline = "top";
    for (const t of axisTicks(x0, x1, Math.max(5, Math.floor(a.width / 60)))) {
      ctx.fillText(String(t), this.pixelOf(t, y0)[0], a.top + a.height + 6);
    }
    ctx.textAlign = "right";
    ctx.textBaseline = "middle";
    for (const t of axisTicks(y0, y1, Math.max(4, Math.floor(a.height / 50)))) {
      ctx.fillText(String(t), a.left - 6, this.pixelOf(x0, t)[1]);
    }
    const points = this.points;
    canvas.dataset.points = String(points ? points.codes.length / points.latent : 0);
    if (!points) return;

    const { codes, latent, labels, classes } = points;
    ctx.save();
    ctx.beginPath();
    ctx.rect(a.left, a.top, a.width, a.height);
    ctx.clip();
    const sx = a.width / (x1 - x0);
    const sy = a.height / (y1 - y0);
    // In the images' order (the test set's, shuffled by class), so no class hides another.
    const present = new Set<number>();
    for (let i = 0; i < labels.length; i++) {
      present.add(labels[i]);
      ctx.fillStyle = classColor(labels[i]);
      ctx.beginPath();
      ctx.arc(
        a.left + (codes[i * latent] - x0) * sx,
        a.top + (y1 - (latent > 1 ? codes[i * latent + 1] : 0)) * sy,
        DOT_RADIUS,
        0,
        2 * Math.PI,
      );
      ctx.fill();
    }
    ctx.restore();

    // Legend: a swatch and the class name per class present, down the right edge.
    ctx.textAlign = "left";
    const sorted = [...present].sort((p, q) => p - q);
    const row = Math.min(16, a.height / Math.max(1, sorted.length));
    sorted.forEach((label, i) => {
      const y = a.top + row * (i + 0.5);
      ctx.fillStyle = classColor(label);
      ctx.beginPath();
      ctx.arc(a.left + a.width + 12, y, 4, 0, 2 * Math.PI);
      ctx.fill();
      ctx.fillStyle = AXIS_TEXT;
      ctx.fillText(classes[label] ?? String(label), a.left + a.width + 20, y);
    });
  }
}
