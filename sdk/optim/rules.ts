import type { Kernels } from "../runtime/kernels";

/** Every setting an update rule may read. */
export interface OptimizerSettings {
  /** Learning rate (unused by AdaDelta). */
  lr: number;
  /** Momentum SGD: alpha. */
  momentum: number;
  /** RMSProp, AdaDelta: decay of the squared-gradient average. */
  rho: number;
  /** AdaGrad: h0; RMSProp, AdaDelta, Adam: epsilon. */
  eps: number;
  beta1: number;
  beta2: number;
  /** L2 weight decay lambda (loss + lambda/2 |W|²), applied to parameters whose role is "weight". */
  weightDecay: number;
}

/** What a rule's kernel gets for one parameter tensor of n floats (wasm addresses). */
export interface UpdateCall {
  w: number;
  g: number;
  /** The parameter's state buffers, in the order of the rule's `state`. */
  state: readonly number[];
  n: number;
  settings: OptimizerSettings;
  /** Weight decay for this parameter: settings.weightDecay, or 0 where its role is not decayed. */
  decay: number;
  /** Steps taken, this one included (1 on the first). */
  step: number;
}

/** One update rule: everything the SDK knows about it, in one place. */
export interface OptimizerRule<Name extends string = string> {
  name: Name;
  /** Its name for people, e.g. "Momentum SGD". */
  label: string;
  /** The settings the rule reads, with their defaults; a rule without `lr` has no learning rate. */
  defaults: Partial<OptimizerSettings>;
  /** One entry per state buffer kept beside each parameter: its name and the value it starts at. */
  state: readonly { name: string; start: (s: OptimizerSettings) => number }[];
  /** Calls the rule's kernel (assembly/optim.ts) on one parameter tensor. */
  update(k: Kernels, call: UpdateCall): void;
}

const rule = <Name extends string>(r: OptimizerRule<Name>): OptimizerRule<Name> => r;
const zero = (): number => 0;

/*
 * The course's six update rules (eq. 23, 39-55), simplest first, with its recommended defaults,
 * except the learning rates of SGD and momentum SGD: the course applies them to the
 * batch-summed gradient, this SDK to the batch-mean gradient, so at B = 100 SGD's 0.01 becomes
 * 1.0 (measured: 97.3% after 10 epochs where 0.01 reaches 88.5%) and momentum's becomes 0.1
 * (with alpha 0.9, the same step size as SGD's 1.0 in steady state). The adaptive rules divide
 * by the gradient's own scale, so their rates carry over unchanged.
 */

const sgd = rule({
  name: "sgd",
  label: "SGD",
  defaults: { lr: 1.0 },
  state: [],
  update: (k, { w, g, n, settings: s, decay }) => k.sgdUpdate(w, g, n, s.lr, decay),
});

const momentum = rule({
  name: "momentum",
  label: "Momentum SGD",
  defaults: { lr: 0.1, momentum: 0.9 },
  state: [{ name: "v", start: zero }],
  update: (k, { w, g, state: [v], n, settings: s, decay }) => k.momentumUpdate(w, g, v, n, s.lr, s.momentum, decay),
});

const adagrad = rule({
  name: "adagrad",
  label: "AdaGrad",
  defaults: { lr: 0.001, eps: 1e-8 },
  // h starts at h0 (eps) so that the first division is defined.
  state: [{ name: "h", start: (s) => s.eps }],
  update: (k, { w, g, state: [h], n, settings: s, decay }) => k.adagradUpdate(w, g, h, n, s.lr, decay),
});

const rmsprop = rule({
  name: "rmsprop",
  label: "RMSProp",
  defaults: { lr: 0.01, rho: 0.99, eps: 1e-8 },
  state: [{ name: "h", start: zero }],
  update: (k, { w, g, state: [h], n, settings: s, decay }) => k.rmspropUpdate(w, g, h, n, s.lr, s.rho, s.eps, decay),
});

const adadelta = rule({
  name: "adadelta",
  label: "AdaDelta",
  defaults: { rho: 0.95, eps: 1e-6 },
  state: [
    { name: "h", start: zero },
    { name: "s", start: zero },
  ],
  update: (k, { w, g, state: [h, sq], n, settings: s, decay }) => k.adadeltaUpdate(w, g, h, sq, n, s.rho, s.eps, decay),
});

const adam = rule({
  name: "adam",
  label: "Adam",
  defaults: { lr: 0.001, beta1: 0.9, beta2: 0.999, eps: 1e-8 },
  state: [
    { name: "m", start: zero },
    { name: "v", start: zero },
  ],
  update: (k, { w, g, state: [m, v], n, settings: s, decay, step }) =>
    k.adamUpdate(w, g, m, v, n, s.lr, s.beta1, s.beta2, s.eps, 1 - s.beta1 ** step, 1 - s.beta2 ** step, decay),
});

/** The rules, simplest first. */
export const RULES = [sgd, momentum, adagrad, rmsprop, adadelta, adam] as const;

export type OptimizerName = (typeof RULES)[number]["name"];

export const OPTIMIZERS: readonly OptimizerName[] = RULES.map((r) => r.name);

export const ruleOf = (name: OptimizerName): OptimizerRule<OptimizerName> => RULES.find((r) => r.name === name)!;

/** Each rule's name for people ("Momentum SGD"). */
export const OPTIMIZER_LABELS = Object.fromEntries(RULES.map((r) => [r.name, r.label])) as Record<
  OptimizerName,
  string
>;

/** False for a rule that has no learning rate (AdaDelta): its `lr` setting is not read. */
export const hasLearningRate = (name: OptimizerName): boolean => ruleOf(name).defaults.lr !== undefined;

/**
 * Every rule's settings: its defaults, the settings it does not read at 0, except a learning
 * rate of 1 for a rule without one (a positive placeholder that schedules may scale).
 */
export const OPTIMIZER_DEFAULTS = Object.fromEntries(
  RULES.map((r) => [
    r.name,
    {
      lr: 1,
      momentum: 0,
      rho: 0,
      eps: 0,
      beta1: 0,
      beta2: 0,
      weightDecay: 0,
      ...r.defaults,
    },
  ]),
) as Record<OptimizerName, OptimizerSettings>;

/** "sgd 1.0, momentum 0.1, …; adadelta has none": each rule's default learning rate, for help texts. */
export function describeLearningRates(): string {
  const format = (v: number): string => (Number.isInteger(v) ? v.toFixed(1) : String(v));
  const withRate = RULES.filter((r) => hasLearningRate(r.name)).map((r) => `${r.name} ${format(r.defaults.lr!)}`);
  const without = RULES.filter((r) => !hasLearningRate(r.name)).map((r) => r.name);
  return (
    withRate.join(", ") +
    (without.length > 0 ? `; ${without.join(", ")} ${without.length === 1 ? "has" : "have"} none` : "")
  );
}
