// Where a decode step's time goes, per kind of layer: time per step and the weight bytes it read over that time.
//   java --add-modules jdk.incubator.vector -XX:MaxDirectMemorySize=1t -cp target/nemoh.jar \
//        tools/perf/DecodeBreakdown.java MODEL_DIR as-stored|q8_0
// 4 warm-up steps, then 16 timed decode steps after a 128-token synthetic context (dense models; bytes count
// the linear layers' weights: 2 per bf16 weight, 1.125 per Q8_0 weight as nemoh holds them).
import dev.nemoh.config.LayerType;
import dev.nemoh.config.NemotronHConfig;
import dev.nemoh.model.NemotronHModel;
import dev.nemoh.model.TimeStepClamp;
import dev.nemoh.model.WeightFormat;

import java.nio.file.Path;
import java.util.Map;
import java.util.TreeMap;

public class DecodeBreakdown {
    public static void main(String[] args) {
        WeightFormat format = WeightFormat.parse(args[1]);
        try (NemotronHModel m = NemotronHModel.load(Path.of(args[0]), TimeStepClamp.TRANSFORMERS, format)) {
            NemotronHConfig c = m.config;
            int layers = c.numLayers();
            long[] nanos = new long[layers + 2]; // [1..layers]: blocks; [layers + 1]: norm_f and the LM head
            long[] last = {0};
            NemotronHModel.HiddenStates hook = (i, hidden, len) -> {
                long now = System.nanoTime();
                if (i > 0) nanos[i] += now - last[0];
                last[0] = now;
            };
            var cache = m.newCache();
            cache.fillSynthetic(128, 7);
            for (int w = 0; w < 4; w++) m.forward(new int[] {1}, cache, null);
            int steps = 16;
            long t0 = System.nanoTime();
            for (int s = 0; s < steps; s++) {
                m.forward(new int[] {s + 5}, cache, hook);
                nanos[layers + 1] += System.nanoTime() - last[0];
            }
            long total = System.nanoTime() - t0;

            long h = c.hiddenSize, inner = c.mambaIntermediateSize();
            long q = (long) c.numAttentionHeads * c.headDim, kv = (long) c.numKeyValueHeads * c.headDim;
            double bytesPerWeight = format == WeightFormat.AS_STORED ? 2 : 1.125;
            Map<String, double[]> byKind = new TreeMap<>(); // seconds per step, bytes per step
            for (int i = 0; i < layers; i++) {
                LayerType t = c.layers.get(i);
                long weights = switch (t) {
                    case MAMBA -> c.inProjSize() * h + h * inner;
                    case MLP -> 2 * h * c.intermediateSize;
                    case ATTENTION -> (q + 2 * kv) * h + q * h;
                    case MOE -> throw new IllegalArgumentException("dense models only");
                };
                double[] v = byKind.computeIfAbsent(t.name(), k -> new double[2]);
                v[0] += nanos[i + 1] / 1e9 / steps;
                v[1] += weights * bytesPerWeight;
            }
            byKind.put("NORM_F+LM_HEAD", new double[] {nanos[layers + 1] / 1e9 / steps, c.vocabSize * h * bytesPerWeight});
            System.out.printf("total %.1f ms/token (%.2f tok/s)%n", total / 1e6 / steps, steps / (total / 1e9));
            byKind.forEach((k, v) -> System.out.printf("%-16s %7.1f ms/token  %6.2f GB/s%n", k, v[0] * 1e3, v[1] / v[0] / 1e9));
        }
    }
}
