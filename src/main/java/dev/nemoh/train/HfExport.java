package dev.nemoh.train;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.nemoh.io.Checkpoint;
import dev.nemoh.io.CheckpointException;
import dev.nemoh.io.SafetensorsWriter;
import dev.nemoh.tensor.DType;
import dev.nemoh.tensor.Tensor;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.Map;
import java.util.TreeSet;
import java.util.function.Supplier;
import java.util.stream.Stream;

/**
 * Writes a Hugging Face checkpoint directory: the base model's tensors, with the trained ones replaced, in one
 * {@code model.safetensors}, plus every non-weight file of the base directory (config.json, tokenizer, chat
 * template, generation config) copied. Tensors keep their stored dtype, or all floating ones become float32 (and
 * config.json says so), which keeps trained values exact.
 */
final class HfExport {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final ValueLayout.OfShort SHORT = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    private HfExport() {}

    /**
     * {@code replaced} gives the new values of trained tensors by name; each is asked for only while its tensor is
     * written, so a merged or widened model is never held in memory whole.
     */
    static void write(Path baseDir, Path outDir, Map<String, Supplier<float[]>> replaced, boolean float32) {
        if (Files.exists(outDir) && sameDir(baseDir, outDir)) {
            throw new IllegalArgumentException("export directory " + outDir
                    + " is the base model's own directory; choose a new one so the base stays intact");
        }
        try (Checkpoint ckpt = Checkpoint.open(baseDir)) {
            SafetensorsWriter writer = new SafetensorsWriter().metadata("format", "pt");
            for (String name : new TreeSet<>(ckpt.names())) {
                Tensor t = ckpt.get(name);
                boolean widen = float32 && t.dtype().isFloat();
                if (widen && (t.dtype() == DType.F8_E4M3 || t.dtype() == DType.F8_E5M2)) {
                    throw new IllegalArgumentException(name + " is " + t.dtype() + " with a separate scale; a float32"
                            + " export of an FP8 checkpoint is not supported: export in the stored dtypes");
                }
                Supplier<float[]> values = replaced.containsKey(name) ? replaced.get(name) : widen ? t::toFloatArray : null;
                DType dtype = widen ? DType.F32 : t.dtype();
                if (values == null) writer.add(t);
                else writer.add(name, dtype, t.shape(), dst -> encode(name, dtype, values.get(), dst));
            }
            Files.createDirectories(outDir);
            copyOtherFiles(baseDir, outDir);
            if (float32) markFloat32(outDir.resolve("config.json"));
            writer.write(outDir.resolve(Checkpoint.SINGLE));
        } catch (IOException e) {
            throw new CheckpointException("cannot write " + outDir + ": " + e.getMessage(), e);
        }
    }

    private static boolean sameDir(Path a, Path b) {
        try {
            return Files.isSameFile(a, b);
        } catch (IOException e) {
            return false;
        }
    }

    private static void encode(String name, DType dtype, float[] values, MemorySegment dst) {
        switch (dtype) {
            case F32 -> MemorySegment.copy(Tensor.ofFloats(name, values, values.length).data(), 0, dst, 0, dst.byteSize());
            case BF16 -> MemorySegment.copy(Tensor.ofBf16(name, values, values.length).data(), 0, dst, 0, dst.byteSize());
            case F16 -> {
                for (int i = 0; i < values.length; i++) dst.set(SHORT, 2L * i, Float.floatToFloat16(values[i]));
            }
            default -> throw new IllegalArgumentException(name + " is stored as " + dtype
                    + "; trained weights can be written as F32, BF16 or F16 only: export from a bf16 checkpoint");
        }
    }

    /** transformers loads with {@code dtype="auto"} in the config's dtype: it must not round float32 weights back. */
    private static void markFloat32(Path config) throws IOException {
        ObjectNode json = (ObjectNode) JSON.readTree(config.toFile());
        for (String key : new String[] {"dtype", "torch_dtype"}) if (json.has(key)) json.put(key, "float32");
        Files.writeString(config, json.toPrettyString());
    }

    private static void copyOtherFiles(Path baseDir, Path outDir) throws IOException {
        try (Stream<Path> files = Files.list(baseDir)) {
            for (Path f : (Iterable<Path>) files::iterator) {
                String n = f.getFileName().toString();
                if (!Files.isRegularFile(f) || n.endsWith(".safetensors") || n.equals(Checkpoint.INDEX)) continue;
                Files.copy(f, outDir.resolve(n), StandardCopyOption.REPLACE_EXISTING);
            }
        }
    }
}
