// sdk/report/latent.ts: the scatter plot of codes (one circle a code, coloured by class, in the
// plot's frame; a legend of the classes present) and the nearest-centroid rule.
import { describe, expect, it } from "vitest";
import { classColor, latentScatterSvg, nearestCentroidAccuracy, type LatentPoints } from "../../../sdk/node";
import { expectError } from "../../support/errors";

const points = (codes: number[], labels: number[], latent = 2): LatentPoints => ({
  codes: Float32Array.from(codes),
  latent,
  labels,
  classes: ["zero", "one", "two <&>"],
});

describe("latentScatterSvg", () => {
  it("draws every code as a circle of its class's colour, and a legend of the classes present", () => {
    const svg = latentScatterSvg(points([0, 0, 1, 1, 2, 0.5, -1, 3], [0, 1, 2, 2]), "codes");
    const circles = [...svg.matchAll(/<circle cx="([\d.]+)" cy="([\d.]+)" r="2.5" fill="([^"]+)"/g)];
    expect(circles.map((c) => c[3])).toEqual([0, 1, 2, 2].map(classColor));
    // x grows to the right, y upwards: code (2, 0.5) is right of (0, 0), code (-1, 3) above it.
    const [x0, y0] = [Number(circles[0][1]), Number(circles[0][2])];
    expect(Number(circles[2][1])).toBeGreaterThan(x0);
    expect(Number(circles[3][2])).toBeLessThan(y0);
    expect(svg).toContain(">zero<");
    expect(svg).toContain("two &lt;&amp;&gt;"); // names are escaped
    expect(svg.match(/r="5"/g)).toHaveLength(3); // three legend entries
  });

  it("plots the first two dimensions of wider codes, and refuses codes that do not fit their labels", () => {
    const svg = latentScatterSvg(points([0, 0, 9, 1, 1, 9], [0, 1], 3));
    expect(svg.match(/r="2.5"/g)).toHaveLength(2);
    expectError(() => latentScatterSvg(points([0, 0, 1], [0, 1])), "BAD_SHAPE");
    expectError(() => latentScatterSvg({ codes: [1, 2] } as never), "BAD_ARGUMENT");
  });
});

describe("nearestCentroidAccuracy", () => {
  it("gives each code the class of the nearest centroid of the reference codes", () => {
    const reference = points([0, 0, 0, 2, 10, 0, 10, 2], [0, 0, 1, 1]); // centroids (0,1) and (10,1)
    const judged = points([1, 1, 9, 1, 4, 1, 6, 1], [0, 1, 1, 1]); // the third is nearer class 0
    expect(nearestCentroidAccuracy(reference, judged)).toEqual({ accuracy: 0.75, count: 4 });
    expectError(() => nearestCentroidAccuracy(reference, points([1, 1, 1], [0], 3)), "BAD_SHAPE");
  });
});
