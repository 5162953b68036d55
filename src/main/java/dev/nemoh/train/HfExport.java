package dev.nemoh.train;

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
import java.util.stream.Stream;

/**
 * Writes a Hugging Face checkpoint directory: the base model's tensors, with the trained ones replaced, in one
 * {@code model.safetensors} in each tensor's stored dtype, plus every non-weight file of the base directory
 * (config.json, tokenizer, chat template, generation config) copied unchanged.
 */
final class HfExport {
    private static final ValueLayout.OfShort SHORT = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    private HfExport() {}

    static void write(Path baseDir, Path outDir, Map<String, float[]> replaced) {
        if (Files.exists(outDir) && sameDir(baseDir, outDir)) {
            throw new IllegalArgumentException("export directory " + outDir
                    + " is the base model's own directory; choose a new one so the base stays intact");
        }
        try (Checkpoint ckpt = Checkpoint.open(baseDir)) {
            SafetensorsWriter writer = new SafetensorsWriter().metadata("format", "pt");
            for (String name : new TreeSet<>(ckpt.names())) {
                Tensor t = ckpt.get(name);
                float[] values = replaced.get(name);
                if (values == null) writer.add(t);
                else writer.add(name, t.dtype(), t.shape(), dst -> encode(name, t.dtype(), values, dst));
            }
            Files.createDirectories(outDir);
            copyOtherFiles(baseDir, outDir);
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
