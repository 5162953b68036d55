package dev.nemoh.model;

import dev.nemoh.export.RandomWeights;
import dev.nemoh.Fixtures;
import dev.nemoh.config.NemotronHConfig;
import dev.nemoh.io.SafetensorsFile;
import dev.nemoh.kernels.Vec;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.Locale;

import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Accuracy of Q8_0 and Q4_0 weights against the stored bf16 weights: max logit error and top-1 agreement of
 * every position, for the prompt in one pass and decoded a token at a time (which quantizes the activations too).
 * Bounds are set from measured values with headroom; the printed lines are the measurements recorded in
 * docs/PERFORMANCE.md.
 */
class QuantizationAccuracyTest {
    record Agreement(double maxAbs, double relative, double top1) {}

    /** Prefill (one pass over the prompt: float32 activations) and decode (a token at a time: int8 activations). */
    record Paths(Agreement prefill, Agreement decode) {}

    static Paths compare(Path dir, int[] ids, WeightFormat format) {
        float[] ref, prefill, decode;
        int vocab;
        try (NemotronHModel m = NemotronHModel.load(dir)) {
            ref = m.forward(ids, null);
            vocab = m.config.vocabSize;
        }
        try (NemotronHModel m = NemotronHModel.load(dir, TimeStepClamp.TRANSFORMERS, format)) {
            prefill = m.forward(ids, null);
            LanguageModel.SequenceState state = m.newState();
            decode = new float[ids.length * vocab];
            for (int t = 0; t < ids.length; t++) {
                System.arraycopy(m.forwardLast(new int[] {ids[t]}, state), 0, decode, t * vocab, vocab);
            }
        }
        return new Paths(agreement(dir, format, "prefill", ref, prefill, ids.length, vocab),
                agreement(dir, format, "decode", ref, decode, ids.length, vocab));
    }

    private static Agreement agreement(Path dir, WeightFormat format, String path, float[] ref, float[] q, int n, int vocab) {
        double[] refD = new double[ref.length];
        for (int i = 0; i < ref.length; i++) refD[i] = ref[i];
        int same = 0;
        for (int t = 0; t < n; t++) if (Vec.argmax(ref, t * vocab, vocab) == Vec.argmax(q, t * vocab, vocab)) same++;
        Agreement a = new Agreement(Fixtures.maxAbs(q, refD), Fixtures.relative(q, refD), same / (double) n);
        Path named = dir.getFileName().toString().equals("model") ? dir.getParent() : dir;
        System.out.printf(Locale.ROOT, "%s %s %s: max abs %.3g, rel %.3g, top-1 %.1f%%%n", named.getFileName(), format,
                path, a.maxAbs, a.relative, 100 * a.top1);
        return a;
    }

    /** Bounds on the relative logit error and top-1 agreement of each format; Q8_0 must beat Q4_0. */
    private static void check(String what, Agreement q8, Agreement q4, double q8Rel, double q8Top1, double q4Rel, double q4Top1) {
        assertTrue(q8.relative < q8Rel && q8.top1 >= q8Top1, what + " Q8_0 " + q8);
        assertTrue(q4.relative < q4Rel && q4.top1 >= q4Top1, what + " Q4_0 " + q4);
        assertTrue(q8.relative < q4.relative, what + ": Q8_0 must be closer than Q4_0");
    }

    @Test
    void fixtures() {
        for (String f : new String[] {"nemotron-h-tiny", "moe-tiny"}) {
            try (SafetensorsFile ref = Fixtures.reference(f)) {
                int[] ids = Fixtures.ids(ref.get("input_ids"));
                Paths q8 = compare(Fixtures.model(f), ids, WeightFormat.Q8_0);
                Paths q4 = compare(Fixtures.model(f), ids, WeightFormat.Q4_0);
                // measured (2026-11-23, prefill; decode, int8 activations): nemotron-h-tiny Q8_0 rel 0.023 top-1 100%;
                // rel 0.034 top-1 95%. Q4_0 rel 0.33 top-1 62.5% both. moe-tiny Q4_0: rel 0.55 top-1 48%; rel 0.60
                // top-1 52%: 4-bit errors flip router choices, a discontinuous change
                check(f + " prefill", q8.prefill(), q4.prefill(), 0.05, 0.9, 0.8, 0.4);
                // moe-tiny Q8_0 decode: rel 0.23 top-1 85% (prefill: rel 0.018, top-1 97%). The logit error stays
                // ≤ 0.12 up to token 10, where the int8 activations flip a near-tied router choice (error 3.6 there)
                boolean moe = f.equals("moe-tiny");
                check(f + " decode", q8.decode(), q4.decode(), moe ? 0.35 : 0.05, moe ? 0.8 : 0.9, 0.8, 0.4);
            }
        }
    }

    @Test
    void largerRandomModel(@TempDir Path tmp) {
        NemotronHConfig c = NemotronHConfig.builder()
                .vocabSize(2048).hiddenSize(256).pattern("M-M*-M-")
                .attentionHeads(8, 2, 32).intermediateSize(768)
                .mamba(8, 64, 64, 2).chunkSize(32).build();
        Path dir = tmp.resolve("random-256");
        RandomWeights.write(c, dir, 123);
        int[] ids = new java.util.SplittableRandom(4).ints(96, 0, 2048).toArray();
        Paths q8 = compare(dir, ids, WeightFormat.Q8_0);
        Paths q4 = compare(dir, ids, WeightFormat.Q4_0);
        // measured (2026-11-23, prefill; decode): Q8_0 rel 0.013 top-1 96.9%; rel 0.021 top-1 95.8%. Q4_0 rel 0.22
        // top-1 69.8%; rel 0.22 top-1 68.8%
        check("prefill", q8.prefill(), q4.prefill(), 0.03, 0.9, 0.35, 0.5);
        check("decode", q8.decode(), q4.decode(), 0.03, 0.9, 0.35, 0.5);
    }
}
