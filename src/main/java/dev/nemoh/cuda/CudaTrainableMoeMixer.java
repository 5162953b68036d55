package dev.nemoh.cuda;

import dev.nemoh.config.NemotronHConfig;

import java.util.ArrayList;
import java.util.List;

/**
 * Training form of {@link CudaMoeMixer}: the float32 router and the route on the device (moe.cu, the choice that
 * {@code model.TopkRouter} makes), the tokens of each expert listed on the host from the chosen experts, each expert's
 * MLP run once on its gathered tokens (behind the latent projections when the model has them), the outputs combined
 * by route weight in slot order, and the shared expert on every token. The backward gives the experts their output
 * gradients, the route weights theirs, and the router the gradient of the weights through sigmoid and normalisation.
 */
final class CudaTrainableMoeMixer implements CudaTrainableMixer {
    private static final int THREADS = 256;

    private final NemotronHConfig c;
    private final CudaProjection gate, latentIn, latentOut;
    private final long correctionBias;
    private final List<CudaTrainableMlpMixer> experts;
    private final CudaTrainableMlpMixer shared;
    private final int n, k, width;

    /** The tokens of each expert, for the sequence last run forward under each key (host lists, device copies). */
    private record Dispatch(int[] start, int[] count, long tok, long slot, long hits) {}

    private final java.util.Map<String, Dispatch> dispatches = new java.util.HashMap<>();

    CudaTrainableMoeMixer(NemotronHConfig c, CudaProjection gate, long correctionBias, List<CudaTrainableMlpMixer> experts,
                          CudaTrainableMlpMixer shared, CudaProjection latentIn, CudaProjection latentOut) {
        if (c.nRoutedExperts > 1024) throw new CudaException(c.nRoutedExperts + " experts are over the 1024 the cuda router supports");
        this.c = c;
        this.gate = gate;
        this.correctionBias = correctionBias;
        this.experts = List.copyOf(experts);
        this.shared = shared;
        this.latentIn = latentIn;
        this.latentOut = latentOut;
        this.n = c.nRoutedExperts;
        this.k = c.numExpertsPerTok;
        this.width = latentIn != null ? latentIn.out() : c.hiddenSize;
    }

    private record Saved(long logits, long chosen, long weights, long expertIn, long outs, long routed) {}

    private Saved saved(CudaTraining t, String key, int len) {
        long pairs = (long) len * k;
        return new Saved(t.floats(key + ".moe.logits", (long) len * n), t.device.workspace.get(key + ".moe.chosen", 4 * pairs),
                t.floats(key + ".moe.weights", pairs),
                latentIn != null ? t.floats(key + ".moe.expertIn", (long) len * width) : 0,
                t.floats(key + ".moe.outs", pairs * width), t.floats(key + ".moe.routed", (long) len * width));
    }

    @Override
    public void forward(CudaTraining t, String key, long x, int len, long out) {
        Saved s = saved(t, key, len);
        gate.forward(t, x, len, s.logits);
        int block = (n + 31) / 32 * 32;
        t.k.moeRoute(len, block, 4 * (2 * n + c.nGroup + k), s.logits, correctionBias, s.chosen, s.weights, n, k, c.nGroup,
                c.topkGroup, c.normTopkProb ? 1 : 0, (float) c.routedScalingFactor);
        Dispatch d = dispatch(t, key, s.chosen, len);
        long in = expertIn(t, x, len, s);
        long rows = t.floats("moe.rows", (long) len * k * width);
        for (int e = 0; e < n; e++) {
            if (d.count[e] == 0) continue;
            t.k.gatherRows(d.count[e], THREADS, in, d.tok + 4L * d.start[e], rows, width);
            experts.get(e).forward(t, key + ".e" + e, rows, d.count[e], s.outs + 4L * d.start[e] * width);
        }
        t.k.moeCombine((width + THREADS - 1) / THREADS, len, THREADS, s.outs, d.hits, s.weights, s.routed, k, width, 0);
        if (latentOut != null) latentOut.forward(t, s.routed, len, out);
        else t.cuda.copy(out, s.routed, 4L * len * width);
        long sharedOut = t.floats("moe.shared", (long) len * c.hiddenSize);
        shared.forward(t, key + ".shared", x, len, sharedOut);
        t.axpy(1f, sharedOut, out, (long) len * c.hiddenSize, true);
    }

    private long expertIn(CudaTraining t, long x, int len, Saved s) {
        if (latentIn == null) return x;
        latentIn.forward(t, x, len, s.expertIn);
        return s.expertIn;
    }

    /** Lists each expert's (token, slot) pairs in token order from the chosen experts. */
    private Dispatch dispatch(CudaTraining t, String key, long chosen, int len) {
        int[] choice = t.cuda.downloadInts(chosen, len * k);
        int[] count = new int[n], start = new int[n];
        for (int e : choice) count[e]++;
        for (int e = 1; e < n; e++) start[e] = start[e - 1] + count[e - 1];
        int[] fill = start.clone(), tok = new int[len * k], slot = new int[len * k], hits = new int[len * k];
        for (int e = 0; e < n; e++) {
            for (int tk = 0; tk < len * k; tk++) {
                if (choice[tk] != e) continue;
                int p = fill[e]++;
                tok[p] = tk / k;
                slot[p] = tk;
                hits[tk] = p;
            }
        }
        long tokBuf = t.device.workspace.get(key + ".moe.tok", 4L * len * k);
        long slotBuf = t.device.workspace.get(key + ".moe.slot", 4L * len * k);
        long hitBuf = t.device.workspace.get(key + ".moe.hits", 4L * len * k);
        t.cuda.upload(tokBuf, tok);
        t.cuda.upload(slotBuf, slot);
        t.cuda.upload(hitBuf, hits);
        Dispatch d = new Dispatch(start, count, tokBuf, slotBuf, hitBuf);
        dispatches.put(key, d);
        return d;
    }

    @Override
    public void backward(CudaTraining t, String key, long x, long dOut, int len, long dx) {
        Saved s = saved(t, key, len);
        Dispatch d = dispatches.get(key);
        long pairs = (long) len * k;
        shared.backward(t, key + ".shared", x, dOut, len, dx);
        long dRouted = dOut;
        if (latentOut != null) {
            dRouted = t.floats("moe.dRouted", (long) len * width);
            latentOut.backward(t, s.routed, dOut, len, dRouted, false);
        }
        long dOuts = t.floats("moe.dOuts", pairs * width), dWeight = t.floats("moe.dWeight", pairs);
        t.k.moePairGrads((int) pairs, THREADS, s.outs, dRouted, d.tok, d.slot, s.weights, dOuts, dWeight, width);
        long in = latentIn != null ? s.expertIn : x;
        long rows = t.floats("moe.rows", pairs * width), dIns = t.floats("moe.dIns", pairs * width);
        for (int e = 0; e < n; e++) {
            if (d.count[e] == 0) continue;
            t.k.gatherRows(d.count[e], THREADS, in, d.tok + 4L * d.start[e], rows, width);
            experts.get(e).backward(t, key + ".e" + e, rows, dOuts + 4L * d.start[e] * width, d.count[e],
                    dIns + 4L * d.start[e] * width);
        }
        long dExpertIn = t.floats("moe.dExpertIn", (long) len * width);
        t.k.moeGatherSum((width + THREADS - 1) / THREADS, len, THREADS, dIns, d.hits, dExpertIn, k, width);
        if (latentIn != null) latentIn.backward(t, x, dExpertIn, len, dx, true);
        else t.axpy(1f, dExpertIn, dx, (long) len * width, true);
        long dLogits = t.floats("moe.dLogits", (long) len * n);
        t.k.moeRouteBackward(len, 32, s.logits, s.chosen, dWeight, dLogits, n, k, c.normTopkProb ? 1 : 0,
                (float) c.routedScalingFactor);
        gate.backward(t, x, dLogits, len, dx, true);
    }

    @Override
    public List<CudaProjection> projections() {
        List<CudaProjection> all = new ArrayList<>(List.of(gate));
        if (latentIn != null) all.addAll(List.of(latentIn, latentOut));
        for (CudaTrainableMlpMixer e : experts) all.addAll(e.projections());
        all.addAll(shared.projections());
        return all;
    }
}
