import { checkInteger, checkOptions, describeValue } from "../args";
import { fail } from "../errors";
import type { NamedTensor } from "../io/safetensors";
import type { Param, ParamRole } from "../layers/layer";
import { Runtime } from "../runtime/runtime";
import {
  OPTIMIZER_DEFAULTS,
  OPTIMIZERS,
  ruleOf,
  type OptimizerName,
  type OptimizerRule,
  type OptimizerSettings,
  type UpdateCall,
} from "./rules";

export { OPTIMIZER_DEFAULTS, OPTIMIZERS, type OptimizerName, type OptimizerSettings } from "./rules";

/** A rule by name, and any of its settings (the others take the rule's defaults). */
export interface OptimizerSpec extends Partial<OptimizerSettings> {
  name: OptimizerName;
}

/** Parameter roles that L2 weight decay applies to: weights, not biases nor batch norm's scale and shift. */
const DECAYED_ROLES: ReadonlySet<ParamRole> = new Set(["weight"]);

/**
 * Updates parameters from their gradients: one kernel pass per parameter tensor, with the
 * optimizer's state (velocities, squared-gradient averages) kept in wasm memory beside them.
 * After dispose() (its own or its runtime's) every use is refused (BAD_STATE); a second dispose()
 * does nothing.
 */
export class Optimizer {
  readonly name: OptimizerName;
  readonly settings: OptimizerSettings;
  private readonly rule: OptimizerRule<OptimizerName>;
  /** The arguments of the rule's kernel, refilled for each parameter (no allocation per step). */
  private readonly call: UpdateCall;
  /** Steps taken (Adam's bias correction uses it). */
  steps = 0;
  private readonly state = new Map<Param, number[]>();
  private isDisposed = false;

  constructor(
    readonly rt: Runtime,
    spec: OptimizerSpec,
  ) {
    if (!(rt instanceof Runtime)) fail("BAD_ARGUMENT", `new Optimizer: rt must be a Runtime, got ${describeValue(rt)}`);
    if (rt.disposed) fail("BAD_STATE", "new Optimizer: the runtime was disposed");
    checkOptions(spec, "optimizer spec", ["name", ...Object.keys(OPTIMIZER_DEFAULTS.sgd)]);
    if (spec === undefined || !OPTIMIZERS.includes(spec.name))
      fail("BAD_ARGUMENT", `unknown optimizer ${describeValue(spec?.name)}; one of ${OPTIMIZERS.join(", ")}`);
    this.name = spec.name;
    this.rule = ruleOf(spec.name);
    const defaults = OPTIMIZER_DEFAULTS[spec.name];
    const settings = { ...defaults };
    for (const key of Object.keys(defaults) as (keyof typeof defaults)[]) {
      const value = spec[key];
      if (value === undefined) continue;
      if (typeof value !== "number" || !Number.isFinite(value) || value < 0) {
        fail(
          "BAD_ARGUMENT",
          `optimizer ${spec.name}: ${key} must be a non-negative number, got ${describeValue(value)}`,
        );
      }
      settings[key] = value;
    }
    if (!(settings.lr > 0)) fail("BAD_ARGUMENT", `learning rate must be positive, got ${settings.lr}`);
    // Settings that would divide by zero or let averages grow without bound.
    if (this.rule.defaults.eps !== undefined && !(settings.eps > 0)) {
      fail("BAD_ARGUMENT", `optimizer ${spec.name}: eps must be positive, got ${settings.eps}`);
    }
    for (const key of ["momentum", "rho", "beta1", "beta2"] as const) {
      if (!(settings[key] < 1))
        fail("BAD_ARGUMENT", `optimizer ${spec.name}: ${key} must be below 1, got ${settings[key]}`);
    }
    this.settings = settings;
    this.call = { w: 0, g: 0, state: [], n: 0, settings, decay: 0, step: 0 };
  }

  get learningRate(): number {
    return this.settings.lr;
  }

  set learningRate(lr: number) {
    this.check("learningRate");
    if (typeof lr !== "number" || !(lr >= 0) || !Number.isFinite(lr))
      fail("BAD_ARGUMENT", `learning rate must be a non-negative number, got ${describeValue(lr)}`);
    this.settings.lr = lr;
  }

  /** One update of every parameter from its gradient. */
  step(params: readonly Param[]): void {
    this.check("step");
    if (!Array.isArray(params))
      fail(
        "BAD_ARGUMENT",
        `optimizer step: params must be an array of parameters (model.params), got ${describeValue(params)}`,
      );
    for (const p of params) {
      if (p?.value?.rt !== this.rt)
        fail("BAD_ARGUMENT", "optimizer step: a parameter lives in another runtime than the optimizer");
    }
    this.steps++;
    const call = this.call;
    call.step = this.steps;
    for (const p of params) {
      call.w = p.value.ptr;
      call.g = p.grad.ptr;
      call.state = this.stateOf(p);
      call.n = p.value.length;
      call.decay = DECAYED_ROLES.has(p.role) ? this.settings.weightDecay : 0;
      this.rule.update(this.rt.kernels, call);
    }
  }

  /**
   * The optimizer's state as named tensors ("optim.<param>.<k>") plus its settings and step count,
   * so a model file can carry it and a resumed run continues exactly where it stopped.
   */
  exportState(params: readonly Param[]): {
    settings: OptimizerSpec & { steps: number };
    tensors: Map<string, NamedTensor>;
  } {
    this.check("exportState");
    const tensors = new Map<string, NamedTensor>();
    for (const p of params) {
      const buffers = this.state.get(p);
      buffers?.forEach((ptr, k) => {
        tensors.set(`optim.${p.name}.${k}`, {
          shape: [...p.value.shape],
          data: this.rt.f32(ptr, p.value.length).slice(),
        });
      });
    }
    return { settings: { name: this.name, ...this.settings, steps: this.steps }, tensors };
  }

  /** Restores state written by exportState() for the same parameters; says what does not fit. */
  importState(params: readonly Param[], steps: number, tensors: Map<string, NamedTensor>): void {
    this.check("importState");
    checkInteger(steps, "optimizer importState: steps", 0);
    for (const p of params) {
      for (let k = 0; k < this.rule.state.length; k++) {
        const name = `optim.${p.name}.${k}`;
        const t = tensors.get(name);
        if (!t) fail("BAD_FILE", `optimizer state: tensor "${name}" is missing`);
        if (t.data.length !== p.value.length)
          fail(
            "BAD_FILE",
            `optimizer state: tensor "${name}" has ${t.data.length} values, "${p.name}" has ${p.value.length}`,
          );
      }
    }
    for (const p of params) {
      this.stateOf(p).forEach((ptr, k) =>
        this.rt.f32(ptr, p.value.length).set(tensors.get(`optim.${p.name}.${k}`)!.data),
      );
    }
    this.steps = steps;
  }

  /** Addresses of a parameter's state buffers, allocated (and set to their start values) on first use. */
  private stateOf(p: Param): number[] {
    let buffers = this.state.get(p);
    if (!buffers) {
      buffers = this.rule.state.map(({ start }) => {
        const ptr = this.rt.alloc(p.value.length * 4);
        this.rt.f32(ptr, p.value.length).fill(start(this.settings));
        return ptr;
      });
      this.state.set(p, buffers);
    }
    return buffers;
  }

  /** True once dispose() has run. */
  get disposed(): boolean {
    return this.isDisposed;
  }

  /** Frees the optimizer's state; a second call does nothing. */
  dispose(): void {
    if (this.isDisposed) return;
    this.isDisposed = true;
    if (!this.rt.disposed) for (const buffers of this.state.values()) for (const ptr of buffers) this.rt.free(ptr);
    this.state.clear();
    this.steps = 0;
  }

  /** Refuses (BAD_STATE) a call on a disposed optimizer, or one whose runtime is disposed. */
  private check(call: string): void {
    if (this.isDisposed) fail("BAD_STATE", `optimizer ${call}: the optimizer was disposed`);
    if (this.rt.disposed) fail("BAD_STATE", `optimizer ${call}: its runtime was disposed`);
  }
}

/** Plain SGD at learning rate `lr` (default 1.0 on the batch-mean gradient). */
export class SGD extends Optimizer {
  constructor(rt: Runtime, lr?: number) {
    super(rt, { name: "sgd", lr });
  }
}
