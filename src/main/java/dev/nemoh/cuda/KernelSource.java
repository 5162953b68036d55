package dev.nemoh.cuda;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The CUDA C++ source of nemoh's kernels, one {@code .cu} file per op beside this class, and the signature of each
 * {@code extern "C" __global__} kernel in it, against which {@link CudaKernels} checks its typed launch methods.
 */
final class KernelSource {
    /** The files in the order they are joined: the common header first, then each file after those it uses. */
    static final List<String> FILES = List.of("common.cuh", "embed.cu", "rms_norm.cu", "convert.cu", "bias_act.cu",
            "fill_random.cu", "gemv.cu", "moe.cu", "conv1d.cu", "ssm_step.cu", "ssd_scan.cu", "ssd_scan_backward.cu",
            "ssd_time_step.cu", "kv_cache.cu", "attention_decode.cu", "causal_softmax.cu", "argmax.cu", "sample.cu", "reduce.cu",
            "adamw.cu", "cross_entropy.cu", "attention_train.cu", "relu2.cu", "lora.cu");

    /** How a kernel parameter is passed: a device pointer, a 64-bit or 32-bit integer, or a float. */
    enum Kind { PTR, I64, I32, F32 }

    record Param(Kind kind, String name) {
        @Override
        public String toString() {
            return kind.name().toLowerCase(Locale.ROOT) + " " + name;
        }
    }

    private static final String BOUNDS = "__launch_bounds__\\s*\\([^)]*\\)\\s*";
    /** A kernel's name (which a macro may paste together with ##) and parameter list; launch bounds before or after void. */
    private static final Pattern KERNEL = Pattern.compile("extern\\s+\"C\"\\s+__global__\\s+(?:" + BOUNDS + ")?void\\s+"
            + "(?:" + BOUNDS + ")?(\\w+(?:\\s*##\\s*\\w+)*)\\s*\\(([^)]*)\\)");
    /** A function-like macro of one parameter, on one line once continuations are joined. */
    private static final Pattern MACRO = Pattern.compile("(?m)^\\s*#define\\s+(\\w+)\\((\\w+)\\)(.*)$");
    /** A line that instantiates a macro with one argument. */
    private static final Pattern CALL = Pattern.compile("(?m)^\\s*(\\w+)\\s*\\(\\s*(\\w+)\\s*\\)\\s*;?\\s*$");
    /** A parameter: its type, then its name. */
    private static final Pattern PARAM = Pattern.compile("(.*?)(\\w+)");

    private KernelSource() {
    }

    /** The files joined into the one program NVRTC compiles; each starts with a #line, so errors name its file. */
    static String join() {
        StringBuilder source = new StringBuilder();
        for (String file : FILES) source.append("#line 1 \"").append(file).append("\"\n").append(read(file));
        return source.toString();
    }

    static String read(String file) {
        try (InputStream in = KernelSource.class.getResourceAsStream(file)) {
            if (in == null) throw new CudaException(file + " is missing from the jar; rebuild nemoh");
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /**
     * The parameters of every {@code extern "C" __global__} kernel in {@code source}, by name. A kernel defined by a
     * one-parameter macro (such as {@code gemv_bf16_##R}) is expanded for each line that instantiates the macro.
     */
    static Map<String, List<Param>> signatures(String source) {
        // without comments, and each macro on one line
        String text = source.replaceAll("//[^\n]*|/\\*(?s:.*?)\\*/", "").replaceAll("\\\\[ \\t]*\r?\n", " ");
        record Template(String parameter, String kernel, String params) {}
        Map<String, Template> templates = new HashMap<>();
        Matcher macro = MACRO.matcher(text);
        while (macro.find()) {
            Matcher k = KERNEL.matcher(macro.group(3));
            if (k.find()) templates.put(macro.group(1), new Template(macro.group(2), k.group(1), k.group(2)));
        }
        Map<String, List<Param>> kernels = new LinkedHashMap<>();
        Matcher k = KERNEL.matcher(MACRO.matcher(text).replaceAll(""));
        while (k.find()) kernels.put(k.group(1), params(k.group(1), k.group(2)));
        Matcher call = CALL.matcher(text);
        while (call.find()) {
            Template t = templates.get(call.group(1));
            if (t == null) continue;
            String parameter = "\\b" + t.parameter() + "\\b", argument = call.group(2);
            String name = t.kernel().replaceAll(parameter, argument).replaceAll("\\s*##\\s*", "");
            kernels.put(name, params(name, t.params().replaceAll(parameter, argument)));
        }
        return kernels;
    }

    private static List<Param> params(String kernel, String list) {
        List<Param> params = new ArrayList<>();
        if (list.isBlank() || list.strip().equals("void")) return params;
        for (String p : list.split(",")) {
            Matcher m = PARAM.matcher(p.strip());
            if (!m.matches()) throw new CudaException("kernel " + kernel + ": cannot read parameter '" + p.strip() + "'");
            String type = m.group(1).replaceAll("\\b(const|__restrict__|volatile)\\b", "").replaceAll("\\s+", " ").strip();
            Kind kind = type.endsWith("*") ? Kind.PTR : switch (type) {
                case "long", "long long", "unsigned long", "unsigned long long", "u64" -> Kind.I64;
                case "int", "unsigned", "unsigned int" -> Kind.I32;
                case "float" -> Kind.F32;
                default -> throw new CudaException("kernel " + kernel + ": parameter " + m.group(2) + " is a '" + type
                        + "', which no binding kind passes");
            };
            params.add(new Param(kind, m.group(2)));
        }
        return params;
    }

    /**
     * Throws unless {@code binding}, the parameters a launch method writes for {@code kernel}, are those of the kernel
     * in {@code signatures}, by kind and name in order.
     */
    static void check(String kernel, List<Param> binding, Map<String, List<Param>> signatures) {
        List<Param> source = signatures.get(kernel);
        if (source == null) throw new CudaException("kernel " + kernel + " is bound but not in the CUDA sources");
        for (int i = 0; i < Math.max(binding.size(), source.size()); i++) {
            if (i >= source.size()) {
                throw new CudaException("kernel " + kernel + " has " + source.size() + " parameters, but its binding "
                        + binding.size() + ": " + binding.get(i) + " is extra");
            }
            if (i >= binding.size()) {
                throw new CudaException("kernel " + kernel + " has " + source.size() + " parameters, but its binding "
                        + binding.size() + ": " + source.get(i) + " is missing");
            }
            if (!binding.get(i).equals(source.get(i))) {
                throw new CudaException("kernel " + kernel + " parameter " + (i + 1) + " is " + source.get(i)
                        + ", but its binding passes " + binding.get(i));
            }
        }
    }
}
