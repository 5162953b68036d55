package dev.nemoh.io;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;

class BaseModelIdentityTest {
    /** A safetensors file of one float32 tensor of {@code n} zeros, header padded as the format allows. */
    private static void write(Path file, int n, String dtype) throws IOException {
        String header = "{\"w\":{\"dtype\":\"" + dtype + "\",\"shape\":[" + n + "],\"data_offsets\":[0," + 4 * n + "]}}";
        byte[] h = header.getBytes(StandardCharsets.UTF_8);
        ByteBuffer b = ByteBuffer.allocate(8 + h.length + 4 * n).order(ByteOrder.LITTLE_ENDIAN);
        b.putLong(h.length).put(h);
        Files.write(file, b.array());
    }

    private static Path model(Path dir, int n, String dtype) throws IOException {
        Files.createDirectories(dir);
        Files.writeString(dir.resolve("config.json"), "{\"hidden_size\": 4}");
        write(dir.resolve("model.safetensors"), n, dtype);
        return dir;
    }

    @Test
    void aCopyElsewhereIsTheSameModel(@TempDir Path tmp) throws IOException {
        assertEquals(BaseModelIdentity.of(model(tmp.resolve("a"), 1000, "F32")),
                BaseModelIdentity.of(model(tmp.resolve("elsewhere/b"), 1000, "F32")));
    }

    @Test
    void configHeaderSizeAndValuesEachMakeAnotherModel(@TempDir Path tmp) throws IOException {
        String base = BaseModelIdentity.of(model(tmp.resolve("a"), 1000, "F32"));
        assertNotEquals(base, BaseModelIdentity.of(model(tmp.resolve("dtype"), 1000, "I32")));
        assertNotEquals(base, BaseModelIdentity.of(model(tmp.resolve("size"), 1001, "F32")));
        Path config = model(tmp.resolve("config"), 1000, "F32");
        Files.writeString(config.resolve("config.json"), "{\"hidden_size\": 8}");
        assertNotEquals(base, BaseModelIdentity.of(config));
        Path value = model(tmp.resolve("value"), 1000, "F32");
        byte[] bytes = Files.readAllBytes(value.resolve("model.safetensors"));
        bytes[bytes.length - 1000] = 1; // a small file is read whole
        Files.write(value.resolve("model.safetensors"), bytes);
        assertNotEquals(base, BaseModelIdentity.of(value));
    }

    @Test
    void aLargeFileIsSampledFromStartToEnd(@TempDir Path tmp) throws IOException {
        int n = 1 << 20; // 4 MiB of data: 64 blocks of 4 KiB sampled, the first at the start, the last at the end
        String base = BaseModelIdentity.of(model(tmp.resolve("a"), n, "F32"));
        for (int at : new int[] {0, 4 * n - 1}) {
            Path changed = model(tmp.resolve("changed" + at), n, "F32");
            byte[] bytes = Files.readAllBytes(changed.resolve("model.safetensors"));
            bytes[bytes.length - 4 * n + at] = 7;
            Files.write(changed.resolve("model.safetensors"), bytes);
            assertNotEquals(base, BaseModelIdentity.of(changed), "byte " + at);
        }
    }
}
