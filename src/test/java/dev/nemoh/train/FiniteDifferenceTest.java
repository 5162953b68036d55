package dev.nemoh.train;

import dev.nemoh.config.LoraConfig;
import dev.nemoh.Fixtures;
import dev.nemoh.Tolerance;
import dev.nemoh.config.NemotronHConfig;
import dev.nemoh.io.Checkpoint;
import dev.nemoh.model.CausalConv1d;
import dev.nemoh.model.RmsNorm;
import dev.nemoh.model.SsdScan;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.function.DoubleSupplier;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * Every backward against central finite differences of its forward, along a random direction through all of its
 * inputs and weights at once: {@code (L(θ + hv) − L(θ − hv)) / 2h} against {@code ⟨∇L, v⟩}, with the op's output
 * projected on fixed random weights R ({@code L = Σ out · R}) so that every output element carries gradient.
 */
class FiniteDifferenceTest {
    /**
     * |numeric − analytic| / |analytic| as measured per check (central differences with h = 1e-3 on float32 forwards:
     * what is left is mostly the forward's rounding over 2h); each bound is about ten times it ({@link Tolerance}).
     */
    static final java.util.Map<String, Double> MEASURED = Tolerance.measured(
            "grouped RMSNorm", 3.4e-5,
            "causal conv1d + SiLU", 2.4e-5,
            "SSD chunked scan", 1.3e-5,
            "causal GQA attention over 6 tokens", 5.6e-5,
            "causal GQA attention over 150 tokens", 6.5e-5,
            "relu² MLP", 6.5e-5,
            "MoE block (router, experts, shared expert), norm_topk_prob true", 4.6e-5,
            "MoE block (router, experts, shared expert), norm_topk_prob false", 8.1e-5,
            "LoRA on Mamba out_proj", 3.6e-4,
            "LoRA all adapters", 1.3e-3,
            "LoRA rsLoRA on Mamba out_proj", 2.8e-3,
            "LoRA rsLoRA all adapters", 4.0e-3,
            "DoRA on Mamba out_proj", 1.1e-4,
            "DoRA all adapters", 1.4e-4);

    private static float[] random(Random rng, int n, double scale, double shift) {
        float[] a = new float[n];
        for (int i = 0; i < n; i++) a[i] = (float) (shift + scale * rng.nextGaussian());
        return a;
    }

    private static double project(float[] out, float[] r) {
        double s = 0;
        for (int i = 0; i < out.length; i++) s += (double) out[i] * r[i];
        return s;
    }

    /** Checks ⟨grad, v⟩ against the central difference of {@code loss} along v, through every listed array. */
    private static void check(String what, DoubleSupplier loss, List<float[]> values, List<float[]> grads, double h) {
        Random rng = new Random(99);
        List<float[]> dirs = new ArrayList<>();
        double analytic = 0;
        for (int k = 0; k < values.size(); k++) {
            float[] v = random(rng, values.get(k).length, 1, 0);
            dirs.add(v);
            for (int i = 0; i < v.length; i++) analytic += (double) grads.get(k)[i] * v[i];
        }
        List<float[]> saved = new ArrayList<>();
        for (float[] x : values) saved.add(x.clone());
        double[] f = new double[2];
        for (int side = 0; side < 2; side++) {
            double step = side == 0 ? h : -h;
            for (int k = 0; k < values.size(); k++) {
                float[] x = values.get(k);
                for (int i = 0; i < x.length; i++) x[i] = (float) (saved.get(k)[i] + step * dirs.get(k)[i]);
            }
            f[side] = loss.getAsDouble();
        }
        for (int k = 0; k < values.size(); k++) System.arraycopy(saved.get(k), 0, values.get(k), 0, saved.get(k).length);
        double numeric = (f[0] - f[1]) / (2 * h);
        double rel = Math.abs(numeric - analytic) / Math.abs(analytic);
        System.out.printf("%s: analytic %.6g, numeric %.6g%n", what, analytic, numeric);
        Tolerance.check(what, rel, Tolerance.of(MEASURED, what));
    }

    @Test
    void groupedRmsNorm() {
        Random rng = new Random(1);
        int rows = 3, dim = 12;
        float[] x = random(rng, rows * dim, 1, 0.3), w = random(rng, dim, 0.5, 1), r = random(rng, rows * dim, 1, 0);
        RmsNorm norm = new RmsNorm(w, 1e-5, 3);
        float[] dx = new float[x.length], dw = new float[dim];
        norm.backward(r, x, rows, dx, dw);
        check("grouped RMSNorm", () -> project(norm.forward(x, rows), r), List.of(x, w), List.of(dx, dw), 1e-3);
    }

    @Test
    void causalConv1dWithSilu() {
        Random rng = new Random(2);
        int len = 7, channels = 6, k = 4, width = 10, offset = 2;
        float[] in = random(rng, len * width, 1, 0), w = random(rng, channels * k, 0.5, 0), b = random(rng, channels, 0.3, 0);
        float[] r = random(rng, len * channels, 1, 0);
        CausalConv1d conv = new CausalConv1d(w, b, k);
        float[] dIn = new float[in.length], dw = new float[w.length], db = new float[b.length];
        conv.backward(r, in, len, width, offset, dIn, dw, db);
        check("causal conv1d + SiLU",
                () -> project(conv.forward(in, len, width, offset, new float[channels * k]), r),
                List.of(in, w, b), List.of(dIn, dw, db), 1e-3);
    }

    @Test
    void chunkedScanOverSeveralChunksAndGroups() {
        // 4 heads in 2 groups, 10 tokens in chunks of 4 (the last one partial)
        NemotronHConfig c = NemotronHConfig.builder().hiddenSize(16).vocabSize(8).pattern("M")
                .mamba(4, 3, 5, 2).chunkSize(4).build();
        SsdScan scan = new SsdScan(c);
        Random rng = new Random(3);
        int len = 10, heads = 4;
        float[] xBC = random(rng, len * c.convDim(), 1, 0);
        float[] dt = new float[len * heads];
        for (int i = 0; i < dt.length; i++) dt[i] = 0.05f + 0.5f * rng.nextFloat();
        float[] a = {-0.5f, -1.2f, -0.1f, -2f}, d = random(rng, heads, 1, 0);
        float[] r = random(rng, len * c.mambaIntermediateSize(), 1, 0);
        DoubleSupplier loss = () -> {
            float[] y = new float[len * c.mambaIntermediateSize()];
            float[] starts = new float[scan.chunks(len) * scan.stateSize()];
            scan.forward(xBC, dt, a, d, len, new float[scan.stateSize()], y, starts);
            return project(y, r);
        };
        float[] y = new float[len * c.mambaIntermediateSize()];
        float[] starts = new float[scan.chunks(len) * scan.stateSize()];
        scan.forward(xBC, dt, a, d, len, new float[scan.stateSize()], y, starts);
        float[] dx = new float[xBC.length], dDt = new float[dt.length], dA = new float[heads], dD = new float[heads];
        scan.backward(r, xBC, dt, a, d, len, starts, dx, dDt, dA, dD);
        check("SSD chunked scan", loss, List.of(xBC, dt, a, d), List.of(dx, dDt, dA, dD), 1e-3);
    }

    /** A training layer's backward against its forward on a random input, through its weights and the input. */
    private static void checkLayer(String what, TrainableMixer layer, List<Parameter> params, int len, int hidden, Random rng) {
        float[] x = random(rng, len * hidden, 1, 0), r = random(rng, len * hidden, 1, 0);
        layer.forward(x, len);
        List<float[]> values = new ArrayList<>(valuesOf(params)), grads = new ArrayList<>(gradsOf(params));
        values.add(x);
        grads.add(layer.backward(r, len));
        check(what, () -> project(layer.forward(x, len), r), values, grads, 1e-3);
    }

    private static DenseProjection randomLinear(Random rng, String name, int out, int in, List<Parameter> params) {
        Parameter p = new Parameter(name, new int[] {out, in}, random(rng, out * in, 1 / Math.sqrt(in), 0));
        params.add(p);
        return new DenseProjection(p, null, true);
    }

    /** 150 tokens: more than one block of keys in the forward's online softmax. */
    @ParameterizedTest
    @CsvSource({"6", "150"})
    void causalGroupedQueryAttention(int len) {
        NemotronHConfig c = NemotronHConfig.builder().hiddenSize(12).vocabSize(8).pattern("*").attentionHeads(4, 2, 5).build();
        Random rng = new Random(7);
        List<Parameter> params = new ArrayList<>();
        TrainableAttentionMixer attn = new TrainableAttentionMixer(c, randomLinear(rng, "q", 20, 12, params), randomLinear(rng, "k", 10, 12, params),
                randomLinear(rng, "v", 10, 12, params), randomLinear(rng, "o", 12, 20, params));
        checkLayer("causal GQA attention over " + len + " tokens", attn, params, len, 12, rng);
    }

    @Test
    void squaredReluMlp() {
        Random rng = new Random(8);
        List<Parameter> params = new ArrayList<>();
        TrainableMlpMixer mlp = new TrainableMlpMixer(randomLinear(rng, "up", 24, 10, params), randomLinear(rng, "down", 10, 24, params));
        checkLayer("relu² MLP", mlp, params, 5, 10, rng);
    }

    private static List<float[]> valuesOf(List<Parameter> ps) {
        return ps.stream().map(p -> p.value).toList();
    }

    private static List<float[]> gradsOf(List<Parameter> ps) {
        return ps.stream().map(p -> p.grad).toList();
    }

    /**
     * The MoE block of moe-tiny (layer 1: router, six experts, shared expert) on a fixed input. A step small enough
     * not to change any token's choice of experts: the choice is piecewise constant, its gradient zero.
     */
    @ParameterizedTest
    @CsvSource({"true", "false"})
    void mixtureOfExpertsBlock(boolean normalizeTopK) {
        NemotronHConfig c = NemotronHConfig.load(Fixtures.model("moe-tiny")).toBuilder()
                .moeRouting(1, 1, normalizeTopK, 2.5).build();
        List<Parameter> params = new ArrayList<>();
        TrainableMoeMixer moe;
        try (Checkpoint ckpt = Checkpoint.open(Fixtures.model("moe-tiny"))) {
            java.util.function.Function<String, DenseProjection> linear = name -> {
                var t = ckpt.get(name + ".weight");
                Parameter p = new Parameter(name, new int[] {t.dim(0), t.dim(1)}, t.toFloatArray());
                params.add(p);
                return new DenseProjection(p, null, true);
            };
            String pre = "backbone.layers.1.mixer.";
            TrainableMlpMixer[] experts = new TrainableMlpMixer[c.nRoutedExperts];
            for (int e = 0; e < experts.length; e++) {
                experts[e] = new TrainableMlpMixer(linear.apply(pre + "experts." + e + ".up_proj"), linear.apply(pre + "experts." + e + ".down_proj"));
            }
            moe = new TrainableMoeMixer(c, linear.apply(pre + "gate"), ckpt.get(pre + "gate.e_score_correction_bias").toFloatArray(),
                    experts, new TrainableMlpMixer(linear.apply(pre + "shared_experts.up_proj"), linear.apply(pre + "shared_experts.down_proj")),
                    null, null);
        }
        checkLayer("MoE block (router, experts, shared expert), norm_topk_prob " + normalizeTopK, moe, params, 9,
                c.hiddenSize, new Random(6));
    }

    /** Adapters on every linear layer, including the Mamba out_proj that PEFT refuses, with B made non-zero. */
    @ParameterizedTest
    @CsvSource({"false, false", "true, false", "false, true"})
    void loraAndDoraOnEveryModule(boolean rslora, boolean dora) {
        LoraModel model = LoraModel.create(Fixtures.model("nemotron-h-tiny"),
                new LoraConfig(4, 8, 0, LoraConfig.MODULES, rslora, dora, 5));
        Random rng = new Random(4);
        for (Parameter p : model.parameters()) {
            if (p.name.endsWith("lora_B.weight")) System.arraycopy(random(rng, p.numel(), 0.1, 0), 0, p.value, 0, p.numel());
        }
        int[][] ids = {{5, 17, 42, 7, 99, 3, 250, 1, 64, 12, 80, 33, 2, 9, 14, 21, 30, 8}};
        model.lossAndBackward(ids, ids, 17);
        List<Parameter> outProj = model.parameters().stream().filter(p -> p.name.contains("out_proj")).toList();
        String kind = (dora ? "DoRA" : "LoRA") + (rslora ? " rsLoRA" : "");
        // DoRA's gradient treats the row norms ‖W + sBA‖ as constants (PEFT, the paper's section 4.3), so only its
        // magnitudes have the exact gradient that finite differences see; A and B are checked against PEFT instead
        List<Parameter> exact = model.parameters().stream().filter(p -> !dora || p.name.endsWith("magnitude_vector")).toList();
        List<Parameter> exactOutProj = outProj.stream().filter(exact::contains).toList();
        check(kind + " on Mamba out_proj", () -> model.loss(ids, ids).sum() / 17, valuesOf(exactOutProj),
                gradsOf(exactOutProj), 1e-3);
        check(kind + " all adapters", () -> model.loss(ids, ids).sum() / 17, valuesOf(exact), gradsOf(exact), 1e-3);
    }
}
