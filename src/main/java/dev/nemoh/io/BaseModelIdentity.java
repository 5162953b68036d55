package dev.nemoh.io;


import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.List;
import java.util.stream.Stream;

/**
 * Which base model a training run or an adapter stands on, cheaply: a SHA-256 over config.json, the shard index if there is one,
 * and per {@code *.safetensors} file its name, size, whole header (tensor names, dtypes, shapes, data offsets) and
 * {@value #SAMPLES} blocks of {@value #BLOCK} bytes spread evenly over it (the whole file when it is that small), so
 * a checkpoint of another layout and one of the same layout with other values (another fine-tune of the same
 * base) both differ, without reading gigabytes. Where the model lies plays no part: a moved or copied model is the
 * same model. A change confined to bytes between the sampled blocks of a file over {@value #SAMPLES} × {@value #BLOCK}
 * bytes goes unseen.
 */
public final class BaseModelIdentity {
    static final int SAMPLES = 64;
    static final int BLOCK = 4096;

    private BaseModelIdentity() {}

    /** The identity of the model in {@code dir}: 16 hex digits. */
    public static String of(Path dir) {
        MessageDigest sha = sha256();
        try {
            digestFile(sha, dir.resolve("config.json"));
            Path index = dir.resolve("model.safetensors.index.json");
            if (Files.exists(index)) digestFile(sha, index);
            List<Path> files;
            try (Stream<Path> s = Files.list(dir)) {
                files = s.filter(p -> p.getFileName().toString().endsWith(".safetensors")).sorted().toList();
            }
            for (Path f : files) digestSafetensors(sha, f);
        } catch (IOException e) {
            throw new CheckpointException("cannot read the base model in " + dir + " to identify it: " + e.getMessage(), e);
        }
        return HexFormat.of().formatHex(sha.digest(), 0, 8);
    }

    private static void digestFile(MessageDigest sha, Path file) throws IOException {
        sha.update((file.getFileName() + "\n").getBytes(StandardCharsets.UTF_8));
        sha.update(Files.readAllBytes(file));
    }

    private static void digestSafetensors(MessageDigest sha, Path file) throws IOException {
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            long size = ch.size();
            sha.update((file.getFileName() + "\n" + size + "\n").getBytes(StandardCharsets.UTF_8));
            ByteBuffer len = read(ch, 0, 8);
            long header = size >= 8 ? len.order(ByteOrder.LITTLE_ENDIAN).getLong(0) : 0;
            if (header < 0 || header > size - 8) {
                throw new CheckpointException(file + " is not a safetensors file (header length " + header + ")");
            }
            sha.update(read(ch, 0, (int) Math.min(8 + header, Integer.MAX_VALUE)));
            long data = 8 + header, length = size - data;
            if (length <= (long) SAMPLES * BLOCK) {
                for (long at = data; at < size; at += BLOCK) sha.update(read(ch, at, (int) Math.min(BLOCK, size - at)));
            } else {
                for (int i = 0; i < SAMPLES; i++) sha.update(read(ch, data + (length - BLOCK) * i / (SAMPLES - 1), BLOCK));
            }
        }
    }

    private static ByteBuffer read(FileChannel ch, long at, int n) throws IOException {
        ByteBuffer b = ByteBuffer.allocate((int) Math.max(0, Math.min(n, ch.size() - at)));
        while (b.hasRemaining()) {
            if (ch.read(b, at + b.position()) < 0) break;
        }
        return b.flip();
    }

    private static MessageDigest sha256() {
        try {
            return MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }
}
