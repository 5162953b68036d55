package dev.nemoh.train;

import dev.nemoh.train.data.BatchPlan;
import dev.nemoh.train.data.MicroBatch;
import dev.nemoh.train.data.SftExample;
import dev.nemoh.train.data.StepPlan;

import java.io.PrintStream;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * The training loop: per optimizer step, the step's micro-batches go forward and backward with one shared
 * normalizer (the step's target count, so accumulating k micro-batches equals one batch k times larger), the global
 * gradient norm is clipped, AdamW updates the float32 master values at the scheduled rate, and the gradients are
 * cleared. It evaluates the held-out rows every {@code evalEvery} steps and at the end, writes {@code loss.csv} and
 * {@code loss.png} to the output directory, and saves a {@link TrainingCheckpoint} every {@code saveEvery} steps,
 * from which a resumed run continues the same loss curve bit for bit.
 */
public final class Trainer {
    /** AdamW's betas and epsilon: the HF Trainer's defaults. */
    static final double BETA1 = 0.9, BETA2 = 0.999, EPS = 1e-8;

    /**
     * What shapes the run. AdamW's betas and epsilon are the HF Trainer's defaults ({@value #BETA1}, {@value #BETA2},
     * {@value #EPS}); weight decay applies to every trainable parameter, as torch's AdamW does with one parameter
     * group. {@code dataSettings} are the settings that made the rows (such as {@code max_len}, {@code pack},
     * {@code eval_fraction}, by their option names; {@code _path} keys as information only), which the trainer does
     * not apply itself but which a resumed run must share: checkpoints record them with the rest.
     */
    public record Settings(LrSchedule schedule, double clip, double weightDecay, int evalEvery, int saveEvery,
                           int evalBatchSize, long seed, Map<String, Object> dataSettings) {
        public Settings {
            if (evalEvery < 0) throw new IllegalArgumentException("--eval-every must be >= 0, got " + evalEvery);
            if (saveEvery < 0) throw new IllegalArgumentException("--save-every must be >= 0, got " + saveEvery);
            if (!(clip >= 0)) throw new IllegalArgumentException("--clip must be >= 0 (0 disables), got " + clip);
            dataSettings = java.util.Collections.unmodifiableMap(new java.util.LinkedHashMap<>(dataSettings));
        }

        /** Settings of rows made elsewhere (tests, library use): nothing beyond the rows themselves to record. */
        public Settings(LrSchedule schedule, double clip, double weightDecay, int evalEvery, int saveEvery,
                        int evalBatchSize, long seed) {
            this(schedule, clip, weightDecay, evalEvery, saveEvery, evalBatchSize, seed, Map.of());
        }
    }

    private final TrainableModel model;
    private final BatchPlan plan;
    private final List<SftExample> evalRows;
    private final Settings settings;
    private final Path outDir;
    private final PrintStream log;
    private final boolean terminal;
    /** Why the chart could not be drawn, once that happened: the run does not try again. */
    private String plotFailure;
    /** Stop (with a checkpoint) after the first step that ends past this many seconds of the run; 0: never. */
    private double exitAfterSeconds;

    public Trainer(TrainableModel model, BatchPlan plan, List<SftExample> evalRows, Settings settings, Path outDir,
                   PrintStream log, boolean terminal) {
        this.model = model;
        this.plan = plan;
        this.evalRows = List.copyOf(evalRows);
        this.settings = settings;
        this.outDir = outDir;
        this.log = log;
        this.terminal = terminal;
    }

    /**
     * Stops the run after the first step that ends past {@code minutes} of training, with a checkpoint of that step,
     * as Megatron's {@code --exit-duration-in-mins} does: the same command again resumes there. 0 never stops early.
     */
    public Trainer exitAfterMinutes(double minutes) {
        if (!(minutes >= 0)) throw new IllegalArgumentException("--exit-after-minutes must be >= 0, got " + minutes);
        this.exitAfterSeconds = minutes * 60;
        return this;
    }

    /**
     * Trains to the schedule's last step, from scratch or from the checkpoint {@code resumeFrom} (may be null); with
     * {@link #exitAfterMinutes} the curve may end earlier, at a step that has its checkpoint.
     */
    public LossCurve train(Path resumeFrom) {
        List<Parameter> params = model.parameters();
        Optimizer optimizer = model.optimizer(BETA1, BETA2, EPS, settings.weightDecay());
        int total = settings.schedule().totalSteps();
        int first = 0;
        LossCurve curve = new LossCurve();
        if (resumeFrom != null) {
            TrainingCheckpoint.Resumed r = TrainingCheckpoint.load(resumeFrom, params, optimizer, fingerprint());
            model.pushParameters();
            first = r.step();
            curve = r.curve();
            log.println("resumed from " + resumeFrom + " at step " + first + " of " + total);
        }
        TrainingProgress progress = new TrainingProgress(log, terminal, first, total);
        long start = System.nanoTime();
        for (int step = first; step < total; step++) {
            LossCurve.Row row = step(step, optimizer);
            curve.add(row);
            progress.step(row);
            if (!Double.isNaN(row.evalLoss())) {
                progress.note(String.format(Locale.ROOT, "step %d: eval loss %.4f", row.step(), row.evalLoss()));
            }
            boolean timeUp = exitAfterSeconds > 0 && row.step() < total && (System.nanoTime() - start) / 1e9 >= exitAfterSeconds;
            if (timeUp || settings.saveEvery() > 0 && row.step() % settings.saveEvery() == 0 && row.step() < total) {
                model.pullParameters();
                Path dir = TrainingCheckpoint.save(outDir, row.step(), params, optimizer, curve, fingerprint());
                writeCurve(curve);
                progress.note("saved " + dir);
            }
            if (timeUp) {
                progress.note(String.format(Locale.ROOT, "stopped after step %d of %d: %.1f minutes (--exit-after-minutes);"
                        + " the same command resumes from %s", row.step(), total, exitAfterSeconds / 60,
                        outDir.resolve("checkpoint-" + row.step())));
                return curve;
            }
        }
        model.pullParameters();
        writeCurve(curve);
        return curve;
    }

    private LossCurve.Row step(int step, Optimizer optimizer) {
        long t0 = System.nanoTime();
        List<MicroBatch> batches = plan.step(step);
        long targets = batches.stream().mapToLong(MicroBatch::targets).sum();
        double normalizer = Math.max(1, targets);
        model.setTraining(true);
        model.seedDropout(settings.seed() * 0x9E3779B97F4A7C15L + step);
        double lossSum = 0;
        long counted = 0, tokens = 0;
        for (MicroBatch b : batches) {
            TrainableModel.LossSum loss = model.lossAndBackward(b.ids(), b.labels(), normalizer);
            lossSum += loss.sum();
            counted += loss.targets();
            tokens += b.tokens();
        }
        if (!Double.isFinite(lossSum)) {
            throw new TrainingDiverged("step " + (step + 1) + ": the loss is " + lossSum + "; training stopped"
                    + " (lower --lr, or check the data); the last checkpoint, if any, is intact");
        }
        double norm = optimizer.clipGradients(settings.clip());
        if (!Double.isFinite(norm)) {
            throw new TrainingDiverged("step " + (step + 1) + ": the gradient norm is " + norm + "; training"
                    + " stopped (lower --lr, or check the data); the last checkpoint, if any, is intact");
        }
        double lr = settings.schedule().lr(step);
        optimizer.step(lr);
        model.afterStep();
        double seconds = (System.nanoTime() - t0) / 1e9;
        boolean evalNow = !evalRows.isEmpty() && (step + 1 == settings.schedule().totalSteps()
                || settings.evalEvery() > 0 && (step + 1) % settings.evalEvery() == 0);
        return new LossCurve.Row(step + 1, counted == 0 ? 0 : lossSum / counted, evalNow ? evaluate() : Double.NaN,
                lr, norm, tokens, tokens / seconds);
    }

    /** Mean loss over every target of the held-out rows, dropout off. */
    public double evaluate() {
        model.setTraining(false);
        double sum = 0;
        long targets = 0;
        for (MicroBatch b : StepPlan.batches(evalRows, settings.evalBatchSize())) {
            TrainableModel.LossSum loss = model.loss(b.ids(), b.labels());
            sum += loss.sum();
            targets += loss.targets();
        }
        return targets == 0 ? Double.NaN : sum / targets;
    }

    private void writeCurve(LossCurve curve) {
        curve.write(outDir.resolve("loss.csv"));
        if (plotFailure != null) return;
        try {
            LossPlot.write(curve, outDir.resolve("loss.png"));
        } catch (UnsupportedOperationException e) {
            plotFailure = e.getMessage();
            log.println("warning: no loss.png: " + plotFailure + "; loss.csv has the curve");
        }
    }

    /**
     * Everything a checkpoint must share with the run resuming from it, by the names of the options that set it:
     * the model's (PEFT kind, adapter settings, base model identity), the optimizer's and schedule's, the batch
     * shape, seed, evaluation, precision, the settings that made the rows and the rows themselves (a hash of their
     * ids and labels, so another tokenizer or data file shows too). Keys ending in {@code _path} are information.
     */
    Map<String, Object> fingerprint() {
        Map<String, Object> run = new java.util.LinkedHashMap<>(model.fingerprint());
        LrSchedule s = settings.schedule();
        run.put("precision", "float32"); // master weights, gradients and AdamW moments
        run.put("lr", s.peak());
        run.put("schedule", s.kind().toString());
        if (s.minimum() > 0) run.put("min_lr", s.minimum());
        run.put("warmup", s.warmupSteps());
        run.put("steps", s.totalSteps());
        run.put("weight_decay", settings.weightDecay());
        run.put("betas", BETA1 + "," + BETA2);
        run.put("eps", EPS);
        run.put("clip", settings.clip());
        run.put("batch_size", plan.batchSize());
        run.put("grad_accum", plan.gradAccum());
        run.put("seed", settings.seed());
        run.put("eval_every", settings.evalEvery());
        run.put("eval_batch_size", settings.evalBatchSize());
        run.putAll(settings.dataSettings());
        run.put("rows", plan.rows());
        run.put("steps_per_epoch", plan.stepsPerEpoch());
        run.put("data", plan.rowsFingerprint());
        run.put("eval_data", SftExample.fingerprint(evalRows));
        run.put("parameters", model.parameters().stream().mapToLong(Parameter::numel).sum());
        return run;
    }
}
