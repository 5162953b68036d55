package dev.nemoh.cuda;

import dev.nemoh.cuda.KernelSource.Kind;
import dev.nemoh.cuda.KernelSource.Param;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HexFormat;
import java.util.List;
import java.util.Locale;
import java.util.Map;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_FLOAT;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * nemoh's own kernels ({@link KernelSource}: one {@code .cu} file per op beside this class), compiled by NVRTC for
 * the GPU's architecture on first use and cached as a cubin under {@code ~/.cache/nemoh/} keyed by the joined
 * source's hash and the architecture, so later runs skip the compile. Each kernel has a typed launch method, its
 * parameters named and ordered as in the CUDA signature after the launch shape, which writes the arguments straight
 * into one reused native buffer. The parameters each method writes are declared beside it and checked against the
 * signatures parsed from the source when the module loads, so a binding that drifts from its kernel fails there
 * instead of on the GPU.
 */
public final class CudaKernels {
    private static final int MAX_ARGS = 32;
    /** Every binding in declaration order; a binding's index is its place here. */
    private static final List<Kernel> BINDINGS = new ArrayList<>();

    /** A kernel's binding: the parameters its launch method writes, in order. */
    record Kernel(String name, List<Param> params, int index) {}

    /** Declares the binding of kernel {@code name}, its parameters written "kind name, ..." (kinds ptr, i64, i32, f32). */
    private static Kernel kernel(String name, String params) {
        List<Param> list = new ArrayList<>();
        for (String p : params.split(",")) {
            String[] kindAndName = p.strip().split(" ");
            list.add(new Param(Kind.valueOf(kindAndName[0].toUpperCase(Locale.ROOT)), kindAndName[1]));
        }
        if (list.size() > MAX_ARGS) throw new IllegalArgumentException(name + ": too many parameters");
        Kernel k = new Kernel(name, List.copyOf(list), BINDINGS.size());
        BINDINGS.add(k);
        return k;
    }

    private final Cuda cuda;
    /** The module's function of each binding, by index. */
    private final MemorySegment[] functions;
    /** Argument values (8 bytes each) followed by the pointer to each, reused by every launch (launches copy them). */
    private final MemorySegment values, pointers;
    /** The kernel whose arguments are being written, and how many of them are. */
    private Kernel kernel;
    private int written;
    /** Times every launch while set (bench --profile). */
    Profiler profiler;

    public CudaKernels(Cuda cuda) {
        this.cuda = cuda;
        String source = KernelSource.join();
        check(KernelSource.signatures(source));
        MemorySegment module = cuda.loadModule(cubin(source, cuda.arch()));
        functions = new MemorySegment[BINDINGS.size()];
        for (Kernel k : BINDINGS) functions[k.index()] = cuda.function(module, k.name());
        Arena arena = Arena.ofAuto();
        values = arena.allocate(8L * MAX_ARGS, 8);
        pointers = arena.allocate(ADDRESS, MAX_ARGS);
        for (int i = 0; i < MAX_ARGS; i++) pointers.setAtIndex(ADDRESS, i, values.asSlice(8L * i));
    }

    static List<Kernel> bindings() {
        return Collections.unmodifiableList(BINDINGS);
    }

    /** Throws a {@link CudaException} naming the first binding whose parameters are not its kernel's in {@code signatures}. */
    static void check(Map<String, List<Param>> signatures) {
        for (Kernel k : BINDINGS) KernelSource.check(k.name(), k.params(), signatures);
    }

    private static byte[] cubin(String source, String arch) {
        // the emulator's image is no cubin a GPU could load, and its NVRTC takes no time: not cached
        if (NativeLibrary.emulated()) return new Nvrtc().compile(source, "kernels.cu", arch);
        Path cache = Path.of(System.getProperty("user.home"), ".cache", "nemoh",
                "kernels-" + hash(source) + "-" + arch + ".cubin");
        try {
            if (Files.exists(cache)) return Files.readAllBytes(cache);
        } catch (IOException unreadable) {
            // compile again below
        }
        byte[] image = new Nvrtc().compile(source, "kernels.cu", arch);
        try {
            Files.createDirectories(cache.getParent());
            Path tmp = Files.createTempFile(cache.getParent(), "kernels", ".tmp");
            Files.write(tmp, image);
            Files.move(tmp, cache, java.nio.file.StandardCopyOption.ATOMIC_MOVE, java.nio.file.StandardCopyOption.REPLACE_EXISTING);
        } catch (IOException notCached) {
            // a read-only home only costs the compile next time
        }
        return image;
    }

    private static String hash(String source) {
        try {
            byte[] d = MessageDigest.getInstance("SHA-256").digest(source.getBytes(StandardCharsets.UTF_8));
            return HexFormat.of().formatHex(d, 0, 8);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    /** Blocks for a grid-stride loop over n elements. */
    public static int gridFor(long n, int block) {
        return (int) Math.max(1, Math.min((n + block - 1) / block, 65536));
    }

    // A launch method writes its arguments as begin(kernel), one ptr, i64, i32 or f32 per parameter in the binding's
    // order, then launch(grid, block); KernelSourceTest reads each method to check it writes its binding.

    private CudaKernels begin(Kernel k) {
        kernel = k;
        written = 0;
        return this;
    }

    private CudaKernels ptr(long v) {
        values.set(JAVA_LONG, 8L * written++, v);
        return this;
    }

    private CudaKernels i64(long v) {
        values.set(JAVA_LONG, 8L * written++, v);
        return this;
    }

    private CudaKernels i32(int v) {
        values.set(JAVA_INT, 8L * written++, v);
        return this;
    }

    private CudaKernels f32(float v) {
        values.set(JAVA_FLOAT, 8L * written++, v);
        return this;
    }

    /** Launches the kernel whose arguments were just written on a (gx, gy, gz) grid of 1-D blocks. */
    private void launch(int gx, int gy, int gz, int block, int sharedBytes) {
        MemorySegment f = functions[kernel.index()];
        if (profiler == null) {
            cuda.launch(f, gx, gy, gz, block, sharedBytes, pointers, kernel.name());
            return;
        }
        profiler.begin();
        cuda.launch(f, gx, gy, gz, block, sharedBytes, pointers, kernel.name());
        StringBuilder label = new StringBuilder(kernel.name()).append(" (").append(gx).append('×').append(gy).append('×').append(gz);
        for (int i = 0; i < written; i++) {
            if (kernel.params().get(i).kind() == Kind.I32) label.append(", ").append(values.get(JAVA_INT, 8L * i));
        }
        profiler.end(label.append(')').toString(), 0);
    }

    // embed.cu

    private static final Kernel EMBED = kernel("embed", "ptr table, ptr ids, ptr x, i32 hidden");

    synchronized void embed(int grid, int block, long table, long ids, long x, int hidden) {
        begin(EMBED).ptr(table).ptr(ids).ptr(x).i32(hidden).launch(grid, 1, 1, block, 0);
    }

    // rms_norm.cu

    private static final Kernel RMS_NORM = kernel("rms_norm", "ptr x, ptr w, ptr y, i32 dim, i32 group, f32 eps");
    private static final Kernel GATED_RMS_NORM = kernel("gated_rms_norm",
            "ptr y, ptr proj, i32 projStride, ptr w, ptr out, i32 inner, i32 group, f32 eps");

    synchronized void rmsNorm(int gridX, int gridY, int block, long x, long w, long y, int dim, int group, float eps) {
        begin(RMS_NORM).ptr(x).ptr(w).ptr(y).i32(dim).i32(group).f32(eps).launch(gridX, gridY, 1, block, 0);
    }

    synchronized void gatedRmsNorm(int gridX, int gridY, int block, int sharedBytes, long y, long proj, int projStride,
                                   long w, long out, int inner, int group, float eps) {
        begin(GATED_RMS_NORM).ptr(y).ptr(proj).i32(projStride).ptr(w).ptr(out).i32(inner).i32(group).f32(eps)
                .launch(gridX, gridY, 1, block, sharedBytes);
    }

    // convert.cu

    private static final Kernel TO_BF16 = kernel("to_bf16", "ptr x, ptr y, i64 n");
    private static final Kernel TO_F32 = kernel("to_f32", "ptr x, ptr y, i64 n");

    synchronized void toBf16(int grid, int block, long x, long y, long n) {
        begin(TO_BF16).ptr(x).ptr(y).i64(n).launch(grid, 1, 1, block, 0);
    }

    synchronized void toF32(int grid, int block, long x, long y, long n) {
        begin(TO_F32).ptr(x).ptr(y).i64(n).launch(grid, 1, 1, block, 0);
    }

    // bias_act.cu

    private static final Kernel BIAS_ACT = kernel("bias_act", "ptr x, ptr bias, i64 rows, i32 cols, i32 reluSquared");

    synchronized void biasAct(int grid, int block, long x, long bias, long rows, int cols, int reluSquared) {
        begin(BIAS_ACT).ptr(x).ptr(bias).i64(rows).i32(cols).i32(reluSquared).launch(grid, 1, 1, block, 0);
    }

    // fill_random.cu

    private static final Kernel FILL_RANDOM_BF16 = kernel("fill_random_bf16", "ptr x, i64 n, i32 seed, f32 scale");
    private static final Kernel FILL_RANDOM_F32 = kernel("fill_random_f32", "ptr x, i64 n, i32 seed, f32 scale");

    synchronized void fillRandomBf16(int grid, int block, long x, long n, int seed, float scale) {
        begin(FILL_RANDOM_BF16).ptr(x).i64(n).i32(seed).f32(scale).launch(grid, 1, 1, block, 0);
    }

    synchronized void fillRandomF32(int grid, int block, long x, long n, int seed, float scale) {
        begin(FILL_RANDOM_F32).ptr(x).i64(n).i32(seed).f32(scale).launch(grid, 1, 1, block, 0);
    }

    // gemv.cu

    private static final String GEMV_PARAMS = "ptr W, ptr x, ptr y, ptr bias, i32 out, i32 in, i32 rows, i32 accumulate, i32 act";
    private static final Kernel GEMV_BF16_1 = kernel("gemv_bf16_1", GEMV_PARAMS);
    private static final Kernel GEMV_BF16_2 = kernel("gemv_bf16_2", GEMV_PARAMS);

    /** The instance gemv_bf16_R, which takes up to R rows (R 1 or 2). */
    synchronized void gemvBf16(int R, int grid, int block, long W, long x, long y, long bias, int out, int in, int rows,
                               int accumulate, int act) {
        Kernel k = switch (R) {
            case 1 -> GEMV_BF16_1;
            case 2 -> GEMV_BF16_2;
            default -> throw new IllegalArgumentException("no kernel gemv_bf16_" + R);
        };
        begin(k).ptr(W).ptr(x).ptr(y).ptr(bias).i32(out).i32(in).i32(rows).i32(accumulate).i32(act)
                .launch(grid, 1, 1, block, 0);
    }

    // moe.cu

    private static final Kernel MOE_ROUTER = kernel("moe_router", "ptr W, ptr bias, ptr x, ptr logits, i32 experts, i32 in");
    private static final Kernel MOE_ROUTE = kernel("moe_route", "ptr logits, ptr correction, ptr chosen, ptr weights, "
            + "i32 experts, i32 k, i32 groups, i32 topkGroups, i32 normalize, f32 scaling");
    private static final Kernel MOE_EXPERT = kernel("moe_expert",
            "ptr W, ptr bias, ptr chosen, ptr x, i32 xPerPair, ptr y, i32 out, i32 in, i32 act");
    private static final Kernel GATHER_ROWS = kernel("gather_rows", "ptr x, ptr index, ptr out, i32 width");
    private static final Kernel MOE_COMBINE = kernel("moe_combine",
            "ptr outs, ptr hits, ptr weights, ptr y, i32 k, i32 width, i32 accumulate");

    synchronized void moeRouter(int gridX, int gridY, int block, long W, long bias, long x, long logits, int experts, int in) {
        begin(MOE_ROUTER).ptr(W).ptr(bias).ptr(x).ptr(logits).i32(experts).i32(in).launch(gridX, gridY, 1, block, 0);
    }

    synchronized void moeRoute(int grid, int block, int sharedBytes, long logits, long correction, long chosen,
                               long weights, int experts, int k, int groups, int topkGroups, int normalize, float scaling) {
        begin(MOE_ROUTE).ptr(logits).ptr(correction).ptr(chosen).ptr(weights).i32(experts).i32(k).i32(groups)
                .i32(topkGroups).i32(normalize).f32(scaling).launch(grid, 1, 1, block, sharedBytes);
    }

    synchronized void moeExpert(int gridX, int gridY, int block, long W, long bias, long chosen, long x, int xPerPair,
                                long y, int out, int in, int act) {
        begin(MOE_EXPERT).ptr(W).ptr(bias).ptr(chosen).ptr(x).i32(xPerPair).ptr(y).i32(out).i32(in).i32(act)
                .launch(gridX, gridY, 1, block, 0);
    }

    synchronized void gatherRows(int grid, int block, long x, long index, long out, int width) {
        begin(GATHER_ROWS).ptr(x).ptr(index).ptr(out).i32(width).launch(grid, 1, 1, block, 0);
    }

    private static final Kernel SCATTER_ROWS = kernel("scatter_rows", "ptr x, ptr index, ptr out, i32 width");

    synchronized void scatterRows(int grid, int block, long x, long index, long out, int width) {
        begin(SCATTER_ROWS).ptr(x).ptr(index).ptr(out).i32(width).launch(grid, 1, 1, block, 0);
    }

    synchronized void moeCombine(int gridX, int gridY, int block, long outs, long hits, long weights, long y, int k,
                                 int width, int accumulate) {
        begin(MOE_COMBINE).ptr(outs).ptr(hits).ptr(weights).ptr(y).i32(k).i32(width).i32(accumulate)
                .launch(gridX, gridY, 1, block, 0);
    }

    private static final Kernel MOE_PAIR_GRADS = kernel("moe_pair_grads", "ptr outs, ptr dRouted, ptr tok, ptr slot, "
            + "ptr weights, ptr dOuts, ptr dWeight, i32 width");
    private static final Kernel MOE_GATHER_SUM = kernel("moe_gather_sum", "ptr rows, ptr hits, ptr y, i32 k, i32 width");
    private static final Kernel MOE_ROUTE_BACKWARD = kernel("moe_route_backward", "ptr logits, ptr chosen, "
            + "ptr dWeight, ptr dLogits, i32 experts, i32 k, i32 normalize, f32 scaling");

    synchronized void moePairGrads(int grid, int block, long outs, long dRouted, long tok, long slot, long weights,
                                   long dOuts, long dWeight, int width) {
        begin(MOE_PAIR_GRADS).ptr(outs).ptr(dRouted).ptr(tok).ptr(slot).ptr(weights).ptr(dOuts).ptr(dWeight)
                .i32(width).launch(grid, 1, 1, block, 0);
    }

    synchronized void moeGatherSum(int gridX, int gridY, int block, long rows, long hits, long y, int k, int width) {
        begin(MOE_GATHER_SUM).ptr(rows).ptr(hits).ptr(y).i32(k).i32(width).launch(gridX, gridY, 1, block, 0);
    }

    synchronized void moeRouteBackward(int grid, int block, long logits, long chosen, long dWeight, long dLogits,
                                       int experts, int k, int normalize, float scaling) {
        begin(MOE_ROUTE_BACKWARD).ptr(logits).ptr(chosen).ptr(dWeight).ptr(dLogits).i32(experts).i32(k).i32(normalize)
                .f32(scaling).launch(grid, 1, 1, block, 0);
    }

    // conv1d.cu

    private static final Kernel CONV1D = kernel("conv1d", "ptr proj, i32 projStride, i32 inner, ptr w, ptr bias, "
            + "ptr states, ptr out, i32 len, i32 convDim, i32 K");
    private static final Kernel CONV1D_STATE = kernel("conv1d_state",
            "ptr proj, i32 projStride, i32 inner, ptr states, i32 len, i32 convDim, i32 K");
    private static final Kernel CONV1D_STEP = kernel("conv1d_step", "ptr proj, i32 projStride, i32 inner, ptr w, "
            + "ptr bias, ptr states, ptr out, i32 convDim, i32 K");

    synchronized void conv1d(int gridX, int gridY, int gridZ, int block, long proj, int projStride, int inner, long w,
                             long bias, long states, long out, int len, int convDim, int K) {
        begin(CONV1D).ptr(proj).i32(projStride).i32(inner).ptr(w).ptr(bias).ptr(states).ptr(out).i32(len)
                .i32(convDim).i32(K).launch(gridX, gridY, gridZ, block, 0);
    }

    synchronized void conv1dState(int gridX, int gridY, int block, long proj, int projStride, int inner, long states,
                                  int len, int convDim, int K) {
        begin(CONV1D_STATE).ptr(proj).i32(projStride).i32(inner).ptr(states).i32(len).i32(convDim).i32(K)
                .launch(gridX, gridY, 1, block, 0);
    }

    synchronized void conv1dStep(int gridX, int gridY, int block, long proj, int projStride, int inner, long w,
                                 long bias, long states, long out, int convDim, int K) {
        begin(CONV1D_STEP).ptr(proj).i32(projStride).i32(inner).ptr(w).ptr(bias).ptr(states).ptr(out).i32(convDim)
                .i32(K).launch(gridX, gridY, 1, block, 0);
    }

    // ssm_step.cu

    private static final Kernel SSM_STEP = kernel("ssm_step", "ptr xBC, ptr proj, i32 projStride, i32 dtOffset, "
            + "ptr dtBias, ptr A, ptr D, ptr states, ptr y, i32 heads, i32 headDim, i32 N, i32 groups, i32 inner, "
            + "i32 convDim, f32 lo, f32 hi");

    synchronized void ssmStep(int gridX, int gridY, int block, long xBC, long proj, int projStride, int dtOffset,
                              long dtBias, long A, long D, long states, long y, int heads, int headDim, int N,
                              int groups, int inner, int convDim, float lo, float hi) {
        begin(SSM_STEP).ptr(xBC).ptr(proj).i32(projStride).i32(dtOffset).ptr(dtBias).ptr(A).ptr(D).ptr(states).ptr(y)
                .i32(heads).i32(headDim).i32(N).i32(groups).i32(inner).i32(convDim).f32(lo).f32(hi)
                .launch(gridX, gridY, 1, block, 0);
    }

    // ssd_scan.cu

    private static final Kernel SSD_DT = kernel("ssd_dt", "ptr proj, i32 projStride, i32 dtOffset, ptr dtBias, ptr A, "
            + "ptr dt, ptr cum, i32 len, i32 heads, i32 chunk, f32 lo, f32 hi");
    private static final Kernel SSD_CB = kernel("ssd_cb",
            "ptr xBC, ptr cb, i32 len, i32 chunk, i32 N, i32 groups, i32 inner, i32 convDim");
    private static final Kernel SSD_CHUNK_STATE = kernel("ssd_chunk_state", "ptr xBC, ptr dt, ptr cum, ptr local, "
            + "i32 len, i32 chunk, i32 heads, i32 headDim, i32 N, i32 groups, i32 inner, i32 convDim");
    private static final Kernel SSD_STATE_PASS = kernel("ssd_state_pass",
            "ptr local, ptr cum, ptr state, ptr sIn, i32 len, i32 chunk, i32 heads, i32 headDim, i32 N");
    private static final Kernel SSD_CHUNK_OUTPUT = kernel("ssd_chunk_output", "ptr xBC, ptr dt, ptr cum, ptr cb, "
            + "ptr sIn, ptr D, ptr y, i32 len, i32 chunk, i32 heads, i32 headDim, i32 N, i32 groups, i32 inner, i32 convDim");

    synchronized void ssdDt(int grid, int block, long proj, int projStride, int dtOffset, long dtBias, long A, long dt,
                            long cum, int len, int heads, int chunk, float lo, float hi) {
        begin(SSD_DT).ptr(proj).i32(projStride).i32(dtOffset).ptr(dtBias).ptr(A).ptr(dt).ptr(cum).i32(len).i32(heads)
                .i32(chunk).f32(lo).f32(hi).launch(grid, 1, 1, block, 0);
    }

    synchronized void ssdCb(int gridX, int gridY, int block, long xBC, long cb, int len, int chunk, int N, int groups,
                            int inner, int convDim) {
        begin(SSD_CB).ptr(xBC).ptr(cb).i32(len).i32(chunk).i32(N).i32(groups).i32(inner).i32(convDim)
                .launch(gridX, gridY, 1, block, 0);
    }

    synchronized void ssdChunkState(int gridX, int gridY, int block, long xBC, long dt, long cum, long local, int len,
                                    int chunk, int heads, int headDim, int N, int groups, int inner, int convDim) {
        begin(SSD_CHUNK_STATE).ptr(xBC).ptr(dt).ptr(cum).ptr(local).i32(len).i32(chunk).i32(heads).i32(headDim).i32(N)
                .i32(groups).i32(inner).i32(convDim).launch(gridX, gridY, 1, block, 0);
    }

    synchronized void ssdStatePass(int gridX, int gridY, int block, long local, long cum, long state, long sIn, int len,
                                   int chunk, int heads, int headDim, int N) {
        begin(SSD_STATE_PASS).ptr(local).ptr(cum).ptr(state).ptr(sIn).i32(len).i32(chunk).i32(heads).i32(headDim)
                .i32(N).launch(gridX, gridY, 1, block, 0);
    }

    synchronized void ssdChunkOutput(int gridX, int gridY, int block, long xBC, long dt, long cum, long cb, long sIn,
                                     long D, long y, int len, int chunk, int heads, int headDim, int N, int groups,
                                     int inner, int convDim) {
        begin(SSD_CHUNK_OUTPUT).ptr(xBC).ptr(dt).ptr(cum).ptr(cb).ptr(sIn).ptr(D).ptr(y).i32(len).i32(chunk)
                .i32(heads).i32(headDim).i32(N).i32(groups).i32(inner).i32(convDim).launch(gridX, gridY, 1, block, 0);
    }

    // kv_cache.cu

    private static final Kernel KV_APPEND = kernel("kv_append", "ptr qkv, i32 qkvStride, i32 kOffset, i32 vOffset, "
            + "ptr keys, ptr values, ptr lengths, i32 len, i32 kvWidth");

    synchronized void kvAppend(int gridX, int gridY, int block, long qkv, int qkvStride, int kOffset, int vOffset,
                               long keys, long values, long lengths, int len, int kvWidth) {
        begin(KV_APPEND).ptr(qkv).i32(qkvStride).i32(kOffset).i32(vOffset).ptr(keys).ptr(values).ptr(lengths).i32(len)
                .i32(kvWidth).launch(gridX, gridY, 1, block, 0);
    }

    // attention_decode.cu

    private static final String ATTN_PARAMS = "ptr qkv, i32 qkvStride, ptr keys, ptr values, ptr lengths, "
            + "ptr partial, i32 heads, i32 kvHeads, i32 headDim, i32 G, i32 splits, f32 scale";
    private static final Kernel ATTN_DECODE_PARTIAL_1 = kernel("attn_decode_partial_1", ATTN_PARAMS);
    private static final Kernel ATTN_DECODE_PARTIAL_2 = kernel("attn_decode_partial_2", ATTN_PARAMS);
    private static final Kernel ATTN_DECODE_PARTIAL_4 = kernel("attn_decode_partial_4", ATTN_PARAMS);
    private static final Kernel ATTN_DECODE_PARTIAL_5 = kernel("attn_decode_partial_5", ATTN_PARAMS);
    private static final Kernel ATTN_DECODE_PARTIAL_8 = kernel("attn_decode_partial_8", ATTN_PARAMS);
    private static final Kernel ATTN_DECODE_COMBINE = kernel("attn_decode_combine",
            "ptr partial, ptr out, i32 heads, i32 headDim, i32 splits");

    /** The instance attn_decode_partial_GR, which scores up to GR query heads a block (GR 1, 2, 4, 5 or 8). */
    synchronized void attnDecodePartial(int GR, int gridX, int gridY, int gridZ, int block, int sharedBytes, long qkv,
                                        int qkvStride, long keys, long values, long lengths, long partial, int heads,
                                        int kvHeads, int headDim, int G, int splits, float scale) {
        Kernel k = switch (GR) {
            case 1 -> ATTN_DECODE_PARTIAL_1;
            case 2 -> ATTN_DECODE_PARTIAL_2;
            case 4 -> ATTN_DECODE_PARTIAL_4;
            case 5 -> ATTN_DECODE_PARTIAL_5;
            case 8 -> ATTN_DECODE_PARTIAL_8;
            default -> throw new IllegalArgumentException("no kernel attn_decode_partial_" + GR);
        };
        begin(k).ptr(qkv).i32(qkvStride).ptr(keys).ptr(values).ptr(lengths).ptr(partial).i32(heads).i32(kvHeads)
                .i32(headDim).i32(G).i32(splits).f32(scale).launch(gridX, gridY, gridZ, block, sharedBytes);
    }

    synchronized void attnDecodeCombine(int gridX, int gridY, int block, long partial, long out, int heads, int headDim,
                                        int splits) {
        begin(ATTN_DECODE_COMBINE).ptr(partial).ptr(out).i32(heads).i32(headDim).i32(splits)
                .launch(gridX, gridY, 1, block, 0);
    }

    // causal_softmax.cu

    private static final Kernel CAUSAL_SOFTMAX = kernel("causal_softmax", "ptr scores, ptr probs, i32 keys, i32 first");

    synchronized void causalSoftmax(int grid, int block, long scores, long probs, int keys, int first) {
        begin(CAUSAL_SOFTMAX).ptr(scores).ptr(probs).i32(keys).i32(first).launch(grid, 1, 1, block, 0);
    }

    // argmax.cu

    private static final Kernel ARGMAX = kernel("argmax", "ptr logits, i32 vocab, ptr out");

    synchronized void argmax(int grid, int block, long logits, int vocab, long out) {
        begin(ARGMAX).ptr(logits).i32(vocab).ptr(out).launch(grid, 1, 1, block, 0);
    }

    // sample.cu

    private static final Kernel SAMPLE_ROWS = kernel("sample_rows",
            "ptr logits, i32 vocab, ptr params, ptr ints, ptr rng, ptr penalties, ptr weight, ptr out");

    synchronized void sampleRows(int grid, int block, long logits, int vocab, long params, long ints, long rng,
                                 long penalties, long weight, long out) {
        begin(SAMPLE_ROWS).ptr(logits).i32(vocab).ptr(params).ptr(ints).ptr(rng).ptr(penalties).ptr(weight).ptr(out)
                .launch(grid, 1, 1, block, 0);
    }

    // --- training ---------------------------------------------------------------------------------------------

    // reduce.cu

    private static final Kernel COLUMN_SUMS = kernel("column_sums", "ptr x, i64 rows, i32 cols, i64 stride, "
            + "i32 rowsPerBlock, ptr out, i32 accumulate");
    private static final Kernel SUM_SQUARES = kernel("sum_squares", "ptr x, i64 n, ptr partial");
    private static final Kernel AXPY = kernel("axpy", "f32 alpha, ptr x, ptr y, i64 n, i32 accumulate");

    synchronized void columnSums(int gridX, int gridY, int block, long x, long rows, int cols, long stride,
            int rowsPerBlock, long out, int accumulate) {
        begin(COLUMN_SUMS).ptr(x).i64(rows).i32(cols).i64(stride).i32(rowsPerBlock).ptr(out).i32(accumulate)
                .launch(gridX, gridY, 1, block, 0);
    }

    synchronized void sumSquares(int gridX, int gridY, int block, long x, long n, long partial) {
        begin(SUM_SQUARES).ptr(x).i64(n).ptr(partial).launch(gridX, gridY, 1, block, 0);
    }

    synchronized void axpy(int gridX, int gridY, int block, float alpha, long x, long y, long n, int accumulate) {
        begin(AXPY).f32(alpha).ptr(x).ptr(y).i64(n).i32(accumulate).launch(gridX, gridY, 1, block, 0);
    }

    // adamw.cu

    private static final Kernel ADAMW = kernel("adamw", "ptr value, ptr grad, ptr m, ptr v, i64 n, f32 gradScale, "
            + "f32 decay, f32 stepSize, f32 oneMinusBeta1, f32 beta2, f32 oneMinusBeta2, f32 eps, f32 bc2Sqrt");

    synchronized void adamw(int gridX, int gridY, int block, long value, long grad, long m, long v, long n,
            float gradScale, float decay, float stepSize, float oneMinusBeta1, float beta2, float oneMinusBeta2,
            float eps, float bc2Sqrt) {
        begin(ADAMW).ptr(value).ptr(grad).ptr(m).ptr(v).i64(n).f32(gradScale).f32(decay).f32(stepSize)
                .f32(oneMinusBeta1).f32(beta2).f32(oneMinusBeta2).f32(eps).f32(bc2Sqrt)
                .launch(gridX, gridY, 1, block, 0);
    }

    // cross_entropy.cu

    private static final Kernel CROSS_ENTROPY = kernel("cross_entropy", "ptr z, ptr targets, i32 vocab, f32 scale, "
            + "ptr loss");

    synchronized void crossEntropy(int gridX, int gridY, int block, long z, long targets, int vocab, float scale,
            long loss) {
        begin(CROSS_ENTROPY).ptr(z).ptr(targets).i32(vocab).f32(scale).ptr(loss).launch(gridX, gridY, 1, block, 0);
    }

    // embed.cu (training)

    private static final Kernel EMBED_F32 = kernel("embed_f32", "ptr table, ptr ids, ptr x, i32 hidden");
    private static final Kernel EMBED_BACKWARD = kernel("embed_backward", "ptr dx, ptr ids, i32 len, i32 hidden, "
            + "ptr dTable");

    synchronized void embedF32(int gridX, int gridY, int block, long table, long ids, long x, int hidden) {
        begin(EMBED_F32).ptr(table).ptr(ids).ptr(x).i32(hidden).launch(gridX, gridY, 1, block, 0);
    }

    synchronized void embedBackward(int gridX, int gridY, int block, long dx, long ids, int len, int hidden,
            long dTable) {
        begin(EMBED_BACKWARD).ptr(dx).ptr(ids).i32(len).i32(hidden).ptr(dTable).launch(gridX, gridY, 1, block, 0);
    }

    // rms_norm.cu (training)

    private static final Kernel RMS_NORM_TRAIN = kernel("rms_norm_train", "ptr x, ptr w, ptr y, ptr rstd, i32 dim, "
            + "i32 group, f32 eps");
    private static final Kernel RMS_NORM_BACKWARD = kernel("rms_norm_backward", "ptr dy, ptr x, ptr w, ptr rstd, "
            + "ptr dx, ptr dwRows, i32 dim, i32 group, i32 accumulate");
    private static final Kernel GATED_RMS_NORM_TRAIN = kernel("gated_rms_norm_train", "ptr y, ptr proj, "
            + "i32 projStride, ptr w, ptr out, ptr rstd, i32 inner, i32 group, f32 eps");
    private static final Kernel GATED_RMS_NORM_BACKWARD = kernel("gated_rms_norm_backward", "ptr dOut, ptr y, "
            + "ptr proj, i32 projStride, ptr w, ptr rstd, ptr dy, ptr dProj, ptr dwRows, i32 inner, i32 group");

    synchronized void rmsNormTrain(int gridX, int gridY, int block, long x, long w, long y, long rstd, int dim,
            int group, float eps) {
        begin(RMS_NORM_TRAIN).ptr(x).ptr(w).ptr(y).ptr(rstd).i32(dim).i32(group).f32(eps)
                .launch(gridX, gridY, 1, block, 0);
    }

    synchronized void rmsNormBackward(int gridX, int gridY, int block, long dy, long x, long w, long rstd, long dx,
            long dwRows, int dim, int group, int accumulate) {
        begin(RMS_NORM_BACKWARD).ptr(dy).ptr(x).ptr(w).ptr(rstd).ptr(dx).ptr(dwRows).i32(dim).i32(group).i32(accumulate)
                .launch(gridX, gridY, 1, block, 0);
    }

    synchronized void gatedRmsNormTrain(int gridX, int gridY, int block, long y, long proj, int projStride, long w,
            long out, long rstd, int inner, int group, float eps) {
        begin(GATED_RMS_NORM_TRAIN).ptr(y).ptr(proj).i32(projStride).ptr(w).ptr(out).ptr(rstd).i32(inner).i32(group)
                .f32(eps).launch(gridX, gridY, 1, block, 0);
    }

    synchronized void gatedRmsNormBackward(int gridX, int gridY, int block, long dOut, long y, long proj,
            int projStride, long w, long rstd, long dy, long dProj, long dwRows, int inner, int group) {
        begin(GATED_RMS_NORM_BACKWARD).ptr(dOut).ptr(y).ptr(proj).i32(projStride).ptr(w).ptr(rstd).ptr(dy).ptr(dProj)
                .ptr(dwRows).i32(inner).i32(group).launch(gridX, gridY, 1, block, 0);
    }

    // conv1d.cu (training)

    private static final Kernel CONV1D_TRAIN = kernel("conv1d_train", "ptr proj, i32 projStride, i32 inner, ptr w, "
            + "ptr bias, ptr out, i32 len, i32 convDim, i32 K");
    private static final Kernel CONV1D_BACKWARD = kernel("conv1d_backward", "ptr dOut, ptr proj, i32 projStride, "
            + "i32 inner, ptr w, ptr bias, ptr dProj, ptr partial, i32 len, i32 convDim, i32 K, i32 seg");
    private static final Kernel CONV1D_PARAM_GRADS = kernel("conv1d_param_grads",
            "ptr partial, i32 segments, i32 convDim, i32 K, ptr dw, ptr dbias");

    synchronized void conv1dParamGrads(int grid, int block, long partial, int segments, int convDim, int K, long dw,
                                       long dbias) {
        begin(CONV1D_PARAM_GRADS).ptr(partial).i32(segments).i32(convDim).i32(K).ptr(dw).ptr(dbias)
                .launch(grid, 1, 1, block, 0);
    }

    synchronized void conv1dTrain(int gridX, int gridY, int block, long proj, int projStride, int inner, long w,
            long bias, long out, int len, int convDim, int K) {
        begin(CONV1D_TRAIN).ptr(proj).i32(projStride).i32(inner).ptr(w).ptr(bias).ptr(out).i32(len).i32(convDim).i32(K)
                .launch(gridX, gridY, 1, block, 0);
    }

    synchronized void conv1dBackward(int gridX, int gridY, int block, long dOut, long proj, int projStride, int inner,
            long w, long bias, long dProj, long partial, int len, int convDim, int K, int seg) {
        begin(CONV1D_BACKWARD).ptr(dOut).ptr(proj).i32(projStride).i32(inner).ptr(w).ptr(bias).ptr(dProj).ptr(partial)
                .i32(len).i32(convDim).i32(K).i32(seg).launch(gridX, gridY, 1, block, 0);
    }

    // ssd_scan_backward.cu

    private static final Kernel SSD_BWD_STATE_LOCAL = kernel("ssd_bwd_state_local", "ptr xBC, ptr dy, ptr cum, "
            + "ptr dState, i32 len, i32 chunk, i32 heads, i32 headDim, i32 N, i32 groups, i32 inner, i32 convDim");
    private static final Kernel SSD_BWD_STATE_PASS = kernel("ssd_bwd_state_pass", "ptr dState, ptr cum, ptr dStateOut, "
            + "i32 len, i32 chunk, i32 heads, i32 headDim, i32 N");
    private static final Kernel SSD_BWD_DM = kernel("ssd_bwd_dm", "ptr xBC, ptr dy, ptr dm, i32 len, i32 chunk, "
            + "i32 heads, i32 headDim, i32 inner, i32 convDim");
    private static final Kernel SSD_BWD_DX = kernel("ssd_bwd_dx", "ptr xBC, ptr dy, ptr dt, ptr cum, ptr cb, "
            + "ptr dStateOut, ptr D, ptr dxBC, i32 len, i32 chunk, i32 heads, i32 headDim, i32 N, i32 groups, "
            + "i32 inner, i32 convDim");
    private static final Kernel SSD_BWD_DCB = kernel("ssd_bwd_dcb", "ptr dm, ptr dt, ptr cum, ptr dcb, i32 len, "
            + "i32 chunk, i32 heads, i32 groups");
    private static final Kernel SSD_BWD_DBC = kernel("ssd_bwd_dbc", "ptr xBC, ptr dy, ptr dt, ptr cum, ptr dcb, "
            + "ptr sIn, ptr dStateOut, ptr dxBC, i32 len, i32 chunk, i32 heads, i32 headDim, i32 N, i32 groups, "
            + "i32 inner, i32 convDim");

    synchronized void ssdBwdStateLocal(int gridX, int gridY, int block, long xBC, long dy, long cum, long dState,
            int len, int chunk, int heads, int headDim, int N, int groups, int inner, int convDim) {
        begin(SSD_BWD_STATE_LOCAL).ptr(xBC).ptr(dy).ptr(cum).ptr(dState).i32(len).i32(chunk).i32(heads).i32(headDim)
                .i32(N).i32(groups).i32(inner).i32(convDim).launch(gridX, gridY, 1, block, 0);
    }

    synchronized void ssdBwdStatePass(int gridX, int gridY, int block, long dState, long cum, long dStateOut, int len,
            int chunk, int heads, int headDim, int N) {
        begin(SSD_BWD_STATE_PASS).ptr(dState).ptr(cum).ptr(dStateOut).i32(len).i32(chunk).i32(heads).i32(headDim).i32(N)
                .launch(gridX, gridY, 1, block, 0);
    }

    synchronized void ssdBwdDm(int gridX, int gridY, int block, long xBC, long dy, long dm, int len, int chunk,
            int heads, int headDim, int inner, int convDim) {
        begin(SSD_BWD_DM).ptr(xBC).ptr(dy).ptr(dm).i32(len).i32(chunk).i32(heads).i32(headDim).i32(inner).i32(convDim)
                .launch(gridX, gridY, 1, block, 0);
    }

    synchronized void ssdBwdDx(int gridX, int gridY, int block, long xBC, long dy, long dt, long cum, long cb,
            long dStateOut, long D, long dxBC, int len, int chunk, int heads, int headDim, int N, int groups, int inner,
            int convDim) {
        begin(SSD_BWD_DX).ptr(xBC).ptr(dy).ptr(dt).ptr(cum).ptr(cb).ptr(dStateOut).ptr(D).ptr(dxBC).i32(len).i32(chunk)
                .i32(heads).i32(headDim).i32(N).i32(groups).i32(inner).i32(convDim).launch(gridX, gridY, 1, block, 0);
    }

    synchronized void ssdBwdDcb(int gridX, int gridY, int block, long dm, long dt, long cum, long dcb, int len,
            int chunk, int heads, int groups) {
        begin(SSD_BWD_DCB).ptr(dm).ptr(dt).ptr(cum).ptr(dcb).i32(len).i32(chunk).i32(heads).i32(groups)
                .launch(gridX, gridY, 1, block, 0);
    }

    synchronized void ssdBwdDbc(int gridX, int gridY, int gridZ, int block, long xBC, long dy, long dt, long cum, long dcb,
            long sIn, long dStateOut, long dxBC, int len, int chunk, int heads, int headDim, int N, int groups,
            int inner, int convDim) {
        begin(SSD_BWD_DBC).ptr(xBC).ptr(dy).ptr(dt).ptr(cum).ptr(dcb).ptr(sIn).ptr(dStateOut).ptr(dxBC).i32(len)
                .i32(chunk).i32(heads).i32(headDim).i32(N).i32(groups).i32(inner).i32(convDim)
                .launch(gridX, gridY, gridZ, block, 0);
    }

    // ssd_time_step.cu

    private static final Kernel SSD_BWD_DT = kernel("ssd_bwd_dt", "ptr xBC, ptr dy, ptr dt, ptr cum, ptr A, ptr dm, "
            + "ptr cb, ptr sIn, ptr dStateOut, ptr ddt, ptr dAPart, ptr dDPart, i32 len, i32 chunk, i32 heads, "
            + "i32 headDim, i32 N, i32 groups, i32 inner, i32 convDim");
    private static final Kernel SSD_DT_BACKWARD = kernel("ssd_dt_backward", "ptr ddt, ptr proj, i32 projStride, "
            + "i32 dtOffset, ptr dtBias, ptr dProj, ptr dDtBiasPart, i32 len, i32 heads, f32 lo, f32 hi, i32 seg");
    private static final Kernel SSD_PARAM_GRADS = kernel("ssd_param_grads", "ptr dAPart, ptr dDPart, ptr A, "
            + "i32 chunks, i32 heads, ptr dALog, ptr dD");

    synchronized void ssdBwdDt(int gridX, int gridY, int block, long xBC, long dy, long dt, long cum, long A, long dm,
            long cb, long sIn, long dStateOut, long ddt, long dAPart, long dDPart, int len, int chunk, int heads,
            int headDim, int N, int groups, int inner, int convDim) {
        begin(SSD_BWD_DT).ptr(xBC).ptr(dy).ptr(dt).ptr(cum).ptr(A).ptr(dm).ptr(cb).ptr(sIn).ptr(dStateOut).ptr(ddt)
                .ptr(dAPart).ptr(dDPart).i32(len).i32(chunk).i32(heads).i32(headDim).i32(N).i32(groups).i32(inner)
                .i32(convDim).launch(gridX, gridY, 1, block, 0);
    }

    synchronized void ssdDtBackward(int gridX, int gridY, int block, long ddt, long proj, int projStride, int dtOffset,
            long dtBias, long dProj, long dDtBiasPart, int len, int heads, float lo, float hi, int seg) {
        begin(SSD_DT_BACKWARD).ptr(ddt).ptr(proj).i32(projStride).i32(dtOffset).ptr(dtBias).ptr(dProj).ptr(dDtBiasPart)
                .i32(len).i32(heads).f32(lo).f32(hi).i32(seg).launch(gridX, gridY, 1, block, 0);
    }

    synchronized void ssdParamGrads(int gridX, int gridY, int block, long dAPart, long dDPart, long A, int chunks,
            int heads, long dALog, long dD) {
        begin(SSD_PARAM_GRADS).ptr(dAPart).ptr(dDPart).ptr(A).i32(chunks).i32(heads).ptr(dALog).ptr(dD)
                .launch(gridX, gridY, 1, block, 0);
    }

    private static final Kernel SSD_A_FROM_LOG = kernel("ssd_a_from_log", "ptr aLog, ptr A, i32 heads");

    synchronized void ssdAFromLog(int gridX, int gridY, int block, long aLog, long A, int heads) {
        begin(SSD_A_FROM_LOG).ptr(aLog).ptr(A).i32(heads).launch(gridX, gridY, 1, block, 0);
    }

    // attention_train.cu

    private static final Kernel ATTN_SOFTMAX = kernel("attn_softmax", "ptr s, ptr pb, ptr lse, i32 rows, i32 keys, "
            + "i32 q0, i32 len, f32 scale");
    private static final Kernel ATTN_BWD_DELTA = kernel("attn_bwd_delta", "ptr out, ptr dout, i32 outStride, ptr delta, "
            + "i32 len, i32 D");
    private static final Kernel ATTN_SOFTMAX_BACKWARD = kernel("attn_softmax_backward", "ptr s, ptr pb, ptr dp, ptr dsb, "
            + "ptr lse, ptr delta, i32 rows, i32 keys, i32 q0, i32 len, f32 scale");

    synchronized void attnSoftmax(int gridX, int gridY, int block, long s, long pb, long lse, int rows, int keys, int q0,
                                  int len, float scale) {
        begin(ATTN_SOFTMAX).ptr(s).ptr(pb).ptr(lse).i32(rows).i32(keys).i32(q0).i32(len).f32(scale)
                .launch(gridX, gridY, 1, block, 0);
    }

    synchronized void attnBwdDelta(int gridX, int gridY, int block, long out, long dout, int outStride, long delta,
                                   int len, int D) {
        begin(ATTN_BWD_DELTA).ptr(out).ptr(dout).i32(outStride).ptr(delta).i32(len).i32(D).launch(gridX, gridY, 1, block, 0);
    }

    synchronized void attnSoftmaxBackward(int gridX, int gridY, int block, long s, long pb, long dp, long dsb, long lse,
                                          long delta, int rows, int keys, int q0, int len, float scale) {
        begin(ATTN_SOFTMAX_BACKWARD).ptr(s).ptr(pb).ptr(dp).ptr(dsb).ptr(lse).ptr(delta).i32(rows).i32(keys).i32(q0)
                .i32(len).f32(scale).launch(gridX, gridY, 1, block, 0);
    }

    // relu2.cu

    private static final Kernel RELU2 = kernel("relu2", "ptr h, ptr out, i64 n");
    private static final Kernel RELU2_BACKWARD = kernel("relu2_backward", "ptr dOut, ptr h, ptr dh, i64 n");

    synchronized void relu2(int gridX, int gridY, int block, long h, long out, long n) {
        begin(RELU2).ptr(h).ptr(out).i64(n).launch(gridX, gridY, 1, block, 0);
    }

    synchronized void relu2Backward(int gridX, int gridY, int block, long dOut, long h, long dh, long n) {
        begin(RELU2_BACKWARD).ptr(dOut).ptr(h).ptr(dh).i64(n).launch(gridX, gridY, 1, block, 0);
    }

    // lora.cu

    private static final Kernel DORA_ROW_NORMS = kernel("dora_row_norms", "ptr wBf16, ptr wF32, ptr ba, f32 s, "
            + "i32 in, ptr norms");
    private static final Kernel DORA_FORWARD = kernel("dora_forward", "ptr y, ptr bx, ptr magnitude, ptr norms, "
            + "f32 s, i32 out, i64 n");
    private static final Kernel DORA_BACKWARD = kernel("dora_backward", "ptr dy, ptr base, ptr bx, ptr magnitude, "
            + "ptr norms, f32 s, i32 out, i64 n, ptr dBx, ptr dBase, ptr magRows");

    synchronized void doraRowNorms(int gridX, int gridY, int block, long wBf16, long wF32, long ba, float s, int in,
            long norms) {
        begin(DORA_ROW_NORMS).ptr(wBf16).ptr(wF32).ptr(ba).f32(s).i32(in).ptr(norms).launch(gridX, gridY, 1, block, 0);
    }

    synchronized void doraForward(int gridX, int gridY, int block, long y, long bx, long magnitude, long norms, float s,
            int out, long n) {
        begin(DORA_FORWARD).ptr(y).ptr(bx).ptr(magnitude).ptr(norms).f32(s).i32(out).i64(n)
                .launch(gridX, gridY, 1, block, 0);
    }

    synchronized void doraBackward(int gridX, int gridY, int block, long dy, long base, long bx, long magnitude,
            long norms, float s, int out, long n, long dBx, long dBase, long magRows) {
        begin(DORA_BACKWARD).ptr(dy).ptr(base).ptr(bx).ptr(magnitude).ptr(norms).f32(s).i32(out).i64(n).ptr(dBx)
                .ptr(dBase).ptr(magRows).launch(gridX, gridY, 1, block, 0);
    }
}
