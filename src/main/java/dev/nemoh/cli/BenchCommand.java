package dev.nemoh.cli;

import dev.nemoh.config.LayerType;
import dev.nemoh.config.NemotronHConfig;
import dev.nemoh.model.HybridCache;
import dev.nemoh.kernels.MemoryBandwidth;
import dev.nemoh.kernels.NativeKernels;
import dev.nemoh.kernels.Parallel;
import dev.nemoh.model.LanguageModel;
import dev.nemoh.model.LoraAdapter;
import dev.nemoh.model.NemotronHModel;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.SplittableRandom;

@Command(name = "bench", mixinStandardHelpOptions = true,
        description = "Measures prefill and decode throughput, memory bandwidth and peak RSS; prints a table.")
final class BenchCommand implements Runnable {
    @Mixin
    ModelOption model;

    @Mixin
    AdapterOption adapter;

    @Option(names = "--prefill", split = ",", defaultValue = "512,4096", paramLabel = "N,..",
            description = "Prompt lengths to time (default ${DEFAULT-VALUE}); 0 skips prefill.")
    List<Integer> prefill;

    @Option(names = "--context", split = ",", defaultValue = "128,4096,32768", paramLabel = "N,..",
            description = "Context lengths after which decode is timed (default ${DEFAULT-VALUE}).")
    List<Integer> context;

    @Option(names = "--bandwidth-mib", defaultValue = "1024", description = "Buffer for the read-bandwidth probe, MiB (default ${DEFAULT-VALUE}); keep it far above the caches.")
    int bandwidthMib;

    @Option(names = "--decode-tokens", defaultValue = "16", description = "Decode steps timed per context (default ${DEFAULT-VALUE}).")
    int decodeTokens;

    @Option(names = "--rounds", defaultValue = "2", description = "Decode steps are taken in this many rounds, each visiting every --context in turn (default ${DEFAULT-VALUE}), so that a drift in the host's speed does not pass for a cost of context length.")
    int rounds;

    @Option(names = "--batch", split = ",", paramLabel = "N,..",
            description = "Also time batched decode steps of N sequences each (after the first --context), as the server runs them; tok/s counts every sequence's token.")
    List<Integer> batch = List.of();

    @Option(names = "--profile", description = "With --device cuda: also time every kernel of one decode step (after each --context) and of each prefill, and print where the GPU time goes.")
    boolean profile;

    @Spec
    CommandSpec spec;

    @Override
    public void run() {
        Path dir = model.resolve();
        AdapterOption.checkDevice(model.device, adapter.dir != null, "--adapter");
        if (!model.device.equals("cpu")) {
            model.checkCuda(); // auto too: the same command must not fail only where a GPU is found
            for (String cpuOnly : new String[] {"--rounds", "--bandwidth-mib"}) {
                if (spec.commandLine().getParseResult().hasMatchedOption(cpuOnly)) {
                    throw new IllegalArgumentException(cpuOnly + " sets the CPU benchmark; --device " + model.device
                            + " times decode as the median of three runs and measures the GPU's copy bandwidth: drop "
                            + cpuOnly);
                }
            }
        }
        if (model.onCuda()) {
            new CudaBench(model, prefill, context, decodeTokens, batch, profile).run();
            return;
        }
        if (profile) {
            throw new IllegalArgumentException("--profile times the GPU's kernels: it needs --device cuda");
        }
        if (rounds < 1 || decodeTokens < rounds) {
            throw new IllegalArgumentException("--rounds must be between 1 and --decode-tokens (" + decodeTokens + "), got " + rounds);
        }
        try (NemotronHModel m = model.open()) {
            NemotronHConfig c = m.config;
            LoraAdapter loaded = adapter.load(m);
            SplittableRandom random = new SplittableRandom(1);
            double bandwidth = MemoryBandwidth.readBytesPerSecond((long) bandwidthMib << 20, 5);
            long bytesPerToken = m.decodeWeightBytes();
            System.out.printf(Locale.ROOT, "model        %s (%,d params, %s)%n", dir, c.paramCount(), c.pattern().length() > 60 ? c.numLayers() + " layers" : c.pattern());
            System.out.printf(Locale.ROOT, "weights      %s, %.2f GB read per decoded token%n", model.weights, bytesPerToken / 1e9);
            if (loaded != null) System.out.printf(Locale.ROOT, "adapter      %s (unmerged, every step)%n", loaded.identity());
            System.out.printf(Locale.ROOT, "kv cache     %s (--kv-cache-dtype %s)%n", m.kvCacheDtype().label(), model.kvCacheDtype);
            System.out.printf(Locale.ROOT, "threads      %d%n", Parallel.threads());
            System.out.printf(Locale.ROOT, "kernels      %s%n", NativeKernels.status());
            System.out.printf(Locale.ROOT, "read bw      %.1f GB/s (all threads, %d MiB buffer)%n", bandwidth / 1e9, bandwidthMib);
            System.out.printf(Locale.ROOT, "roofline     %.2f tok/s decode (bandwidth / bytes per token)%n", bandwidth / bytesPerToken);
            System.out.println();
            System.out.println("| phase | tokens | time (s) | tok/s | % of roofline | attention share |");
            System.out.println("| --- | --- | --- | --- | --- | --- |");
            for (int n : prefill) {
                if (n <= 0) continue;
                int[] ids = random.ints(n, 0, c.vocabSize).toArray();
                m.forwardLast(random.ints(Math.min(n, 16), 0, c.vocabSize).toArray(), m.newCache(loaded)); // warm-up
                long t0 = System.nanoTime();
                m.forwardLast(ids, m.newCache(loaded));
                double s = (System.nanoTime() - t0) / 1e9;
                System.out.printf(Locale.ROOT, "| prefill | %d | %.2f | %.1f | | |%n", n, s, n / s);
            }
            // every context's cache first, then the decode steps in rounds that visit every context in turn: the
            // host's bandwidth drifts over minutes, and one context timed only after another would take the drift
            // for a cost of context length
            HybridCache[] caches = new HybridCache[context.size()];
            for (int i = 0; i < caches.length; i++) {
                caches[i] = m.newCache(loaded);
                caches[i].fillSynthetic(context.get(i), 7);
                m.forwardLast(new int[] {1}, caches[i]); // warm-up step
            }
            long[] elapsed = new long[caches.length], attention = new long[caches.length], steps = new long[caches.length];
            for (int round = 0; round < rounds; round++) {
                for (int i = 0; i < caches.length; i++) {
                    int n = decodeTokens / rounds + (round < decodeTokens % rounds ? 1 : 0);
                    long[] last = {0};
                    int at = i;
                    // the hook runs after the embeddings and after every block: the gap before call j + 1 is block j
                    NemotronHModel.HiddenStates timer = (index, hidden, len) -> {
                        long now = System.nanoTime();
                        if (index >= 1 && index <= m.blocks.size() && m.blocks.get(index - 1).type() == LayerType.ATTENTION) {
                            attention[at] += now - last[0];
                        }
                        last[0] = now;
                    };
                    long t0 = System.nanoTime();
                    for (int j = 0; j < n; j++) m.forward(new int[] {random.nextInt(c.vocabSize)}, caches[i], timer);
                    elapsed[i] += System.nanoTime() - t0;
                    steps[i] += n;
                }
            }
            for (int i = 0; i < caches.length; i++) {
                double s = elapsed[i] / 1e9;
                double tps = steps[i] / s;
                System.out.printf(Locale.ROOT, "| decode after %d | %d | %.2f | %.2f | %.0f%% | %.1f%% |%n", context.get(i), steps[i], s, tps,
                        100 * tps / (bandwidth / bytesPerToken), 100.0 * attention[i] / elapsed[i]);
            }
            caches = null; // the batch's caches may need the memory
            for (int b : batch) {
                if (b < 1) throw new IllegalArgumentException("--batch sizes must be >= 1, got " + b);
                LanguageModel.SequenceState[] states = new LanguageModel.SequenceState[b];
                for (int i = 0; i < b; i++) {
                    HybridCache cache = m.newCache(loaded);
                    cache.fillSynthetic(context.getFirst(), 7 + i);
                    states[i] = cache;
                }
                m.decodeBatch(random.ints(b, 0, c.vocabSize).toArray(), states); // warm-up step
                long t0 = System.nanoTime();
                for (int i = 0; i < decodeTokens; i++) m.decodeBatch(random.ints(b, 0, c.vocabSize).toArray(), states);
                double s = (System.nanoTime() - t0) / 1e9;
                System.out.printf(Locale.ROOT, "| decode batch of %d after %d | %d | %.2f | %.2f | | |%n", b, context.getFirst(),
                        b * decodeTokens, s, b * decodeTokens / s);
            }
            System.out.printf(Locale.ROOT, "%npeak RSS     %.2f GiB (mapped weights count once they are read)%n", peakRssBytes() / (double) (1L << 30));
            System.out.println("decode contexts are synthetic: the cache is filled with random K/V and Mamba state of that length");
        }
    }


    /** The process's peak resident set (VmHWM), or 0 where /proc/self/status is not there. */
    static long peakRssBytes() {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
                if (line.startsWith("VmHWM:")) return Long.parseLong(line.replaceAll("\\D+", "")) * 1024;
            }
        } catch (IOException | NumberFormatException ignored) {
            // not Linux: no figure
        }
        return 0;
    }

}
