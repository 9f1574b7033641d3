// One training run, from its first batch to its last, across interruptions: what it trains with
// (RunSettings), how far it got (RunPosition), its history, and how it is saved and resumed.
// The CLI's train and experiment, the page's model worker and tests drive runs through it; the
// steps themselves are fit()'s (sdk/train.ts).
import { takeFirst, type Dataset } from "./data/dataset";
import { DeviceData } from "./data/device-data";
import { fail, MnistWasmError } from "./errors";
import { deserializeModel, serializeModel, type SavedOptimizerState } from "./io/model-file";
import {
  isLabelSmoothing,
  isWarmup,
  MAX_EPOCHS,
  type RunPosition,
  type RunRecord,
  type RunSettings,
} from "./io/run-record";
import type { Model } from "./model";
import { OPTIMIZER_DEFAULTS, Optimizer, type OptimizerSpec } from "./optim/optimizer";
import type { Runtime } from "./runtime/runtime";
import { SCHEDULES } from "./schedule";
import { specLoss, type ModelSpec } from "./spec";
import { fit, type BatchInfo, type EpochRecord } from "./train";

export type { RunPosition, RunRecord, RunSettings } from "./io/run-record";

/** Settings a resumed run takes from its caller instead of its checkpoint. */
export type RunOverrides = Partial<Omit<RunSettings, "optimizer">> & { optimizer?: Partial<OptimizerSpec> };

/** One setting a resume changed: its name (a RunSettings path such as "optimizer.lr"), the new value and the checkpoint's. */
export interface Override {
  name: string;
  value: unknown;
  checkpoint: unknown;
}

export interface ResumeOptions {
  /** Names the file in error messages. */
  what?: string;
  /** Settings that replace the checkpoint's (see TrainingSession.resume). */
  overrides?: RunOverrides;
  /**
   * The settings of a file that records no run (or a damaged record), for its spec; their
   * `epochs` count beyond the file's "epochs" fact. Without them such a file is refused.
   */
  defaults?: RunSettings | ((spec: ModelSpec) => RunSettings);
}

export interface ResumedSession {
  session: TrainingSession;
  metadata: Record<string, string>;
  /** The settings the resume changed. */
  overrides: Override[];
  /** What a person resuming should know: the optimizer state taken or not, a damaged record. */
  notes: string[];
}

export interface SessionRunOptions {
  /** Evaluated after every epoch when given. */
  test?: Dataset | DeviceData;
  /** Aborting stops the run after the current batch; run() returns, and the session can save and resume. */
  signal?: AbortSignal;
  onBatchEnd?: (info: BatchInfo) => void;
  onEpochEnd?: (record: EpochRecord) => void | Promise<void>;
}

export interface SessionRunResult {
  /** The epochs this call completed. */
  history: EpochRecord[];
  /** True when the signal stopped the run before its last epoch ended. */
  stopped: boolean;
}

const FRESH: RunPosition = { epochsDone: 0, batch: 0, lossSum: 0, correct: 0, batches: 0, step: 0, steps: 0 };

/**
 * A training run of one model. It owns the optimizer (and its state), the schedule's position,
 * the epochs done and to do and the run's history; run() trains to the last epoch or until
 * stopped, save() writes a checkpoint that fromFile() continues bit for bit, as if the run had
 * never stopped (same seed, data, batch size and thread count).
 *
 * What it measures per epoch is fit()'s EpochRecord; nothing here depends on the loss being a
 * classifier's: the loss is the model's, and a run resumes from its position and sums alone.
 */
export class TrainingSession {
  readonly model: Model;
  /** The run's settings: given to start(), read from a file, changed by resume(). */
  private current: RunSettings;
  private at: RunPosition;
  private optimizerInUse: Optimizer;
  /** Epochs completed by this session's run() calls. */
  readonly history: EpochRecord[] = [];
  private isDiverged = false;

  private constructor(model: Model, settings: RunSettings, position: RunPosition, optimizer: Optimizer) {
    this.model = model;
    this.current = settings;
    this.at = position;
    this.optimizerInUse = optimizer;
  }

  /**
   * A new run of `model` (its weights as they are) from epoch 1, or from `epochsDone` + 1. A
   * model with Winograd on (Model's `winograd`) trains with it, where its convolutions can, unless
   * the settings say otherwise.
   */
  static start(model: Model, settings: RunSettings, epochsDone = 0): TrainingSession {
    checkSettings(settings);
    return new TrainingSession(
      model,
      {
        ...settings,
        ...(settings.winograd === undefined && model.winograd && model.winogradTrainingLayers > 0
          ? { winograd: true }
          : {}),
      },
      { ...FRESH, epochsDone },
      new Optimizer(model.rt, settings.optimizer),
    );
  }

  /**
   * The run a model file records, continued: its model, its optimizer with its saved state, its
   * settings and position ("run" record). `overrides` replace settings (see resume()); without a
   * run record (a file written by something else, or a damaged record), `defaults` and the
   * overrides are the settings and the run continues at the file's "epochs" fact.
   */
  static fromFile(rt: Runtime, bytes: Uint8Array, options: ResumeOptions = {}): ResumedSession {
    return TrainingSession.fromLoaded(deserializeModel(rt, bytes, options.what), options);
  }

  /** fromFile() on a model file already read (deserializeModel, or loadModelFile in Node). */
  static fromLoaded(loaded: ReturnType<typeof deserializeModel>, options: ResumeOptions = {}): ResumedSession {
    const rt = loaded.model.rt;
    const notes: string[] = [];
    if (loaded.runProblem) notes.push(`its run record is damaged (${loaded.runProblem}) and is ignored`);
    let session: TrainingSession | undefined;
    try {
      if (loaded.run) {
        restoreNoise(loaded.model, loaded.run.noise);
        const { position, ...settings } = splitRecord(loaded.run);
        session = new TrainingSession(loaded.model, settings, position, new Optimizer(rt, settings.optimizer));
      } else {
        if (!options.defaults)
          fail("BAD_ARGUMENT", `${options.what ?? "model file"}: it records no run; give the run's settings`);
        const defaults =
          typeof options.defaults === "function" ? options.defaults(loaded.model.spec) : options.defaults;
        const epochs = Number(loaded.metadata.epochs);
        const epochsDone = Number.isInteger(epochs) ? epochs : 0;
        // Without a record, the defaults' epochs are counted beyond the file's complete ones.
        session = TrainingSession.start(
          loaded.model,
          { ...defaults, epochs: epochsDone + defaults.epochs },
          epochsDone,
        );
      }
      session.savedState = loaded.optimizerState;
      session.takeSavedState();
      const overrides = session.resume(options.overrides ?? {});
      const state = loaded.optimizerState;
      if (session.savedStateProblem) {
        notes.push(
          `its optimizer state does not fit (${session.savedStateProblem}): ${session.optimizerInUse.name} starts afresh`,
        );
      } else if (
        state &&
        session.optimizerInUse.name === state.settings.name &&
        session.optimizerInUse.steps === state.settings.steps
      ) {
        notes.push(`resuming ${state.settings.name} from its saved state (step ${state.settings.steps})`);
      } else if (state) {
        notes.push(
          `the saved ${state.settings.name} state does not apply to ${session.optimizerInUse.name}: it starts afresh`,
        );
      } else if (session.at.epochsDone > 0 || session.at.batch > 0) {
        notes.push(`the file holds no optimizer state: ${session.optimizerInUse.name} starts afresh`);
      }
      return { session, metadata: loaded.metadata, overrides, notes };
    } catch (e) {
      session?.optimizerInUse.dispose();
      loaded.model.dispose();
      throw e;
    }
  }

  /**
   * Optimizer state read from a file: taken by the first optimizer of its rule (a resume may
   * choose the rule after loading), dropped when the run starts training.
   */
  private savedState?: SavedOptimizerState;

  /** Why saved optimizer state was dropped, for the notes of fromLoaded(). */
  private savedStateProblem?: string;

  private takeSavedState(): void {
    const saved = this.savedState;
    if (!saved || saved.settings.name !== this.optimizerInUse.name || this.optimizerInUse.steps !== 0) return;
    this.savedState = undefined;
    // An optimizer that never stepped saved no state: there is nothing to take.
    if (saved.settings.steps === 0) return;
    try {
      this.optimizerInUse.importState(this.model.params, saved.settings.steps, saved.tensors);
    } catch (e) {
      if (!(e instanceof MnistWasmError)) throw e;
      // Optional like the run record: state that does not fit the model is dropped, and said why.
      const fresh = new Optimizer(this.model.rt, { name: this.optimizerInUse.name, ...this.optimizerInUse.settings });
      this.optimizerInUse.dispose();
      this.optimizerInUse = fresh;
      this.savedStateProblem = e.message;
    }
  }

  get settings(): Readonly<RunSettings> {
    return this.current;
  }

  get position(): Readonly<RunPosition> {
    return this.at;
  }

  get optimizer(): Optimizer {
    return this.optimizerInUse;
  }

  /** Complete epochs behind the model. */
  get epochsDone(): number {
    return this.at.epochsDone;
  }

  /** True once the run has trained its last epoch. */
  get finished(): boolean {
    return this.at.batch === 0 && this.at.epochsDone >= this.current.epochs;
  }

  get diverged(): boolean {
    return this.isDiverged;
  }

  /**
   * Replaces settings of the run, listing what changed. `epochs` counts epochs beyond the complete
   * ones: the run then ends `epochs` after them. An unfinished run keeps its schedule, stretched or
   * shortened to the new last epoch; a finished run given more epochs starts a new schedule over
   * them (a cosine starts again from the rate). A new update rule starts with fresh state; the
   * same rule keeps its state whatever its settings.
   */
  resume(overrides: RunOverrides): Override[] {
    const changed: Override[] = [];
    const before = this.current;
    const next: RunSettings = { ...before };
    const note = (name: string, value: unknown, checkpoint: unknown): void => {
      if (JSON.stringify(value) !== JSON.stringify(checkpoint)) changed.push({ name, value, checkpoint });
    };
    for (const key of [
      "schedule",
      "warmup",
      "labelSmoothing",
      "winograd",
      "batchSize",
      "seed",
      "augment",
      "limit",
      "dataset",
    ] as const) {
      if (!(key in overrides)) continue;
      note(key, overrides[key], before[key]);
      (next as unknown as Record<string, unknown>)[key] = overrides[key];
    }
    if (overrides.optimizer) {
      const given = overrides.optimizer;
      const name = given.name ?? before.optimizer.name;
      // Another rule's settings do not carry over: it starts from its own defaults.
      const base: OptimizerSpec = name === before.optimizer.name ? before.optimizer : { name };
      next.optimizer = { ...base, ...given, name };
      for (const key of Object.keys(given) as (keyof OptimizerSpec)[]) {
        note(
          key === "name" ? "optimizer" : `optimizer.${key}`,
          given[key],
          before.optimizer[key] ??
            (key === "name"
              ? undefined
              : OPTIMIZER_DEFAULTS[before.optimizer.name][key as Exclude<keyof OptimizerSpec, "name">]),
        );
      }
    }
    const wasFinished = this.finished;
    if (overrides.epochs !== undefined) {
      next.epochs = this.at.epochsDone + overrides.epochs;
      note("epochs", next.epochs, before.epochs);
    }
    checkSettings(next);
    // Other data is checked by run(), which counts its batches.
    const batchesChanged = next.batchSize !== before.batchSize || next.limit !== before.limit;
    const position = { ...this.at };
    if (batchesChanged && position.batch > 0) {
      // The epoch in progress was cut into other batches: it starts again.
      position.batch = position.lossSum = position.correct = 0;
      delete position.klSum;
    }
    if (position.batches > 0) {
      if (wasFinished && next.epochs > before.epochs) {
        position.step = 0;
        position.steps = 0; // counted from the data at the next run()
      } else {
        position.steps += (next.epochs - before.epochs) * position.batches;
      }
    }
    if (
      next.optimizer.name !== this.optimizerInUse.name ||
      JSON.stringify(next.optimizer) !== JSON.stringify(before.optimizer)
    ) {
      this.replaceOptimizer(next.optimizer);
    }
    this.current = next;
    this.at = position;
    return changed;
  }

  /**
   * Trains from the run's position to its last epoch, or until `signal` stops it (then the
   * position is the batch it stopped after). A run already finished trains nothing: resume()
   * with more epochs first. A DIVERGED error leaves the session unusable.
   */
  async run(train: Dataset | DeviceData, options: SessionRunOptions = {}): Promise<SessionRunResult> {
    if (this.isDiverged) fail("BAD_STATE", "training session: the run diverged; start a new one");
    const s = this.current;
    this.savedState = undefined;
    // A limit applies to data in JavaScript memory; data already on the device is taken whole.
    const data =
      s.limit !== undefined && s.limit < train.count && !(train instanceof DeviceData)
        ? takeFirst(train, s.limit)
        : train;
    const batch = Math.min(s.batchSize, data.count);
    const batches = Math.ceil(data.count / batch);
    const at = this.at;
    if (at.batches !== batches) {
      // First run, or the data gives other batches than the checkpoint's: the schedule is
      // counted in the new batches, and an epoch in progress starts again.
      const segmentEpochs =
        at.batches > 0 && at.steps > 0 ? Math.round(at.steps / at.batches) : s.epochs - at.epochsDone;
      const segmentDone = at.batches > 0 ? Math.floor(at.step / at.batches) : 0;
      const { klSum: _kl, ...rest } = at;
      this.at = {
        ...rest,
        batch: 0,
        lossSum: 0,
        correct: 0,
        batches,
        step: segmentDone * batches,
        steps: segmentEpochs * batches,
      };
    } else if (at.steps === 0) {
      this.at = { ...at, step: 0, steps: (s.epochs - at.epochsDone) * batches };
    }
    const start = this.at;
    const epochs = s.epochs - start.epochsDone;
    if (epochs <= 0) return { history: [], stopped: false };
    const history: EpochRecord[] = [];
    try {
      const result = await fit(this.model, data, {
        epochs,
        batchSize: s.batchSize,
        optimizer: this.optimizerInUse,
        seed: s.seed,
        firstEpoch: start.epochsDone + 1,
        schedule: s.schedule,
        ...(s.warmup ? { warmup: s.warmup } : {}),
        ...(s.labelSmoothing ? { labelSmoothing: s.labelSmoothing } : {}),
        winograd: s.winograd === true,
        scheduleSteps: { step: start.step, steps: start.steps },
        resumeAt: {
          batch: start.batch,
          lossSum: start.lossSum,
          correct: start.correct,
          ...(start.klSum !== undefined ? { klSum: start.klSum } : {}),
        },
        ...(s.augment ? { augment: s.augment } : {}),
        ...(options.test ? { test: options.test } : {}),
        ...(options.signal ? { signal: options.signal } : {}),
        ...(options.onBatchEnd ? { onBatchEnd: options.onBatchEnd } : {}),
        onEpochEnd: async (record) => {
          history.push(record);
          this.history.push(record);
          const { klSum: _kl, ...rest } = this.at;
          this.at = {
            ...rest,
            epochsDone: record.epoch,
            batch: 0,
            lossSum: 0,
            correct: 0,
            step: start.step + (record.epoch - start.epochsDone) * batches - start.batch,
          };
          await options.onEpochEnd?.(record);
        },
      });
      this.at = result.stoppedAt
        ? {
            ...this.at,
            epochsDone: result.stoppedAt.epoch - 1,
            batch: result.stoppedAt.batch,
            lossSum: result.stoppedAt.lossSum,
            correct: result.stoppedAt.correct,
            ...(result.stoppedAt.klSum !== undefined ? { klSum: result.stoppedAt.klSum } : {}),
            step: result.step,
          }
        : { ...this.at, step: result.step };
      return { history, stopped: result.stopped };
    } catch (e) {
      if ((e as { code?: string }).code === "DIVERGED") this.isDiverged = true;
      throw e;
    }
  }

  /** The run's record, as save() writes it into the model file. */
  record(): RunRecord {
    const s = this.current;
    const noise = this.model.layers.flatMap((l) => (l.noise ? [[l.noise.seed, l.noise.step] as [number, number]] : []));
    return {
      ...s,
      optimizer: { ...s.optimizer },
      ...this.at,
      ...(noise.length > 0 ? { noise } : {}),
      loss: specLoss(this.model.spec),
    };
  }

  /**
   * The model file of the run as it stands: weights, the run record, the complete epochs, and
   * (unless `optimizerState` is false) the optimizer's state; with the last epoch's test accuracy
   * and loss when the run stands at the end of an epoch this session measured (the `facts`' own
   * testAccuracy and loss otherwise, unless the run stands inside an epoch).
   */
  save(facts: Record<string, string> = {}, options: { optimizerState?: boolean } = {}): Uint8Array {
    const last = this.history[this.history.length - 1];
    const measured = this.at.batch === 0 && last?.epoch === this.at.epochsDone && last.testAccuracy !== undefined;
    // Weights saved inside an epoch were measured by no test: they record no accuracy.
    const { testAccuracy: _t, loss: _l, ...rest } = facts;
    return serializeModel(
      this.model,
      {
        ...(this.at.batch === 0 ? facts : rest),
        ...(measured ? { testAccuracy: last.testAccuracy!.toFixed(4), loss: last.loss.toFixed(6) } : {}),
        epochs: String(this.at.epochsDone),
        run: JSON.stringify(this.record()),
      },
      options.optimizerState === false ? undefined : this.optimizerInUse,
    );
  }

  /** Frees the optimizer; with `model`, the model too. */
  dispose(options: { model?: boolean } = {}): void {
    this.optimizerInUse.dispose();
    if (options.model) this.model.dispose();
  }

  /** A new optimizer for `spec`; the same rule continues the state of the one it replaces. */
  private replaceOptimizer(spec: OptimizerSpec): void {
    const next = new Optimizer(this.model.rt, spec);
    const previous = this.optimizerInUse;
    try {
      if (previous.name === next.name && previous.steps > 0) {
        const state = previous.exportState(this.model.params);
        next.importState(this.model.params, state.settings.steps, state.tensors);
      }
    } catch (e) {
      next.dispose();
      throw e;
    }
    previous.dispose();
    this.optimizerInUse = next;
    this.takeSavedState();
  }
}

function splitRecord(record: RunRecord): RunSettings & { position: RunPosition } {
  const {
    epochsDone,
    batch,
    lossSum,
    correct,
    klSum,
    batches,
    step,
    steps,
    loss: _loss,
    noise: _noise,
    ...settings
  } = record;
  return {
    ...settings,
    position: { epochsDone, batch, lossSum, correct, ...(klSum !== undefined ? { klSum } : {}), batches, step, steps },
  };
}

function checkSettings(s: RunSettings): void {
  if (!Number.isInteger(s.epochs) || s.epochs < 0)
    fail("BAD_ARGUMENT", `training session: epochs must be a non-negative integer, got ${s.epochs}`);
  if (!Number.isInteger(s.batchSize) || s.batchSize <= 0)
    fail("BAD_ARGUMENT", `training session: batch size must be a positive integer, got ${s.batchSize}`);
  if (s.limit !== undefined && (!Number.isInteger(s.limit) || s.limit <= 0))
    fail("BAD_ARGUMENT", `training session: limit must be a positive integer, got ${s.limit}`);
  if (!SCHEDULES.includes(s.schedule))
    fail("BAD_ARGUMENT", `training session: schedule must be "constant" or "cosine", got ${String(s.schedule)}`);
  if (s.warmup !== undefined && !isWarmup(s.warmup))
    fail(
      "BAD_ARGUMENT",
      `training session: warmup must be a number of epochs from 0 to ${MAX_EPOCHS}, got ${String(s.warmup)}`,
    );
  if (s.labelSmoothing !== undefined && !isLabelSmoothing(s.labelSmoothing))
    fail("BAD_ARGUMENT", `training session: label smoothing must be from 0 up to 1, got ${String(s.labelSmoothing)}`);
  if (s.winograd !== undefined && typeof s.winograd !== "boolean")
    fail("BAD_ARGUMENT", `training session: winograd must be true or false, got ${String(s.winograd)}`);
}

/**
 * Puts a resumed model's dropout and sampling layers where the run's draws stood (its record's
 * "noise"), so that it draws what the uninterrupted run would have; a record without it (or for
 * another number of such layers) leaves them at their fresh draws.
 */
function restoreNoise(model: Model, noise: [number, number][] | undefined): void {
  const layers = model.layers.filter((l) => l.noise);
  if (!noise || noise.length !== layers.length) return;
  layers.forEach((layer, i) => {
    layer.noise = { seed: noise[i][0], step: noise[i][1] };
  });
}
