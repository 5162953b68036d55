package dev.nemoh.train;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.nemoh.train.data.MicroBatch;
import dev.nemoh.train.data.SftExample;
import dev.nemoh.train.data.StepPlan;

import java.io.PrintStream;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;

/**
 * The training loop: per optimizer step, the step's micro-batches go forward and backward with one shared
 * normalizer (the step's target count, so accumulating k micro-batches equals one batch k times larger), the global
 * gradient norm is clipped, AdamW updates the float32 master values at the scheduled rate, and the gradients are
 * cleared. It evaluates the held-out rows every {@code evalEvery} steps and at the end, writes {@code loss.csv} and
 * {@code loss.png} to the output directory, and saves a {@link TrainingCheckpoint} every {@code saveEvery} steps,
 * from which a resumed run continues the same loss curve bit for bit.
 */
public final class Trainer {
    private static final ObjectMapper JSON = new ObjectMapper();

    /**
     * What shapes the run. AdamW's betas and epsilon are the HF Trainer's defaults (0.9, 0.999, 1e-8); weight decay
     * applies to every trainable parameter, as torch's AdamW does with one parameter group.
     */
    public record Settings(LrSchedule schedule, double clip, double weightDecay, int evalEvery, int saveEvery,
                           int evalBatchSize, long seed) {
        public Settings {
            if (evalEvery < 0) throw new IllegalArgumentException("--eval-every must be >= 0, got " + evalEvery);
            if (saveEvery < 0) throw new IllegalArgumentException("--save-every must be >= 0, got " + saveEvery);
            if (!(clip >= 0)) throw new IllegalArgumentException("--clip must be >= 0 (0 disables), got " + clip);
        }
    }

    private final TrainableModel model;
    private final StepPlan plan;
    private final List<SftExample> evalRows;
    private final Settings settings;
    private final Path outDir;
    private final PrintStream log;
    private final boolean terminal;
    /** Why the chart could not be drawn, once that happened: the run does not try again. */
    private String plotFailure;

    public Trainer(TrainableModel model, StepPlan plan, List<SftExample> evalRows, Settings settings, Path outDir,
                   PrintStream log, boolean terminal) {
        this.model = model;
        this.plan = plan;
        this.evalRows = List.copyOf(evalRows);
        this.settings = settings;
        this.outDir = outDir;
        this.log = log;
        this.terminal = terminal;
    }

    /** Trains to the schedule's last step, from scratch or from the checkpoint {@code resumeFrom} (may be null). */
    public LossCurve train(Path resumeFrom) {
        List<Parameter> params = model.parameters();
        AdamW optimizer = new AdamW(params, 0.9, 0.999, 1e-8, settings.weightDecay());
        int total = settings.schedule().totalSteps();
        int first = 0;
        LossCurve curve = new LossCurve();
        if (resumeFrom != null) {
            TrainingCheckpoint.Resumed r = TrainingCheckpoint.load(resumeFrom, params, optimizer, fingerprint());
            first = r.step();
            curve = r.curve();
            log.println("resumed from " + resumeFrom + " at step " + first + " of " + total);
        }
        TrainingProgress progress = new TrainingProgress(log, terminal, first, total);
        for (int step = first; step < total; step++) {
            LossCurve.Row row = step(step, params, optimizer);
            curve.add(row);
            progress.step(row);
            if (!Double.isNaN(row.evalLoss())) {
                progress.note(String.format(Locale.ROOT, "step %d: eval loss %.4f", row.step(), row.evalLoss()));
            }
            if (settings.saveEvery() > 0 && row.step() % settings.saveEvery() == 0 && row.step() < total) {
                Path dir = TrainingCheckpoint.save(outDir, row.step(), params, optimizer, curve, fingerprint());
                writeCurve(curve);
                progress.note("saved " + dir);
            }
        }
        writeCurve(curve);
        return curve;
    }

    private LossCurve.Row step(int step, List<Parameter> params, AdamW optimizer) {
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
        double norm = GradientClipping.clip(params, settings.clip());
        double lr = settings.schedule().lr(step);
        optimizer.step(lr);
        for (Parameter p : params) p.zeroGrad();
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

    /** Everything a checkpoint must share with the run resuming from it. */
    private ObjectNode fingerprint() {
        ObjectNode run = JSON.createObjectNode();
        LrSchedule s = settings.schedule();
        run.put("schedule", s.kind().toString()).put("lr", s.peak()).put("warmup", s.warmupSteps())
                .put("steps", s.totalSteps()).put("clip", settings.clip()).put("weight_decay", settings.weightDecay())
                .put("seed", settings.seed()).put("eval_every", settings.evalEvery())
                .put("rows", plan.rows()).put("steps_per_epoch", plan.stepsPerEpoch())
                .put("data", plan.fingerprint() + "/" + SftExample.fingerprint(evalRows))
                .put("parameters", model.parameters().stream().mapToLong(Parameter::numel).sum());
        return run;
    }
}
