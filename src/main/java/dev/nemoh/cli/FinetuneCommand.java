package dev.nemoh.cli;

import dev.nemoh.config.NemotronHConfig;
import dev.nemoh.tokenizer.Tokenizer;
import dev.nemoh.train.FullFineTune;
import dev.nemoh.config.LoraConfig;
import dev.nemoh.train.LoraModel;
import dev.nemoh.train.LossCurve;
import dev.nemoh.train.LrSchedule;
import dev.nemoh.train.TrainableModel;
import dev.nemoh.train.Trainer;
import dev.nemoh.train.TrainingCheckpoint;
import dev.nemoh.train.data.HeldOut;
import dev.nemoh.train.data.Packing;
import dev.nemoh.train.data.SftDataset;
import dev.nemoh.train.data.SftExample;
import dev.nemoh.train.data.StepPlan;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;

@Command(name = "finetune", mixinStandardHelpOptions = true, sortOptions = false,
        description = "Fine-tunes a model on a JSONL data set with LoRA, DoRA or all weights (see README, Fine-tuning).")
final class FinetuneCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Option(names = "--recipe", paramLabel = "FILE",
            description = "YAML or JSON file of option values (keys: the long options without dashes); flags given on the command line override it.")
    Path recipe;

    @Option(names = {"-m", "--model"}, paramLabel = "DIR", description = "Base model directory. Default: the bundled small model (models/nemoh-small).")
    Path model;

    @Option(names = "--data", paramLabel = "FILE", description = "Training data: JSONL with \"messages\" or \"input\"/\"output\" per line.")
    Path data;

    @Option(names = "--out", paramLabel = "DIR", description = "Output directory: adapter/ or model/, merged/, checkpoints, loss.csv, loss.png.")
    Path out;

    @Option(names = "--peft", defaultValue = "lora", paramLabel = "KIND", description = "lora, dora or none (all weights). Default: ${DEFAULT-VALUE}.")
    String peft;

    @Option(names = "--r", defaultValue = "8", description = "LoRA rank. Default: ${DEFAULT-VALUE}.")
    int r;

    @Option(names = "--alpha", defaultValue = "16", description = "LoRA alpha (scaling alpha/r). Default: ${DEFAULT-VALUE}.")
    double alpha;

    @Option(names = "--dropout", defaultValue = "0", description = "LoRA dropout. Default: ${DEFAULT-VALUE}.")
    double dropout;

    @Option(names = "--rslora", negatable = true, description = "Rank-stabilised scaling alpha/sqrt(r).")
    boolean rslora;

    @Option(names = "--targets", split = ",", paramLabel = "MODULE",
            description = "Linear layers that get adapters. Default: every adaptable layer but the Mamba output "
                    + "projection, which PEFT refuses.")
    List<String> targets;

    @Option(names = "--lr", paramLabel = "RATE", description = "Peak learning rate. Default: 2e-4 with adapters, 2e-5 for all weights.")
    Double lr;

    @Option(names = "--epochs", defaultValue = "1", description = "Passes over the data (unless --steps). Default: ${DEFAULT-VALUE}.")
    int epochs;

    @Option(names = "--steps", defaultValue = "0", description = "Optimizer steps in all; overrides --epochs when > 0.")
    int steps;

    @Option(names = "--batch-size", defaultValue = "1", description = "Rows per micro-batch. Default: ${DEFAULT-VALUE}.")
    int batchSize;

    @Option(names = "--grad-accum", defaultValue = "1", description = "Micro-batches per optimizer step. Default: ${DEFAULT-VALUE}.")
    int gradAccum;

    @Option(names = "--max-len", defaultValue = "512", description = "Tokens per example (longer ones are cut) and per packed row. Default: ${DEFAULT-VALUE}.")
    int maxLen;

    @Option(names = "--pack", negatable = true, description = "Pack examples end to end into rows of --max-len tokens.")
    boolean pack;

    @Option(names = "--warmup", defaultValue = "0", description = "Linear warmup steps. Default: ${DEFAULT-VALUE}.")
    int warmup;

    @Option(names = "--schedule", defaultValue = "linear", description = "constant, linear or cosine. Default: ${DEFAULT-VALUE}.")
    String schedule;

    @Option(names = "--weight-decay", defaultValue = "0", description = "AdamW weight decay. Default: ${DEFAULT-VALUE}.")
    double weightDecay;

    @Option(names = "--clip", defaultValue = "1.0", description = "Max global gradient norm; 0 disables. Default: ${DEFAULT-VALUE}.")
    double clip;

    @Option(names = "--eval-data", paramLabel = "FILE", description = "Held-out JSONL file for the eval loss.")
    Path evalData;

    @Option(names = "--eval-fraction", defaultValue = "0", description = "Share of --data held out for the eval loss instead. Default: ${DEFAULT-VALUE}.")
    double evalFraction;

    @Option(names = "--eval-every", defaultValue = "0", description = "Eval loss every N steps (and always at the end). Default: only at the end.")
    int evalEvery;

    @Option(names = "--save-every", defaultValue = "0", description = "Checkpoint every N steps into OUT/checkpoint-N. Default: none.")
    int saveEvery;

    @Option(names = "--seed", defaultValue = "42", description = "Seed of data order, split, adapter init and dropout. Default: ${DEFAULT-VALUE}.")
    long seed;

    @Option(names = "--resume", paramLabel = "DIR", description = "Checkpoint to resume from. Default: the latest OUT/checkpoint-N, if any.")
    Path resume;

    @Mixin
    TrainingDevice device;

    @Option(names = "--exit-after-minutes", defaultValue = "0", paramLabel = "M",
            description = "Stop with a checkpoint after the step that ends past M minutes; the same command resumes. Default: never.")
    double exitAfterMinutes;

    @Option(names = "--merge", negatable = true, description = "Also write the adapter merged into the base model to OUT/merged (a model 'generate' loads).")
    boolean merge;

    @Override
    public Integer call() {
        java.util.Set<String> fromRecipe = recipe != null ? Recipe.apply(recipe, spec) : java.util.Set.of();
        device.check();
        if (data == null) throw new IllegalArgumentException("missing --data FILE (or 'data:' in the recipe)");
        if (out == null) throw new IllegalArgumentException("missing --out DIR (or 'out:' in the recipe)");
        boolean full = switch (peft.toLowerCase(Locale.ROOT)) {
            case "lora", "dora" -> false;
            case "none" -> true;
            default -> throw new IllegalArgumentException("unknown --peft '" + peft + "': use lora, dora or none");
        };
        if (full) {
            List<String> adapterOptions = java.util.stream.Stream.of("--r", "--alpha", "--dropout", "--rslora", "--targets")
                    .filter(o -> fromRecipe.contains(o) || spec.commandLine().getParseResult().hasMatchedOption(o)).toList();
            if (!adapterOptions.isEmpty()) {
                throw new IllegalArgumentException(String.join(", ", adapterOptions) + " set adapters, and --peft none"
                        + " trains every weight without any: drop " + (adapterOptions.size() == 1 ? "it" : "them")
                        + " or use --peft lora");
            }
        }
        if (full && merge) {
            throw new IllegalArgumentException("--merge is for adapters; with --peft none the whole model is written"
                    + " to OUT/model already");
        }
        if (evalEvery > 0 && evalData == null && evalFraction == 0) {
            throw new IllegalArgumentException("--eval-every needs held-out rows: add --eval-data FILE or --eval-fraction F");
        }
        if (evalData != null && evalFraction > 0) {
            throw new IllegalArgumentException("--eval-data and --eval-fraction both name a held-out set: use one");
        }
        LrSchedule.Kind scheduleKind = LrSchedule.Kind.parse(schedule);
        LoraConfig loraConfig = full ? null
                : new LoraConfig(r, alpha, dropout, targets != null ? targets : LoraConfig.PEFT_TARGETS, rslora, peft.equalsIgnoreCase("dora"), seed);
        PrintStream log = System.err;
        Path modelDir = ModelDir.resolve(model);
        Tokenizer tokenizer = Tokenizer.load(modelDir);
        List<Integer> endOfTurn = TextModel.stopTokens(modelDir, NemotronHConfig.load(modelDir).eosTokenIds);

        SftDataset.Loaded loaded = SftDataset.read(data, tokenizer, endOfTurn, maxLen);
        HeldOut split = HeldOut.split(loaded.examples(), evalFraction, seed);
        List<SftExample> evalExamples = evalData == null ? split.eval()
                : SftDataset.read(evalData, tokenizer, endOfTurn, maxLen).examples();
        List<SftExample> trainRows = pack ? Packing.pack(split.train(), maxLen) : split.train();
        List<SftExample> evalRows = pack ? Packing.pack(evalExamples, maxLen) : evalExamples;
        StepPlan plan = new StepPlan(trainRows, batchSize, gradAccum, seed);
        int total = steps > 0 ? steps : Math.multiplyExact(Math.max(1, epochs), plan.stepsPerEpoch());
        log.printf(Locale.ROOT, "data: %d examples (%d cut to %d tokens, %d dropped with nothing to learn), %d train"
                        + " rows%s, %d eval rows; %d steps of %d rows (%d steps an epoch)%n",
                loaded.examples().size(), loaded.truncated(), maxLen, loaded.dropped(), trainRows.size(),
                pack ? " packed" : "", evalRows.size(), total, batchSize * gradAccum, plan.stepsPerEpoch());

        double peak = lr != null ? lr : full ? 2e-5 : 2e-4;
        LrSchedule lrSchedule = new LrSchedule(scheduleKind, peak, warmup, total);
        Map<String, Object> dataSettings = new LinkedHashMap<>();
        dataSettings.put("max_len", maxLen);
        dataSettings.put("pack", pack);
        dataSettings.put("eval_fraction", evalFraction);
        dataSettings.put("data_path", data.toAbsolutePath().normalize().toString());
        if (evalData != null) dataSettings.put("eval_data_path", evalData.toAbsolutePath().normalize().toString());
        Trainer.Settings settings = new Trainer.Settings(lrSchedule, clip, weightDecay, evalEvery, saveEvery,
                batchSize, seed, dataSettings);
        Path from = resume != null ? resume : TrainingCheckpoint.latest(out).orElse(null);
        try {
            Files.createDirectories(out);
        } catch (java.io.IOException e) {
            throw new IllegalArgumentException("cannot create --out " + out + ": " + e.getMessage());
        }

        long t0 = System.nanoTime();
        LoraModel adapter = full ? null : LoraModel.create(modelDir, loraConfig);
        FullFineTune whole = full ? FullFineTune.load(modelDir) : null;
        TrainableModel trainable = device.model(modelDir, full ? whole : adapter, loraConfig);
        log.printf(Locale.ROOT, "%s on %s: %,d trainable parameters, loaded in %.1f s%n", full ? "full fine-tuning" : peft,
                trainable.device(), trainable.parameters().stream().mapToLong(p -> p.numel()).sum(),
                (System.nanoTime() - t0) / 1e9);
        boolean terminal = System.console() != null && System.console().isTerminal();
        LossCurve curve = new Trainer(trainable, plan, evalRows, settings, out, log, terminal)
                .exitAfterMinutes(exitAfterMinutes).train(from);
        if (curve.rows().getLast().step() < total) return 0; // stopped for time, with a checkpoint to resume from

        if (full) {
            whole.export(out.resolve("model"));
            log.println("wrote " + out.resolve("model"));
        } else {
            adapter.save(out.resolve("adapter"));
            log.println("wrote " + out.resolve("adapter") + " (PEFT adapter)");
            if (merge) {
                adapter.mergeAndExport(out.resolve("merged"));
                log.println("wrote " + out.resolve("merged") + " (merged model)");
            }
        }
        log.println("loss curve: " + out.resolve("loss.csv") + ", " + out.resolve("loss.png"));
        return 0;
    }
}
