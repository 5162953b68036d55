package dev.nemoh.model;

import dev.nemoh.config.LinearSpec;
import dev.nemoh.config.LoraConfig;
import dev.nemoh.config.WeightSchema;
import dev.nemoh.io.BaseModelIdentity;
import dev.nemoh.io.CheckpointException;
import dev.nemoh.io.PeftAdapter;
import dev.nemoh.kernels.MatMul;
import dev.nemoh.kernels.Parallel;
import dev.nemoh.kernels.Vec;
import dev.nemoh.kernels.WeightMatrix;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.DigestInputStream;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.IdentityHashMap;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * A PEFT LoRA or DoRA adapter ({@link PeftAdapter}) loaded for one base model and applied unmerged at inference, as
 * PEFT computes it in eval mode: {@code y = W x + b + s · B A x}, and with DoRA
 * {@code y = b + m/‖W + s BA‖ · (W x + s · B A x)}, the row norms computed once at load (they are constants when
 * nothing trains). The base weights stay as loaded (bf16, Q8_0, Q4_0...); A, B and m stay float32. Which adapter a
 * row uses is chosen per row ({@link #apply}), so sequences with different adapters, or none, share a batched step.
 */
public final class LoraAdapter {
    /**
     * One adapted linear layer: A [r, in], B [out, r], scaling s, and under DoRA the row factors m/‖W + s BA‖
     * ({@code rowScale}, null for plain LoRA).
     */
    record Layer(float[] a, float[] b, int r, float scaling, float[] rowScale) {}

    /** The name requests and logs use ({@code serve --lora NAME=DIR}; the directory's name for {@code --adapter}). */
    public final String name;
    public final Path dir;
    public final LoraConfig config;
    private final String identity;
    /** Why the adapter may not belong to the loaded model though its shapes fit, or null. */
    public final String baseModelWarning;
    /** The model the adapter was loaded for: its layers' shapes and, under DoRA, its weights' norms. */
    private final NemotronHModel model;
    /** by the adapted layer's checkpoint name ({@code backbone.layers.0.mixer.in_proj}) */
    private final Map<String, Layer> layers;

    private LoraAdapter(String name, Path dir, LoraConfig config, String identity, String baseModelWarning,
                        NemotronHModel model, Map<String, Layer> layers) {
        this.baseModelWarning = baseModelWarning;
        this.name = name;
        this.dir = dir;
        this.config = config;
        this.identity = identity;
        this.model = model;
        this.layers = layers;
    }

    /**
     * Reads the adapter in {@code dir} for {@code model}; an adapter of another shape or with targets the model lacks
     * (one of another base model) is refused with one line naming the problem.
     */
    static LoraAdapter load(String name, Path dir, NemotronHModel model) {
        if (!Files.isDirectory(dir)) {
            throw new CheckpointException("adapter directory " + dir + " not found: give a directory holding "
                    + PeftAdapter.CONFIG + " and " + PeftAdapter.WEIGHTS);
        }
        LoraConfig cfg = PeftAdapter.readConfig(dir);
        Map<String, LinearSpec> targets = new LinkedHashMap<>();
        for (WeightSchema.Layer layer : WeightSchema.of(model.config).layers) {
            for (LinearSpec spec : layer.mixer().adaptable()) {
                if (cfg.targetModules().contains(spec.module())) targets.put(spec.prefix(), spec);
            }
        }
        if (targets.isEmpty()) {
            throw new CheckpointException(dir.resolve(PeftAdapter.CONFIG) + ": the model has none of the target modules "
                    + cfg.targetModules() + " (its layers have " + adaptableModules(model) + "); the adapter belongs to another base model");
        }
        Map<String, int[]> shapes = new LinkedHashMap<>();
        targets.forEach((prefix, spec) -> {
            String module = WeightSchema.modulePath(prefix);
            shapes.put(module + PeftAdapter.LORA_A, new int[] {cfg.r(), spec.in()});
            shapes.put(module + PeftAdapter.LORA_B, new int[] {spec.out(), cfg.r()});
            if (cfg.useDora()) shapes.put(module + PeftAdapter.MAGNITUDE, new int[] {spec.out()});
        });
        Map<String, float[]> values = PeftAdapter.readWeights(dir, shapes);
        Map<String, Linear> linears = model.linears();
        float s = (float) cfg.scaling();
        Map<String, Layer> layers = new LinkedHashMap<>();
        targets.forEach((prefix, spec) -> {
            String module = WeightSchema.modulePath(prefix);
            float[] a = values.get(module + PeftAdapter.LORA_A), b = values.get(module + PeftAdapter.LORA_B);
            float[] rowScale = null;
            if (cfg.useDora()) {
                Linear linear = linears.get(prefix);
                float[] m = values.get(module + PeftAdapter.MAGNITUDE);
                rowScale = adaptedRowNorms(linear.weight, linear.scale, a, b, cfg.r(), s);
                for (int o = 0; o < rowScale.length; o++) rowScale[o] = m[o] / rowScale[o];
            }
            layers.put(prefix, new Layer(a, b, cfg.r(), s, rowScale));
        });
        return new LoraAdapter(name, dir, cfg, name + "@" + contentHash(dir), baseModelWarning(dir, model), model,
                Map.copyOf(layers));
    }

    /**
     * A warning when the adapter's recorded base model is a model directory here whose {@link BaseModelIdentity}
     * differs from the loaded model's (a moved or copied base has the same identity), else null. A warning, not a
     * refusal: the shapes fit, and a base re-saved with another config.json layout or shard split differs too. A base
     * recorded as a Hub name or a path that is not here cannot be compared.
     */
    private static String baseModelWarning(Path dir, NemotronHModel model) {
        String recorded = PeftAdapter.baseModel(dir);
        Path base;
        try {
            base = recorded == null ? null : Path.of(recorded);
        } catch (java.nio.file.InvalidPathException e) {
            return null;
        }
        if (base == null || !Files.isRegularFile(base.resolve("config.json"))) return null;
        String expected = BaseModelIdentity.of(base), actual = BaseModelIdentity.of(model.dir());
        return expected.equals(actual) ? null : "the adapter in " + dir + " was trained on " + recorded + " (base model "
                + expected + "), not on " + model.dir() + " (" + actual + "); its outputs are meaningless unless the two"
                + " hold the same weights";
    }

    private static java.util.Set<String> adaptableModules(NemotronHModel model) {
        java.util.Set<String> modules = new java.util.TreeSet<>();
        for (WeightSchema.Layer layer : WeightSchema.of(model.config).layers) {
            layer.mixer().adaptable().forEach(spec -> modules.add(spec.module()));
        }
        return modules;
    }

    /**
     * A stable identity for caches keyed by what computed them: the name, {@code @}, and 16 hex digits of a SHA-256
     * over the adapter's two files, so the same name over changed files is another adapter.
     */
    public String identity() {
        return identity;
    }

    /** Whether this adapter was loaded for {@code m}. */
    boolean belongsTo(NemotronHModel m) {
        return model == m;
    }

    /** Linear layers the adapter adapts. */
    public int adaptedLayers() {
        return layers.size();
    }

    @Override
    public String toString() {
        return identity;
    }

    private static String contentHash(Path dir) {
        MessageDigest sha;
        try {
            sha = MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
        for (String file : new String[] {PeftAdapter.CONFIG, PeftAdapter.WEIGHTS}) {
            try (InputStream in = new DigestInputStream(Files.newInputStream(dir.resolve(file)), sha)) {
                in.transferTo(java.io.OutputStream.nullOutputStream());
            } catch (IOException e) {
                throw new CheckpointException("cannot read " + dir.resolve(file) + ": " + e.getMessage(), e);
            }
        }
        return HexFormat.of().formatHex(sha.digest(), 0, 8);
    }

    /**
     * The row norms {@code ‖scale · W + s BA‖} of W [out, in] as stored (scale: its FP8 per-tensor factor, else 1),
     * A [r, in], B [out, r], streamed over W's rows (no copy of W): DoRA's denominators.
     */
    public static float[] adaptedRowNorms(WeightMatrix w, float scale, float[] a, float[] b, int r, float s) {
        int out = w.rows(), in = w.cols();
        float[] norms = new float[out];
        int block = 16;
        Parallel.forEach((out + block - 1) / block, (long) block * in * (r + 2), blockIndex -> {
            float[] row = new float[in], delta = new float[in];
            for (int o = blockIndex * block; o < Math.min(out, (blockIndex + 1) * block); o++) {
                w.widen(o, 0, in, row, 0);
                Arrays.fill(delta, 0f);
                for (int k = 0; k < r; k++) Vec.axpy(b[o * r + k], a, k * in, delta, 0, in);
                double ss = 0;
                for (int i = 0; i < in; i++) {
                    double v = scale * row[i] + s * delta[i];
                    ss += v * v;
                }
                norms[o] = (float) Math.sqrt(ss);
            }
        });
        return norms;
    }

    /**
     * Adds the adapters' terms to {@code y}, the output [rows, out] of {@code linear} for x [rows, in] with its bias:
     * row t through {@code adapters[t]} (null: the base model, left as it is). Rows that share an adapter run
     * together, so a batch reads each adapter's matrices once.
     *
     * @param adapters one entry per row, or null when no row has an adapter
     */
    static void apply(Linear linear, float[] x, int rows, LoraAdapter[] adapters, float[] y) {
        if (adapters == null) return;
        Map<LoraAdapter, int[]> groups = new IdentityHashMap<>();
        for (int t = 0; t < rows; t++) {
            LoraAdapter adapter = adapters[t];
            if (adapter == null || !adapter.layers.containsKey(linear.name)) continue;
            int[] rowsOf = groups.get(adapter);
            rowsOf = rowsOf == null ? new int[] {t} : appended(rowsOf, t);
            groups.put(adapter, rowsOf);
        }
        groups.forEach((adapter, rowsOf) -> addTerm(adapter.layers.get(linear.name), linear, x, rowsOf, y));
    }

    private static int[] appended(int[] a, int v) {
        int[] b = Arrays.copyOf(a, a.length + 1);
        b[a.length] = v;
        return b;
    }

    /** {@code y[t] += s · B A x[t]} for the given rows t, or under DoRA {@code y[t] = b + f ⊙ (y[t] − b + s · B A x[t])}. */
    private static void addTerm(Layer layer, Linear linear, float[] x, int[] rowsOf, float[] y) {
        int in = linear.in, out = linear.out, n = rowsOf.length;
        float[] xs = new float[n * in];
        for (int i = 0; i < n; i++) System.arraycopy(x, rowsOf[i] * in, xs, i * in, in);
        float[] ax = MatMul.matmul(xs, n, layer.a(), layer.r(), in);
        float[] bax = MatMul.matmul(ax, n, layer.b(), out, layer.r());
        float s = layer.scaling();
        for (int i = 0; i < n; i++) {
            int base = rowsOf[i] * out;
            for (int o = 0; o < out; o++) {
                float lora = s * bax[i * out + o];
                if (layer.rowScale() == null) {
                    y[base + o] += lora;
                } else {
                    float bias = linear.bias == null ? 0f : linear.bias[o];
                    y[base + o] = bias + layer.rowScale()[o] * (y[base + o] - bias + lora);
                }
            }
        }
    }

    /** The adapters of the rows of x routed to expert e: the sub-selection of {@code adapters} that dispatch gathers. */
    static LoraAdapter[] gather(LoraAdapter[] adapters, ExpertDispatch dispatch, int e) {
        if (adapters == null) return null;
        LoraAdapter[] out = new LoraAdapter[dispatch.hits(e)];
        for (int hit = dispatch.start()[e], i = 0; hit < dispatch.start()[e + 1]; hit++, i++) out[i] = adapters[dispatch.token()[hit]];
        return out;
    }

    /** One adapter (or none) for every one of {@code rows} rows. */
    static LoraAdapter[] forRows(LoraAdapter adapter, int rows) {
        if (adapter == null) return null;
        LoraAdapter[] a = new LoraAdapter[rows];
        Arrays.fill(a, adapter);
        return a;
    }
}
