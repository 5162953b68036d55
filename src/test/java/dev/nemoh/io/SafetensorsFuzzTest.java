package dev.nemoh.io;

import com.code_intelligence.jazzer.junit.FuzzTest;
import dev.nemoh.FuzzOracle;
import dev.nemoh.tensor.Tensor;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Fuzzes the safetensors reader with arbitrary files ({@link #header}) and the sharded-checkpoint reader with arbitrary
 * {@code model.safetensors.index.json} texts over two fixed shards ({@link #checkpointIndex}). Oracle: the file opens,
 * and every tensor it lists is a view inside the file of exactly the bytes its dtype and shape need (its first and
 * last elements readable); or {@link CheckpointException}. Never another exception, a hang, or an allocation that
 * follows a size the header claims (the bound is 256 MiB per input for files of a few KB: generous, because Jazzer's
 * file-path hooks allocate on every path operation).
 *
 * <p>Regression mode (plain {@code mvn test}) replays {@code src/test/resources/dev/nemoh/io/SafetensorsFuzzTestInputs};
 * {@code JAZZER_FUZZ=1} fuzzes (see README, Fuzzing).
 */
class SafetensorsFuzzTest {
    static final FuzzOracle ORACLE = FuzzOracle.of("safetensors", FuzzOracle.types(CheckpointException.class), 256);
    private static Path dir;

    private static synchronized Path dir() throws IOException {
        if (dir == null) {
            dir = Files.createTempDirectory("nemoh-fuzz-safetensors");
            dir.toFile().deleteOnExit();
        }
        return dir;
    }

    static Path write(String name, byte[] bytes) {
        try {
            Path p = dir().resolve(name);
            Files.write(p, bytes);
            p.toFile().deleteOnExit();
            return p;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    static void checkTensors(Iterable<Tensor> tensors) {
        for (Tensor t : tensors) {
            long numel = Math.multiplyExact(Tensor.numel(t.shape()), 1);
            if (t.data().byteSize() != numel * t.dtype().bytes) {
                throw new AssertionError(t.name() + ": " + t.data().byteSize() + " bytes for " + numel + " " + t.dtype());
            }
            if (numel > 0) {
                t.getDouble(0);
                t.getDouble(numel - 1);
            }
        }
    }

    @FuzzTest(maxDuration = "5m")
    void header(byte[] file) {
        Path p = write("model.safetensors", file);
        ORACLE.check(() -> {
            try (SafetensorsFile f = SafetensorsFile.open(p)) {
                checkTensors(f.tensors().values());
                f.metadata().forEach((k, v) -> {
                    if (k == null || v == null) throw new AssertionError("null metadata entry");
                });
            }
        });
    }

    /** Two shards: a.safetensors holds x (F32 [2]) and y (BF16 [1, 2]); b.safetensors holds z (I64 []). */
    static final byte[] SHARD_A = safetensors("{\"x\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
            + "\"y\":{\"dtype\":\"BF16\",\"shape\":[1,2],\"data_offsets\":[8,12]}}", 12);
    static final byte[] SHARD_B = safetensors("{\"z\":{\"dtype\":\"I64\",\"shape\":[],\"data_offsets\":[0,8]},"
            + "\"__metadata__\":{\"format\":\"pt\"}}", 8);

    static byte[] safetensors(String header, int dataBytes) {
        byte[] h = header.getBytes(java.nio.charset.StandardCharsets.UTF_8);
        var buf = java.nio.ByteBuffer.allocate(8 + h.length + dataBytes).order(java.nio.ByteOrder.LITTLE_ENDIAN);
        buf.putLong(h.length).put(h);
        for (int i = 0; i < dataBytes; i++) buf.put((byte) (i * 7));
        return buf.array();
    }

    @FuzzTest(maxDuration = "5m")
    void checkpointIndex(byte[] indexJson) throws IOException {
        Path model = dir().resolve("model");
        Files.createDirectories(model);
        model.toFile().deleteOnExit();
        for (var e : java.util.Map.of("a.safetensors", SHARD_A, "b.safetensors", SHARD_B).entrySet()) {
            Path p = model.resolve(e.getKey());
            if (!Files.exists(p)) {
                Files.write(p, e.getValue());
                p.toFile().deleteOnExit();
            }
        }
        Path index = model.resolve(Checkpoint.INDEX);
        Files.write(index, indexJson);
        index.toFile().deleteOnExit();
        ORACLE.check(() -> {
            try (Checkpoint c = Checkpoint.open(model)) {
                java.util.List<Tensor> all = new java.util.ArrayList<>();
                for (String name : c.names()) all.add(c.get(name));
                checkTensors(all);
            }
        });
    }
}
