package dev.nemoh.cuda;

import dev.nemoh.config.NemotronHConfig;
import dev.nemoh.model.Linear;
import dev.nemoh.model.MoeMixer;

import java.util.Arrays;

/**
 * Nemotron 3's mixture of experts on the GPU, the function of {@link MoeMixer}. The router runs in float32 for every
 * row count (bf16-rounded activations flip routing choices) and the routes are chosen on the device. A decode step is
 * captured into a CUDA graph and cannot ask the host which experts won, so each (token, slot) pair runs its expert
 * through a GEMV that reads the expert's id from the route; a prompt downloads the routes, gathers each expert's
 * tokens and runs that expert once over all of them, so its cost follows the routed tokens, not experts × tokens.
 * Either way a token's k expert outputs are summed in slot order with the route's weights, without atomics: the same
 * result in every run, and a token decoded in a batch of up to {@link CudaLinear#GEMV_MAX_ROWS} equals its single
 * step. The shared expert sees every token.
 */
final class CudaMoeMixer implements CudaMixer {
    /** The routing kernel gives each expert a thread of one block. */
    private static final int MAX_EXPERTS = 1024;
    private static final int THREADS = 256;

    private final CudaLinear gate;
    /** Every routed expert's projections stacked by expert: [experts · inner, width] and [experts · width, inner]. */
    private final CudaLinear up, down;
    private final CudaMlpMixer shared;
    /** Both null without a latent projection, where the experts read and write the hidden width. */
    private final CudaLinear latentIn, latentOut;
    private final long correctionBias;
    private final int experts, topK, inner, width, hidden, groups, topkGroups;
    private final boolean normalize;
    private final float scaling;

    CudaMoeMixer(Cuda cuda, NemotronHConfig c, MoeMixer cpu) {
        if (c.nRoutedExperts > MAX_EXPERTS) {
            throw new CudaException("n_routed_experts " + c.nRoutedExperts + " is over the " + MAX_EXPERTS
                    + " the cuda router supports");
        }
        experts = c.nRoutedExperts;
        topK = c.numExpertsPerTok;
        inner = c.moeIntermediateSize;
        hidden = c.hiddenSize;
        width = cpu.latentIn() == null ? hidden : cpu.latentIn().out;
        // a prompt's experts start at any row of the gathered tokens, and the cuBLAS path reads rows 16 bytes at a time
        if (inner % 4 != 0 || width % 4 != 0) {
            throw new CudaException("expert widths " + width + " and " + inner + " must be multiples of 4 on cuda");
        }
        groups = c.nGroup;
        topkGroups = c.topkGroup;
        normalize = c.normTopkProb;
        scaling = (float) c.routedScalingFactor;
        gate = CudaLinear.upload(cuda, cpu.gate());
        correctionBias = CudaMamba2Mixer.floats(cuda, cpu.router().correctionBias);
        Linear[] ups = new Linear[experts], downs = new Linear[experts];
        for (int e = 0; e < experts; e++) {
            ups[e] = cpu.experts()[e].upProj;
            downs[e] = cpu.experts()[e].downProj;
        }
        up = CudaLinear.upload(cuda, ups);
        down = CudaLinear.upload(cuda, downs);
        shared = CudaMlpMixer.upload(cuda, cpu.sharedExpert());
        latentIn = cpu.latentIn() == null ? null : CudaLinear.upload(cuda, cpu.latentIn());
        latentOut = cpu.latentOut() == null ? null : CudaLinear.upload(cuda, cpu.latentOut());
    }

    @Override
    public void forward(CudaDevice d, CudaStep step, int layer, long x, long residual) {
        int rows = step.rows(), pairs = rows * topK;
        Workspace ws = d.workspace;
        long logits = ws.get("moe.logits", 4L * rows * experts);
        d.kernels.moeRouter(CudaLinear.gemvBlocks(experts), rows, CudaLinear.GEMV_THREADS,
                gate.weight(), gate.bias(), x, logits, experts, hidden);
        long chosen = ws.get("moe.chosen", 4L * pairs);
        long weights = ws.get("moe.weights", 4L * pairs);
        d.kernels.moeRoute(rows, (experts + 31) / 32 * 32, 4 * (2 * experts + groups + topK),
                logits, correctionBias, chosen, weights, experts, topK, groups, topkGroups, normalize ? 1 : 0, scaling);
        long in = x;
        if (latentIn != null) {
            in = ws.get("moe.latent", 4L * rows * width);
            latentIn.forward(d, x, rows, in, false, false);
        }
        // without a latent projection the experts' sum goes straight into the residual stream
        long routed = latentOut == null ? residual : ws.get("moe.routed", 4L * rows * width);
        if (step.len() == 1) {
            decodeExperts(d, rows, in, chosen, weights, routed);
        } else {
            promptExperts(d, rows, in, chosen, weights, routed);
        }
        if (latentOut != null) latentOut.forward(d, routed, rows, residual, true, false);
        shared.forward(d, step, layer, x, residual);
    }

    /** Each (token, slot) pair's expert by the GEMV, which reads the expert's id on the device; no host round trip. */
    private void decodeExperts(CudaDevice d, int rows, long in, long chosen, long weights, long routed) {
        int pairs = rows * topK;
        long h = d.workspace.get("moe.h", 4L * pairs * inner);
        d.kernels.moeExpert(CudaLinear.gemvBlocks(inner), pairs, CudaLinear.GEMV_THREADS,
                up.weight(), up.bias(), chosen, in, topK, h, inner, width, 1);
        long outs = d.workspace.get("moe.out", 4L * pairs * width);
        d.kernels.moeExpert(CudaLinear.gemvBlocks(width), pairs, CudaLinear.GEMV_THREADS,
                down.weight(), down.bias(), chosen, h, 1, outs, width, inner, 0);
        combine(d, rows, outs, 0L, weights, routed);
    }

    /**
     * A prompt is not captured, so it waits for its routes: each expert then runs once over its gathered tokens
     * (cuBLAS past {@link CudaLinear#GEMV_MAX_ROWS} of them), in expert order as on the CPU.
     */
    private void promptExperts(CudaDevice d, int rows, long in, long chosen, long weights, long routed) {
        int pairs = rows * topK;
        Dispatch plan = Dispatch.of(d.cuda.downloadInts(chosen, pairs), experts, topK);
        long index = d.workspace.get("moe.index", 4L * plan.index().length);
        d.cuda.upload(index, plan.index());
        // an expert's outputs overwrite its gathered inputs, which its up projection has consumed: one buffer, not two
        long gathered = d.workspace.get("moe.gathered", 4L * pairs * width);
        d.kernels.gatherRows(pairs, THREADS, in, index, gathered, width);
        long h = d.workspace.get("moe.h", 4L * pairs * inner);
        for (int e = 0; e < experts; e++) {
            int first = plan.start()[e], count = plan.start()[e + 1] - first;
            if (count == 0) continue;
            long xe = gathered + 4L * first * width, he = h + 4L * first * inner;
            up.rows(e * inner, inner).forward(d, xe, count, he, false, true);
            down.rows(e * width, width).forward(d, he, count, xe, false, false);
        }
        combine(d, rows, gathered, index + 4L * pairs, weights, routed);
    }

    /** routed (+)= each token's expert outputs times its route weights; hits 0: the outputs are by pair. */
    private void combine(CudaDevice d, int rows, long outs, long hits, long weights, long routed) {
        d.kernels.moeCombine((width + THREADS - 1) / THREADS, rows, THREADS, outs, hits, weights, routed, topK, width,
                latentOut == null ? 1 : 0);
    }

    /**
     * A prompt's (token, slot) pairs grouped by expert, tokens ascending within each: expert e owns the hits
     * [start[e], start[e + 1]); {@code index} holds the token of each hit, then the hit of each pair (pair
     * p = token · k + slot).
     */
    record Dispatch(int[] start, int[] index) {
        static Dispatch of(int[] chosen, int experts, int topK) {
            int pairs = chosen.length;
            int[] start = new int[experts + 1];
            for (int e : chosen) start[e + 1]++;
            for (int e = 0; e < experts; e++) start[e + 1] += start[e];
            int[] next = Arrays.copyOf(start, experts);
            int[] index = new int[2 * pairs];
            for (int p = 0; p < pairs; p++) {
                int hit = next[chosen[p]]++;
                index[hit] = p / topK;
                index[pairs + p] = hit;
            }
            return new Dispatch(start, index);
        }
    }

    @Override
    public long decodeWeightBytes() {
        long latent = latentIn == null ? 0 : latentIn.bytes() + latentOut.bytes();
        return gate.bytes() + (up.bytes() + down.bytes()) / experts * topK + shared.decodeWeightBytes() + latent;
    }

    @Override
    public void free(Cuda cuda) {
        gate.free(cuda);
        up.free(cuda);
        down.free(cuda);
        shared.free(cuda);
        if (latentIn != null) {
            latentIn.free(cuda);
            latentOut.free(cuda);
        }
        cuda.free(correctionBias);
    }
}
