package dev.nemoh.cli;

import dev.nemoh.config.NemotronHConfig;
import dev.nemoh.export.RandomWeights;
import dev.nemoh.io.IndexedDataset;
import dev.nemoh.tokenizer.Tokenizer;
import dev.nemoh.train.FullFineTune;
import dev.nemoh.train.LossCurve;
import dev.nemoh.train.LrSchedule;
import dev.nemoh.train.TrainableModel;
import dev.nemoh.train.Trainer;
import dev.nemoh.train.TrainingCheckpoint;
import dev.nemoh.train.data.PretrainSamples;
import dev.nemoh.train.data.SftExample;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.io.IOException;
import java.io.PrintStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;

@Command(name = "pretrain", mixinStandardHelpOptions = true, sortOptions = false,
        description = "Pretrains a Nemotron-H model from random weights (transformers' initialisation) on Megatron "
                + "indexed datasets (nemoh preprocess), blended by weight as Megatron's --data-path, with checkpoints, "
                + "exact resume, validation loss and perplexity, and a Hugging Face checkpoint in OUT/model at the end.")
final class PretrainCommand implements Callable<Integer> {
    @ArgGroup(multiplicity = "1")
    InitCommand.Shape shape;

    @Option(names = "--layers", paramLabel = "N", description = "Keep the first N layers of the shape's pattern.")
    Integer layers;

    @Option(names = "--tokenizer", paramLabel = "DIR",
            description = "The tokenizer the data was made with; copied into OUT/model so that it generates text.")
    Path tokenizer;

    @Option(names = "--data", required = true, arity = "1..*", paramLabel = "[WEIGHT] PATH",
            description = "Data paths (PREFIX_text_document, without .bin/.idx), each optionally after its weight, "
                    + "as Megatron's --data-path; without weights each path weighs its tokens.")
    List<String> data;

    @Option(names = "--split", defaultValue = "969,30,1", paramLabel = "TRAIN,VALID[,TEST]",
            description = "Each dataset's documents split by these proportions, in order. Default: ${DEFAULT-VALUE}.")
    String split;

    @Option(names = "--seq-len", defaultValue = "1024", description = "Tokens per sample. Default: ${DEFAULT-VALUE}.")
    int seqLen;

    @Option(names = "--micro-batch", defaultValue = "1", description = "Samples per forward. Default: ${DEFAULT-VALUE}.")
    int microBatch;

    @Option(names = "--global-batch", paramLabel = "N",
            description = "Samples per optimizer step, a multiple of --micro-batch. Default: --micro-batch.")
    Integer globalBatch;

    @Option(names = "--steps", required = true, description = "Optimizer steps.")
    int steps;

    @Option(names = "--lr", defaultValue = "3e-4", description = "Peak learning rate. Default: ${DEFAULT-VALUE}.")
    double lr;

    @Option(names = "--min-lr", defaultValue = "0", description = "Learning rate the decay ends at. Default: ${DEFAULT-VALUE}.")
    double minLr;

    @Option(names = "--warmup", defaultValue = "0", description = "Linear warmup steps. Default: ${DEFAULT-VALUE}.")
    int warmup;

    @Option(names = "--schedule", defaultValue = "cosine", description = "constant, linear or cosine. Default: ${DEFAULT-VALUE}.")
    String schedule;

    @Option(names = "--weight-decay", defaultValue = "0.1", description = "AdamW weight decay. Default: ${DEFAULT-VALUE}.")
    double weightDecay;

    @Option(names = "--clip", defaultValue = "1.0", description = "Max global gradient norm; 0 disables. Default: ${DEFAULT-VALUE}.")
    double clip;

    @Option(names = "--eval-every", defaultValue = "0", description = "Validation loss every N steps (and at the end). Default: ${DEFAULT-VALUE}.")
    int evalEvery;

    @Option(names = "--eval-samples", defaultValue = "32", description = "Validation samples (0: none). Default: ${DEFAULT-VALUE}.")
    int evalSamples;

    @Option(names = "--save-every", defaultValue = "0", description = "Checkpoint every N steps (0: none). Default: ${DEFAULT-VALUE}.")
    int saveEvery;

    @Option(names = "--seed", defaultValue = "1234", description = "Seed of the weights and the data order. Default: ${DEFAULT-VALUE}.")
    long seed;

    @Option(names = "--out", required = true, paramLabel = "DIR", description = "Output: init/, checkpoint-N/, model/, loss.csv/png.")
    Path out;

    @Option(names = "--resume", paramLabel = "DIR", description = "Checkpoint to resume from. Default: OUT's latest.")
    Path resume;

    @Option(names = "--exit-after-minutes", defaultValue = "0", paramLabel = "M",
            description = "Stop with a checkpoint after the step that ends past M minutes; the same command resumes. Default: never.")
    double exitAfterMinutes;

    @Mixin
    TrainingDevice device;

    @Override
    public Integer call() {
        device.check();
        NemotronHConfig config = shape.config(layers);
        int global = globalBatch != null ? globalBatch : microBatch;
        if (microBatch < 1 || global < 1 || global % microBatch != 0) {
            throw new IllegalArgumentException("--global-batch " + global + " must be a positive multiple of --micro-batch " + microBatch);
        }
        if (evalSamples < 0) throw new IllegalArgumentException("--eval-samples must be >= 0, got " + evalSamples);
        if (evalEvery > 0 && evalSamples == 0) throw new IllegalArgumentException("--eval-every needs --eval-samples > 0");
        Tokenizer tok = tokenizer == null ? null : Tokenizer.load(tokenizer);
        if (tok != null && tok.vocabSize() > config.vocabSize) {
            throw new IllegalArgumentException("the tokenizer has " + tok.vocabSize() + " tokens but the model's vocab_size is "
                    + config.vocabSize + ": give a shape (--config) whose vocab_size covers the tokenizer");
        }
        double[] ratios = splitRatios(split);
        PrintStream log = System.err;

        List<IndexedDataset> opened = new ArrayList<>();
        try {
            List<PretrainSamples.Source> train = new ArrayList<>(), valid = new ArrayList<>();
            Map<String, Object> dataSettings = new LinkedHashMap<>();
            List<Map.Entry<Double, String>> blend = blend(data);
            for (int i = 0; i < blend.size(); i++) {
                String path = blend.get(i).getValue();
                IndexedDataset d = IndexedDataset.open(Path.of(path));
                opened.add(d);
                int docs = d.documentCount();
                int trainEnd = (int) Math.round(ratios[0] * docs), validEnd = (int) Math.round((ratios[0] + ratios[1]) * docs);
                Double w = blend.get(i).getKey();
                train.add(new PretrainSamples.Source(path + " (train split)", d, w != null ? w : tokens(d, 0, trainEnd), 0, trainEnd));
                if (evalSamples > 0 && validEnd > trainEnd) {
                    valid.add(new PretrainSamples.Source(path + " (validation split)", d,
                            w != null ? w : tokens(d, trainEnd, validEnd), trainEnd, validEnd));
                }
                dataSettings.put("data_" + i + "_weight", w != null ? w : "tokens");
                dataSettings.put("data_" + i + "_path", Path.of(path).toAbsolutePath().normalize().toString());
            }
            if (evalSamples > 0 && valid.isEmpty()) {
                throw new IllegalArgumentException("--split " + split + " leaves no validation documents: give the "
                        + "validation split a share (e.g. --split 98,2) or pass --eval-samples 0");
            }
            PretrainSamples plan = new PretrainSamples(train, seqLen, microBatch, global / microBatch, seed)
                    .checkIds(config.vocabSize);
            List<SftExample> evalRows = evalSamples == 0 ? List.of()
                    : new PretrainSamples(valid, seqLen, microBatch, 1, seed + 1).checkIds(config.vocabSize).first(evalSamples);
            dataSettings.put("seq_len", seqLen);
            dataSettings.put("split", split);
            dataSettings.put("eval_samples", evalSamples);
            log.printf(Locale.ROOT, "data: %d dataset%s, %,d training samples of %d tokens a pass, %d validation samples; "
                            + "%d steps of %d samples (%,d tokens a step)%n", blend.size(), blend.size() == 1 ? "" : "s",
                    plan.rows(), seqLen, evalRows.size(), steps, global, (long) global * seqLen);

            Path init = out.resolve("init");
            writeInit(config, init);
            LrSchedule lrSchedule = new LrSchedule(LrSchedule.Kind.parse(schedule), lr, warmup, steps, minLr);
            Trainer.Settings settings = new Trainer.Settings(lrSchedule, clip, weightDecay, evalEvery, saveEvery,
                    microBatch, seed, dataSettings);
            Path from = resume != null ? resume : TrainingCheckpoint.latest(out).orElse(null);
            long t0 = System.nanoTime();
            FullFineTune whole = FullFineTune.load(init);
            TrainableModel trainable = device.model(init, whole, null);
            log.printf(Locale.ROOT, "pretraining on %s: %,d parameters, loaded in %.1f s%n", trainable.device(),
                    trainable.parameters().stream().mapToLong(p -> p.numel()).sum(), (System.nanoTime() - t0) / 1e9);
            boolean terminal = System.console() != null && System.console().isTerminal();
            LossCurve curve = new Trainer(trainable, plan, evalRows, settings, out, log, terminal)
                    .exitAfterMinutes(exitAfterMinutes).train(from);
            if (curve.rows().getLast().step() < steps) return 0; // stopped for time, with a checkpoint to resume from

            Path model = out.resolve("model");
            whole.export(model);
            if (tokenizer != null) copyTokenizer(tokenizer, model);
            log.println("wrote " + model + (tokenizer == null ? " (no --tokenizer: add tokenizer files to generate text)" : ""));
            LossCurve.Row last = curve.rows().getLast();
            if (!Double.isNaN(last.evalLoss())) {
                System.out.printf(Locale.ROOT, "validation loss %.4f, perplexity %.2f (%d samples of %d tokens)%n",
                        last.evalLoss(), Math.exp(last.evalLoss()), evalRows.size(), seqLen);
            }
            log.println("loss curve: " + out.resolve("loss.csv") + ", " + out.resolve("loss.png"));
            return 0;
        } finally {
            opened.forEach(IndexedDataset::close);
        }
    }

    /** Megatron's --data-path list: PATH..., or WEIGHT PATH pairs (a null weight: by tokens). */
    static List<Map.Entry<Double, String>> blend(List<String> args) {
        boolean weighted = args.size() % 2 == 0;
        for (int i = 0; weighted && i < args.size(); i += 2) weighted = number(args.get(i)) != null;
        List<Map.Entry<Double, String>> out = new ArrayList<>();
        if (weighted) {
            for (int i = 0; i < args.size(); i += 2) out.add(new java.util.AbstractMap.SimpleEntry<>(number(args.get(i)), args.get(i + 1)));
        } else {
            for (String a : args) {
                if (number(a) != null) {
                    throw new IllegalArgumentException("--data " + String.join(" ", args) + ": give every path a weight "
                            + "(WEIGHT PATH WEIGHT PATH ...) or none");
                }
                out.add(new java.util.AbstractMap.SimpleEntry<>(null, a));
            }
        }
        return out;
    }

    private static Double number(String s) {
        try {
            return Double.parseDouble(s);
        } catch (NumberFormatException e) {
            return null;
        }
    }

    static double[] splitRatios(String split) {
        String[] parts = split.split(",");
        if (parts.length < 2 || parts.length > 3) {
            throw new IllegalArgumentException("--split " + split + ": give TRAIN,VALID or TRAIN,VALID,TEST proportions");
        }
        double[] r = new double[3];
        double sum = 0;
        for (int i = 0; i < parts.length; i++) {
            Double v = number(parts[i].strip());
            if (v == null || !(v >= 0)) throw new IllegalArgumentException("--split " + split + ": '" + parts[i] + "' is not a proportion");
            r[i] = v;
            sum += v;
        }
        if (!(r[0] > 0)) throw new IllegalArgumentException("--split " + split + " gives training no documents");
        for (int i = 0; i < 3; i++) r[i] /= sum;
        return r;
    }

    private static double tokens(IndexedDataset d, int firstDoc, int endDoc) {
        long n = 0;
        for (int doc = firstDoc; doc < endDoc; doc++) {
            int[] q = d.documentSequences(doc);
            for (int s = q[0]; s < q[1]; s++) n += d.length(s);
        }
        return Math.max(1, n);
    }

    /** The random initial weights, written once: a rerun (resume) finds the same shape there or stops. */
    private void writeInit(NemotronHConfig config, Path init) {
        Path cfg = init.resolve("config.json");
        if (Files.isRegularFile(cfg)) {
            if (!NemotronHConfig.load(init).toJsonString().equals(config.toJsonString())) {
                throw new IllegalArgumentException(out + " holds a run of another shape (" + cfg + "): use a new --out");
            }
            return;
        }
        Path tmp = out.resolve("init.tmp");
        RandomWeights.write(config, tmp, seed);
        try {
            Files.move(tmp, init, StandardCopyOption.ATOMIC_MOVE);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write " + init + ": " + e.getMessage(), e);
        }
    }

    private static void copyTokenizer(Path from, Path model) {
        Path dir = Files.isDirectory(from) ? from : from.toAbsolutePath().getParent();
        for (String f : List.of("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "chat_template.jinja")) {
            Path src = dir.resolve(f);
            if (!Files.isRegularFile(src)) continue;
            try {
                Files.copy(src, model.resolve(f), StandardCopyOption.REPLACE_EXISTING);
            } catch (IOException e) {
                throw new UncheckedIOException("cannot copy " + src + " into " + model + ": " + e.getMessage(), e);
            }
        }
    }
}
