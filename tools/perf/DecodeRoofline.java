// Decode's share of the memory-bandwidth roofline, measured in pairs: this VM's read bandwidth moves by ±30% within
// minutes (other tenants), so one probe before a run says little about the decode steps that follow. Each round
// probes the bandwidth, decodes a few tokens, probes again; its share is the weight bytes streamed per second over
// the mean of its two probes. Prints every round and the median.
//   java --add-modules jdk.incubator.vector -XX:MaxDirectMemorySize=1t -cp target/nemoh.jar \
//        tools/perf/DecodeRoofline.java MODEL_DIR as-stored|q8_0 [CONTEXT [ROUNDS [TOKENS]]]
// Defaults: context 128 (synthetic), 9 rounds of 4 tokens, after 4 warm-up tokens; probe: 512 MiB, best of 3 passes.
import dev.nemoh.kernels.MemoryBandwidth;
import dev.nemoh.model.NemotronHModel;
import dev.nemoh.model.TimeStepClamp;
import dev.nemoh.model.WeightFormat;

import java.nio.file.Path;
import java.util.Arrays;
import java.util.Locale;
import java.util.SplittableRandom;

public class DecodeRoofline {
    public static void main(String[] args) {
        WeightFormat format = WeightFormat.parse(args[1]);
        int context = args.length > 2 ? Integer.parseInt(args[2]) : 128;
        int rounds = args.length > 3 ? Integer.parseInt(args[3]) : 9;
        int tokens = args.length > 4 ? Integer.parseInt(args[4]) : 4;
        try (NemotronHModel m = NemotronHModel.load(Path.of(args[0]), TimeStepClamp.TRANSFORMERS, format)) {
            long bytes = m.decodeWeightBytes();
            var cache = m.newCache();
            cache.fillSynthetic(context, 7);
            SplittableRandom r = new SplittableRandom(1);
            for (int i = 0; i < 4; i++) m.forward(new int[] {r.nextInt(m.config.vocabSize)}, cache);
            double[] shares = new double[rounds];
            for (int k = 0; k < rounds; k++) {
                double before = MemoryBandwidth.readBytesPerSecond(512L << 20, 3);
                long t0 = System.nanoTime();
                for (int i = 0; i < tokens; i++) m.forward(new int[] {r.nextInt(m.config.vocabSize)}, cache);
                double s = (System.nanoTime() - t0) / 1e9;
                double after = MemoryBandwidth.readBytesPerSecond(512L << 20, 3);
                double bw = (before + after) / 2;
                shares[k] = bytes * tokens / s / bw;
                System.out.printf(Locale.ROOT, "round %d: %.2f tok/s, %.1f GB/s of weights; probes %.1f / %.1f GB/s; %.0f%% of roofline%n",
                        k + 1, tokens / s, bytes * tokens / s / 1e9, before / 1e9, after / 1e9, 100 * shares[k]);
            }
            Arrays.sort(shares);
            System.out.printf(Locale.ROOT, "%s, %s, %.2f GB per token, context %d: median %.0f%% of roofline (range %.0f–%.0f%%)%n",
                    args[0], format, bytes / 1e9, context, 100 * shares[rounds / 2], 100 * shares[0], 100 * shares[rounds - 1]);
        }
    }
}
