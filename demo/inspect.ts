// "Look inside the model": the digit model's layers on the current drawing, each conv or pooling
// layer's channels as grey tiles (dense layers as one tile per unit), and the first layer's
// weights (conv filters, or a dense layer's weights as images). Redrawn on every classification
// of the pad; with an empty pad it shows MNIST test image 0 so the panel never stands empty.
import { layerActivations, MNIST_CLASSES, type LayerActivation, type LayerSpec, type Model } from "../sdk/index";
import type { PageHooks } from "./page-hooks";
import { drawGrid, extent, fitGrid, greyMaps, planesToMaps, type GridLayout, type Maps } from "./tiles";

/** Layers that change values one by one: drawn together with the layer before them. */
const ELEMENTWISE = new Set<LayerSpec["type"]>(["relu", "sigmoid", "batchnorm", "dropout"]);

/** One row of the panel: a layer and the elementwise layers after it, drawn as one map set. */
interface Group {
  /** Index of the layer whose output is drawn (the last of the group). */
  last: number;
  title: string;
}

/** The rows for a model: conv, pooling and dense layers, each with the activations after it; flatten is skipped (it moves nothing). */
function layerGroups(layers: readonly LayerSpec[]): Group[] {
  const groups: Group[] = [];
  layers.forEach((layer, index) => {
    if (layer.type === "flatten") return;
    const previous = groups[groups.length - 1];
    if (ELEMENTWISE.has(layer.type) && previous) {
      previous.last = index;
      previous.title += ` → ${layer.type === "batchnorm" ? "batch norm" : layer.type}`;
      return;
    }
    groups.push({ last: index, title: layerTitle(layer) });
  });
  return groups;
}

function layerTitle(layer: LayerSpec): string {
  switch (layer.type) {
    case "conv2d":
      return `conv ${layer.size}×${layer.size}${layer.stride && layer.stride > 1 ? ` stride ${layer.stride}` : ""}`;
    case "maxpool":
    case "avgpool":
      return `${layer.type === "maxpool" ? "max" : "average"} pool ${layer.size}×${layer.size}`;
    case "batchnorm":
      return "batch norm";
    default:
      return layer.type;
  }
}

const describeShape = (shape: readonly number[], last: boolean): string =>
  shape.length === 3
    ? `${shape[0]} maps of ${shape[1]}×${shape[2]}`
    : last
      ? `${shape[0]} scores, one per class`
      : `${shape[0]} units`;

/**
 * Maps of one activation, scaled from min(0, smallest) to the largest value of the layer, through
 * a square root: one strong channel would otherwise leave the others looking black.
 */
function activationMaps(act: LayerActivation): Maps {
  const { min, max } = extent(act.values);
  const lo = Math.min(0, min);
  const range = Math.max(max - lo, 1e-6);
  const eased = act.values.map((v) => Math.sqrt((v - lo) / range));
  const [c, h = 1, w = 1] = act.shape.length === 3 ? act.shape : [act.shape[0]];
  return greyMaps(eased, c, h, w, 0, 1);
}

function gridFor(shape: readonly number[], width: number): GridLayout {
  if (shape.length === 3) return fitGrid(shape[0], width, { maxCols: shape[0] <= 32 ? 16 : 32 });
  // A vector: one small square per unit, up to 64 in a row.
  return fitGrid(shape[0], width, { maxCols: 64, maxTile: 22, gap: 2 });
}

/** The first layer's weights as images (conv filters, or each unit's input weights of a dense layer); null without weights. */
function firstLayerWeights(model: Model): { maps: Maps; title: string; shape: readonly number[] } | null {
  const index = model.spec.layers.findIndex((l) => l.type === "conv2d" || l.type === "dense");
  if (index < 0) return null;
  const layer = model.spec.layers[index];
  const param = model.layers[index].params.find((p) => p.name === `${index}.weight`);
  if (!param) return null;
  const w = param.value.read();
  let m = 0;
  for (const v of w) m = Math.max(m, Math.abs(v));
  const [inC, inH, inW] = model.spec.input;
  if (layer.type === "conv2d") {
    const [k, c, r] = param.value.shape;
    // Grey for one input channel, colour for three; otherwise the first channel of each filter.
    const channels = c === 3 ? 3 : 1;
    const planes =
      channels === c
        ? w
        : Float32Array.from({ length: k * r * r }, (_, i) => w[Math.floor(i / (r * r)) * c * r * r + (i % (r * r))]);
    return {
      maps: planesToMaps(planes, k, channels, r, r, -m, m),
      title: `filters of the first conv layer${channels !== c ? " (first input channel)" : ""}`,
      shape: [k, r, r],
    };
  }
  // Dense weights are [in, out]: unit u's weights over the input, shown as an input-sized image.
  if (layer.type !== "dense" || index !== 0 || (inC !== 1 && inC !== 3)) return null;
  const [inputs, units] = param.value.shape;
  const shown = Math.min(units, 32);
  const images = new Float32Array(shown * inputs);
  for (let u = 0; u < shown; u++) for (let p = 0; p < inputs; p++) images[u * inputs + p] = w[p * units + u];
  return {
    maps: planesToMaps(images, shown, inC as 1 | 3, inH, inW, -m, m),
    title: `input weights of the first dense layer${shown < units ? ` (first ${shown} of ${units} units)` : ""}`,
    shape: [shown, inH, inW],
  };
}

interface Row {
  canvas: HTMLCanvasElement;
  labels?: HTMLElement;
}

export function mountInspect(hooks: PageHooks): { drawn(pixels: Uint8Array | null): void; modelChanged(): void } {
  const container = document.getElementById("inspect-layers")!;
  const source = document.getElementById("inspect-source")!;
  let groups: Group[] = [];
  let rows: Row[] = [];
  let inputRow: Row;
  let weightsRow: Row | null = null;
  let weights: ReturnType<typeof firstLayerWeights> = null;
  let pixels: Uint8Array | null = null;
  let fromDrawing = false;
  let renderedWidth = 0; // the filters are redrawn only when the width changes

  const figure = (name: string, detail: string, kind: string, layer?: number): Row => {
    const fig = document.createElement("figure");
    fig.className = `layer ${kind}`;
    if (layer !== undefined) fig.dataset.layer = String(layer);
    const caption = document.createElement("figcaption");
    caption.innerHTML = `<span class="layer-name"></span><span class="layer-shape"></span>`;
    caption.children[0].textContent = name;
    caption.children[1].textContent = detail;
    const canvas = document.createElement("canvas");
    fig.append(caption, canvas);
    container.append(fig);
    return { canvas };
  };

  /** Rebuilds the rows for the current model. */
  function build(): void {
    const model = hooks.model();
    container.replaceChildren();
    const [c, h, w] = model.spec.input;
    inputRow = figure("input", `${c === 1 ? "grey" : "colour"} ${h}×${w}`, "input");
    weights = firstLayerWeights(model);
    weightsRow = weights
      ? figure(
          weights.title,
          `${weights.shape[0]} × ${weights.shape[1]}×${weights.shape[2]} · white +, black −`,
          "weights",
        )
      : null;
    groups = layerGroups(model.spec.layers);
    rows = groups.map((g, i) => {
      const last = i === groups.length - 1;
      const row = figure(g.title, describeShape(model.layers[g.last].outputShape, last), "activation", g.last);
      if (last && model.classCount === MNIST_CLASSES.length && model.layers[g.last].outputShape.length === 1) {
        row.labels = document.createElement("div");
        row.labels.className = "class-labels";
        for (const name of MNIST_CLASSES)
          row.labels.append(Object.assign(document.createElement("span"), { textContent: name }));
        row.canvas.after(row.labels);
      }
      return row;
    });
    renderedWidth = 0;
  }

  function render(): void {
    const model = hooks.model();
    const width = container.clientWidth;
    if (width <= 0) return;
    const widthChanged = width !== renderedWidth;
    renderedWidth = width;
    if (widthChanged && weights && weightsRow)
      drawGrid(
        weightsRow.canvas,
        weights.maps,
        fitGrid(weights.maps.count, width, { maxCols: weights.maps.count <= 32 ? 16 : 32 }),
      );
    if (!pixels) return;
    const [c, h, w] = model.spec.input;
    const inputMaps = planesToMaps(pixels, 1, c === 3 ? 3 : 1, h, w);
    drawGrid(inputRow.canvas, inputMaps, fitGrid(1, width, { maxCols: 1, maxTile: 56 }));
    const acts = layerActivations(model, pixels);
    groups.forEach((g, i) => {
      const act = acts[g.last];
      const grid = gridFor(act.shape, width);
      drawGrid(rows[i].canvas, activationMaps(act), grid);
      const labels = rows[i].labels;
      if (labels) {
        labels.style.gridTemplateColumns = `repeat(${grid.cols}, ${grid.tile}px)`;
        labels.style.columnGap = `${grid.gap}px`;
      }
    });
    source.textContent = fromDrawing
      ? "your drawing, layer by layer"
      : "MNIST test image 0, layer by layer · draw above to see yours";
    container.dataset.source = fromDrawing ? "drawing" : "test";
  }

  /** An empty pad: show test image 0 instead (once the test set is in). */
  function showFallback(): void {
    fromDrawing = false;
    hooks
      .testSet()
      .then((data) => {
        if (fromDrawing || hooks.model().inputSize !== 784) return;
        pixels = data.images.slice(0, 784);
        render();
      })
      .catch(() => {}); // the browse panel reports a test set that does not load
  }

  build();
  showFallback();
  let resizeQueued = false;
  new ResizeObserver(() => {
    if (resizeQueued) return;
    resizeQueued = true;
    requestAnimationFrame(() => {
      resizeQueued = false;
      if (container.clientWidth !== renderedWidth) render();
    });
  }).observe(container);

  return {
    drawn(next) {
      if (!next) {
        if (fromDrawing || !pixels) showFallback();
        return;
      }
      pixels = next;
      fromDrawing = true;
      render();
    },
    modelChanged() {
      build();
      if (fromDrawing && pixels) render();
      else showFallback();
    },
  };
}
