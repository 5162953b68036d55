package dev.nemoh.cli;

import dev.nemoh.config.NemotronHConfig;
import dev.nemoh.cuda.Cuda;
import dev.nemoh.cuda.CudaTrainableModel;
import dev.nemoh.cuda.Profiler;
import dev.nemoh.kernels.Parallel;
import dev.nemoh.train.Optimizer;
import dev.nemoh.train.FullFineTune;
import dev.nemoh.config.LoraConfig;
import dev.nemoh.train.LoraModel;
import dev.nemoh.train.Parameter;
import dev.nemoh.train.TrainableModel;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.lang.management.ManagementFactory;
import java.lang.management.MemoryType;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.SplittableRandom;

@Command(name = "train-bench", mixinStandardHelpOptions = true,
        description = "Times fine-tuning steps (forward, backward, AdamW) on random tokens; prints training tok/s.")
final class TrainBenchCommand implements Runnable {
    @Mixin
    ModelDir model;

    @Mixin
    TrainingDevice device;

    @Option(names = "--seq-len", defaultValue = "256", description = "Tokens per sequence (default ${DEFAULT-VALUE}).")
    int seqLen;

    @Option(names = "--batch", defaultValue = "4", description = "Sequences per step (default ${DEFAULT-VALUE}).")
    int batch;

    @Option(names = "--steps", defaultValue = "5", description = "Timed steps, after one warm-up step (default ${DEFAULT-VALUE}).")
    int steps;

    @Option(names = "--lora-r", defaultValue = "0", description = "LoRA rank on every linear layer; 0 trains every weight (default).")
    int loraR;

    @Option(names = "--dora", description = "DoRA instead of plain LoRA (with --lora-r).")
    boolean dora;

    @Option(names = "--profile", description = "With --device cuda: after the timed steps, one more step with every kernel and product timed, as a table.")
    boolean profile;

    @Override
    public void run() {
        device.check();
        if (seqLen < 2 || batch < 1 || steps < 1) {
            throw new IllegalArgumentException("--seq-len must be >= 2, --batch and --steps >= 1");
        }
        if (profile && !device.cuda()) throw new IllegalArgumentException("--profile times GPU kernels: use it with --device cuda");
        if (dora && loraR == 0) {
            throw new IllegalArgumentException("--dora needs adapters: give --lora-r R (with --lora-r 0 every weight trains)");
        }
        Path dir = model.directory("train-bench");
        NemotronHConfig c = NemotronHConfig.load(dir);
        LoraConfig lora = loraR > 0 ? new LoraConfig(loraR, 2.0 * loraR, 0, LoraConfig.MODULES, false, dora, 0) : null;
        TrainableModel host = lora != null ? LoraModel.create(dir, lora) : FullFineTune.load(dir);
        TrainableModel m = device.model(dir, host, lora);
        long trainable = m.parameters().stream().mapToLong(Parameter::numel).sum();
        Optimizer opt = m.optimizer(0.9, 0.95, 1e-8, 0.1);
        GpuMemory memory = device.cuda() ? new GpuMemory() : null;
        SplittableRandom random = new SplittableRandom(1);
        int[][] ids = new int[batch][];
        for (int b = 0; b < batch; b++) ids[b] = random.ints(seqLen, 0, c.vocabSize).toArray();
        m.setTraining(true);
        step(m, opt, ids);
        if (memory != null) memory.sample();
        long t0 = System.nanoTime();
        double loss = 0;
        for (int s = 0; s < steps; s++) {
            loss = step(m, opt, ids);
            if (memory != null) memory.sample();
        }
        double train = (System.nanoTime() - t0) / 1e9;
        m.setTraining(false);
        long t1 = System.nanoTime();
        m.loss(ids, ids);
        double forward = (System.nanoTime() - t1) / 1e9;
        long tokens = (long) batch * seqLen;
        System.out.printf(Locale.ROOT, "model       %s (%,d params, %s), %s%n", dir, c.paramCount(), c.pattern(),
                device.cuda() ? m.device() : Parallel.threads() + " threads");
        System.out.printf(Locale.ROOT, "training    %s, %,d trainable parameters%n",
                loraR > 0 ? (dora ? "DoRA" : "LoRA") + " r=" + loraR + " on every linear layer" : "every weight", trainable);
        System.out.printf(Locale.ROOT, "batch       %d x %d tokens, %d timed steps, last loss %.4f%n", batch, seqLen, steps, loss);
        System.out.printf(Locale.ROOT, "train step  %.3f s, %.0f tok/s (forward + backward + AdamW)%n", train / steps, tokens * steps / train);
        System.out.printf(Locale.ROOT, "forward     %.3f s, %.0f tok/s (loss only)%n", forward, tokens / forward);
        double flops = modelFlops(c, trainable, lora != null) * tokens;
        System.out.printf(Locale.ROOT, "MFU         %.1f%% of %.0f TFLOP/s (%.3g model FLOPs a step: %s)%n",
                100 * flops / (train / steps) / PEAK_FLOPS, PEAK_FLOPS / 1e12, flops,
                lora != null ? "4·N·T + 6·adapters·T" : "6·N·T");
        if (memory != null) {
            System.out.printf(Locale.ROOT, "peak GPU    %.2f GiB in use on the device (cuMemGetInfo, after each step)%n",
                    memory.peak / (double) (1L << 30));
        }
        if (profile && m instanceof CudaTrainableModel gpu) {
            Profiler profiler = new Profiler(Cuda.get());
            gpu.profile(profiler);
            step(m, opt, ids);
            gpu.profile(null);
            List<Profiler.Line> lines = profiler.report();
            System.out.printf(Locale.ROOT, "%n### one training step, per kernel%n%n%s", Profiler.table(Profiler.byKernel(lines)));
            System.out.printf(Locale.ROOT, "%n### the 20 largest by shape%n%n%s", Profiler.table(lines.subList(0, Math.min(20, lines.size()))));
        }
        long heapPeak = ManagementFactory.getMemoryPoolMXBeans().stream().filter(p -> p.getType() == MemoryType.HEAP)
                .mapToLong(p -> p.getPeakUsage().getUsed()).sum();
        System.out.printf(Locale.ROOT, "peak RSS    %.2f GiB (VmHWM; mapped frozen weights count once read); heap pools' peaks sum to %.2f GiB, limit %.1f GiB%n",
                BenchCommand.peakRssBytes() / (double) (1L << 30), heapPeak / (double) (1L << 30),
                Runtime.getRuntime().maxMemory() / (double) (1L << 30));
    }

    /** Dense bf16 peak of one H100/H200, the denominator of MFU. */
    static final double PEAK_FLOPS = 989e12;

    /**
     * Model FLOPs per token: 6·N for full fine-tuning (forward, input and weight gradients) and 4·N plus 6 per
     * adapter parameter for adapters (the frozen weights take no weight gradient), with N the parameters a token
     * multiplies (every matrix but the embedding lookup).
     */
    static double modelFlops(NemotronHConfig c, long trainable, boolean adapters) {
        double n = c.activeParamCount() - (double) c.vocabSize * c.hiddenSize;
        return adapters ? 4 * n + 6.0 * trainable : 6 * n;
    }

    private static double step(TrainableModel m, Optimizer opt, int[][] ids) {
        long targets = (long) ids.length * (ids[0].length - 1);
        double loss = m.lossAndBackward(ids, ids, targets).mean();
        opt.clipGradients(0);
        opt.step(1e-4);
        m.afterStep();
        return loss;
    }

    /** The device memory in use, its largest sample. */
    private static final class GpuMemory {
        long peak;

        void sample() {
            long[] info = Cuda.get().memoryInfo();
            peak = Math.max(peak, info[1] - info[0]);
        }
    }
}
