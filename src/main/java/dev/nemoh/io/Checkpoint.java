package dev.nemoh.io;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.nemoh.config.TensorSpec;
import dev.nemoh.tensor.Tensor;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.stream.Stream;

/**
 * The weights of a Hugging Face model directory: one {@code model.safetensors}, or shards listed by
 * {@code model.safetensors.index.json}, all memory-mapped; or those of a {@code nemotron_h} GGUF file under their
 * checkpoint names ({@link NemotronHGguf}). Looks tensors up by their checkpoint names.
 */
public final class Checkpoint implements AutoCloseable {
    public static final String INDEX = "model.safetensors.index.json";
    public static final String SINGLE = "model.safetensors";

    private final Path dir;
    private final List<? extends AutoCloseable> files;
    private final Map<String, Tensor> tensors = new LinkedHashMap<>();

    private Checkpoint(Path dir, List<SafetensorsFile> files) {
        this.dir = dir;
        this.files = files;
        for (SafetensorsFile f : files) {
            for (var e : f.tensors().entrySet()) {
                if (tensors.putIfAbsent(e.getKey(), e.getValue()) != null) {
                    close();
                    throw new CheckpointException("tensor " + e.getKey() + " appears in more than one shard of " + dir);
                }
            }
        }
    }

    private Checkpoint(Path file, GgufFile gguf, Map<String, Tensor> tensors) {
        this.dir = file;
        this.files = List.of(gguf);
        this.tensors.putAll(tensors);
    }

    /** The tensors of a nemotron_h GGUF file for a model of config c, under their checkpoint names; takes the file. */
    public static Checkpoint ofGguf(GgufFile gguf, dev.nemoh.config.NemotronHConfig c) {
        try {
            return new Checkpoint(gguf.path(), gguf, NemotronHGguf.checkpointTensors(gguf, c));
        } catch (RuntimeException e) {
            gguf.close();
            throw e;
        }
    }

    public static Checkpoint open(Path dir) {
        if (!Files.isDirectory(dir)) throw new CheckpointException("model directory " + dir + " does not exist");
        Path index = dir.resolve(INDEX);
        if (Files.exists(index)) return new Checkpoint(dir, openShards(dir, index));
        Path single = dir.resolve(SINGLE);
        if (Files.exists(single)) return new Checkpoint(dir, List.of(SafetensorsFile.open(single)));
        List<Path> any;
        try (Stream<Path> s = Files.list(dir)) {
            any = s.filter(p -> p.getFileName().toString().endsWith(".safetensors")).sorted().toList();
        } catch (IOException e) {
            throw new CheckpointException("cannot list " + dir + ": " + e.getMessage(), e);
        }
        if (any.isEmpty()) {
            boolean torch = Files.exists(dir.resolve("pytorch_model.bin")) || Files.exists(dir.resolve("pytorch_model.bin.index.json"));
            throw new CheckpointException("no safetensors weights in " + dir + " (expected " + SINGLE + " or " + INDEX + ")"
                    + (torch ? "; this directory holds PyTorch .bin weights: convert them with save_pretrained(safe_serialization=True)" : ""));
        }
        return new Checkpoint(dir, openAll(any));
    }

    private static List<SafetensorsFile> openShards(Path dir, Path index) {
        JsonNode root;
        try {
            root = new ObjectMapper().readTree(index.toFile());
        } catch (IOException e) {
            throw new CheckpointException(index + " is not valid JSON: " + e.getMessage(), e);
        }
        JsonNode map = root == null ? null : root.get("weight_map");
        if (map == null || !map.isObject()) throw new CheckpointException(index + " has no weight_map object");
        Set<String> shardNames = new TreeSet<>();
        map.fields().forEachRemaining(e -> shardNames.add(e.getValue().asText()));
        List<Path> shards = new ArrayList<>();
        for (String name : shardNames) {
            Path p = dir.resolve(name).normalize();
            if (!p.startsWith(dir.normalize())) throw new CheckpointException(index + " names a shard outside the model directory: " + name);
            if (!Files.exists(p)) throw new CheckpointException("shard " + name + " listed in " + index + " is missing; download it again");
            shards.add(p);
        }
        List<SafetensorsFile> files = openAll(shards);
        Map<String, Tensor> found = new LinkedHashMap<>();
        files.forEach(f -> found.putAll(f.tensors()));
        var it = map.fields();
        while (it.hasNext()) {
            var e = it.next();
            if (!found.containsKey(e.getKey())) {
                files.forEach(SafetensorsFile::close);
                throw new CheckpointException(index + " lists " + e.getKey() + " in " + e.getValue().asText() + ", but that shard lacks it");
            }
        }
        return files;
    }

    private static List<SafetensorsFile> openAll(List<Path> paths) {
        List<SafetensorsFile> files = new ArrayList<>();
        try {
            for (Path p : paths) files.add(SafetensorsFile.open(p));
        } catch (RuntimeException e) {
            files.forEach(SafetensorsFile::close);
            throw e;
        }
        return files;
    }

    public Path dir() {
        return dir;
    }

    public boolean has(String name) {
        return tensors.containsKey(name);
    }

    public Set<String> names() {
        return tensors.keySet();
    }

    public Tensor get(String name) {
        Tensor t = tensors.get(name);
        if (t == null) {
            String near = tensors.keySet().stream()
                    .min(Comparator.comparingInt(k -> distance(k, name)))
                    .map(k -> " (closest name present: " + k + ")").orElse("");
            throw new CheckpointException("tensor " + name + " is missing from " + dir + near
                    + "; the checkpoint does not match its config.json");
        }
        return t;
    }

    /** The tensor, checked against the shape the config implies. */
    public Tensor get(String name, long... shape) {
        Tensor t = get(name);
        if (!Arrays.equals(t.shape(), shape) && !sameWithoutUnitDims(t.shape(), shape)) {
            throw new CheckpointException("tensor " + name + " has shape " + Arrays.toString(t.shape()) + " but config.json implies "
                    + Arrays.toString(shape) + "; the weights and config.json belong to different models");
        }
        return t;
    }

    /** The tensor of {@code spec}, checked against its shape; a missing required one names the setting that needs it. */
    public Tensor get(TensorSpec spec) {
        if (!has(spec.name()) && spec.requiredBy() != null) {
            throw new CheckpointException("tensor " + spec.name() + " is missing from " + dir + " but config.json sets "
                    + spec.requiredBy() + "; the checkpoint does not match its config.json");
        }
        return get(spec.name(), spec.shape());
    }

    /** The tensor of {@code spec}, or null when the checkpoint lacks it and may ({@link TensorSpec#required()} false). */
    public Tensor find(TensorSpec spec) {
        return spec.required() || has(spec.name()) ? get(spec) : null;
    }

    /** {@link #find}'s values as float32, or {@code orElse} when the tensor is absent. */
    public float[] floats(TensorSpec spec, float[] orElse) {
        Tensor t = find(spec);
        return t == null ? orElse : t.toFloatArray();
    }

    /** [n] and [n, 1] hold the same values; checkpoints from different tools differ on such unit dimensions. */
    private static boolean sameWithoutUnitDims(long[] a, long[] b) {
        return Arrays.equals(Arrays.stream(a).filter(d -> d != 1).toArray(), Arrays.stream(b).filter(d -> d != 1).toArray())
                && Tensor.numel(a) == Tensor.numel(b);
    }

    private static int distance(String a, String b) {
        int[] prev = new int[b.length() + 1];
        int[] cur = new int[b.length() + 1];
        for (int j = 0; j <= b.length(); j++) prev[j] = j;
        for (int i = 1; i <= a.length(); i++) {
            cur[0] = i;
            for (int j = 1; j <= b.length(); j++) {
                int cost = a.charAt(i - 1) == b.charAt(j - 1) ? 0 : 1;
                cur[j] = Math.min(Math.min(cur[j - 1] + 1, prev[j] + 1), prev[j - 1] + cost);
            }
            int[] t = prev; prev = cur; cur = t;
        }
        return prev[b.length()];
    }

    @Override
    public void close() {
        for (AutoCloseable f : files) {
            try {
                f.close();
            } catch (Exception e) {
                throw new CheckpointException("cannot close " + dir + ": " + e.getMessage(), e);
            }
        }
    }
}
