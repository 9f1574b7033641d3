// The benchmarks' timing (measure and everyFewMilliseconds, bench/suites.mjs) on a simulated
// machine: a clock as coarse as a browser's, calls of a known cost, a first call and a
// calibrating run slowed by load. Every figure must come out positive and close to the true
// cost: a sample shorter than the clock can resolve (a figure of 0, as "mlp-infer-1: 0" once in
// test/bench-browser) never counts.
import { describe, expect, it } from "vitest";
import { clockTick, everyFewMilliseconds, measure, SIZES } from "../../bench/suites.mjs";

/**
 * A machine whose clock reads in steps of `tick` seconds (browsers coarsen performance.now() to
 * 5 µs when cross-origin isolated, 100 µs otherwise), a reading taking 20 ns, and whose calls
 * cost `cost(i)` seconds for the i-th call. Returns the clock and the function to time.
 */
function simulated(tick: number, cost: (call: number) => number): { clock: () => number; fn: () => void } {
  let time = 0;
  let call = 0;
  return {
    clock: () => {
      time += 20e-9;
      return Math.floor(time / tick) * tick;
    },
    fn: () => {
      time += cost(call++);
    },
  };
}

const TICKS = [1e-9, 5e-6, 100e-6];
const COSTS = [0.5e-6, 6e-6, 80e-6, 2e-3];

describe("measure on a coarse clock", () => {
  for (const [size, options] of Object.entries(SIZES)) {
    it(`${size} sizes: every figure is positive and within a fifth of the true cost, for every clock and call cost`, async () => {
      for (const tick of TICKS) {
        for (const cost of COSTS) {
          // Steady calls, then the same with a cold first call, then with a load spike over the
          // first call and the calibrating runs after it (the next 3 calls 200 times slower).
          const cases: [string, (i: number) => number][] = [
            ["steady", () => cost],
            ["cold first call", (i) => (i === 0 ? 1e-3 + cost : cost)],
            ["load while calibrating", (i) => (i === 0 ? 1e-3 : i <= 3 ? 200 * cost : cost)],
          ];
          for (const [what, costOf] of cases) {
            const machine = simulated(tick, costOf);
            const timing = await measure(machine.fn, { ...options, clock: machine.clock });
            const name = `${what}, ${cost * 1e6} µs calls, ${tick * 1e6} µs clock`;
            expect(timing.mean, name).toBeGreaterThan(0);
            expect(timing.best, name).toBeLessThanOrEqual(timing.mean);
            expect(timing.calls, name).toBeGreaterThanOrEqual(options.minSamples);
            // Slowed calls that fall into samples are measured as they were: under load, only the
            // full budget is long enough for a fast sample to follow them.
            const loaded = what === "load while calibrating";
            if (!loaded || size === "full")
              expect(Math.abs(timing.best - cost) / cost, `${name}: best ${timing.best}`).toBeLessThan(0.2);
            if (!loaded) expect(Math.abs(timing.mean - cost) / cost, `${name}: mean ${timing.mean}`).toBeLessThan(0.2);
          }
        }
      }
    });
  }

  it("awaits a function that returns a promise, and times it the same way", async () => {
    const machine = simulated(100e-6, () => 6e-6);
    const timing = await measure(async () => machine.fn(), { ...SIZES.quick, clock: machine.clock });
    expect(timing.best).toBeGreaterThan(0);
    expect(Math.abs(timing.mean - 6e-6) / 6e-6).toBeLessThan(0.2);
  });

  it("clockTick finds the clock's step", () => {
    // The step seen is the clock's, or the time one reading takes (20 ns here) when that is longer.
    for (const tick of TICKS) {
      const step = clockTick(simulated(tick, () => 0).clock);
      expect(step, `${tick * 1e6} µs clock`).toBeGreaterThanOrEqual(tick * (1 - 1e-9));
      expect(step, `${tick * 1e6} µs clock`).toBeLessThanOrEqual(Math.max(tick, 20e-9) * (1 + 1e-6));
    }
    expect(
      clockTick(() => 42),
      "a clock that never moves",
    ).toBe(0);
  });

  it("one call every 5 ms: a call shorter than the clock's step reads as one step, never 0", async () => {
    for (const tick of TICKS) {
      for (const cost of [0.5e-6, 6e-6, 80e-6]) {
        const machine = simulated(tick, () => cost);
        const idle = await everyFewMilliseconds(machine.fn, 5, { clock: machine.clock });
        const name = `${cost * 1e6} µs calls, ${tick * 1e6} µs clock`;
        expect(idle.best, name).toBeGreaterThan(0);
        expect(idle.best, name).toBeLessThanOrEqual(idle.mean);
        // Within one step of the truth (and the clock's own 20 ns readings), never below it by more than a step.
        expect(idle.mean, name).toBeLessThanOrEqual(Math.max(cost, tick) + tick + 40e-9);
        expect(idle.mean, name).toBeGreaterThanOrEqual(cost - tick);
      }
    }
  });
});
