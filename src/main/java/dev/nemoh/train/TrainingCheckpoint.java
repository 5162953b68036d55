package dev.nemoh.train;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.nemoh.io.SafetensorsFile;
import dev.nemoh.io.SafetensorsWriter;
import dev.nemoh.tensor.Tensor;

import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.stream.Stream;

/**
 * A resumable snapshot of training after {@code step} optimizer steps, in {@code checkpoint-<step>/}:
 * {@code trainable.safetensors} (float32 values of the trainable parameters), {@code optimizer.safetensors}
 * (AdamW's {@code exp_avg.<name>} and {@code exp_avg_sq.<name>}, the step count in the metadata),
 * {@code trainer_state.json} (the step, and the run's settings, base model identity and data fingerprint: see
 * {@link Trainer#fingerprint()}) and {@code loss.csv} so far. Nothing else is needed to go on exactly: the data order
 * and the dropout seeds are functions of the seed and the step.
 *
 * <p>Crash safety: the directory is written under a temporary name ({@code .checkpoint-N.tmp}), every file and the
 * directory are forced to the disk, and only then is it renamed to {@code checkpoint-N} in one atomic step and the
 * parent directory forced; so a kill or a power cut at any moment leaves either the complete checkpoint or none of
 * it under that name, and {@link #latest} never sees a half-written one. A checkpoint already there under the same
 * name (a run resumed from an earlier one) is first renamed aside, so the old one is gone only once the new one is in
 * place.
 */
public final class TrainingCheckpoint {
    private static final String PREFIX = "checkpoint-";
    private static final ObjectMapper JSON = new ObjectMapper();
    /**
     * Version of what {@code trainer_state.json}'s {@code run} records. 2: every setting that changes the run and the
     * base model's identity; checkpoints without it (version 1) recorded too little to be resumed safely.
     */
    static final int FINGERPRINT_VERSION = 2;
    private static final String PATH_SUFFIX = "_path";

    private TrainingCheckpoint() {}

    /** Writes the checkpoint of {@code step} under {@code outDir} and returns its directory. */
    public static Path save(Path outDir, int step, List<Parameter> params, Optimizer optimizer, LossCurve curve,
                            Map<String, Object> run) {
        Path dir = outDir.resolve(PREFIX + step);
        Path tmp = outDir.resolve("." + PREFIX + step + ".tmp");
        Path old = outDir.resolve("." + PREFIX + step + ".old");
        try {
            deleteTree(tmp);
            Files.createDirectories(tmp);
            SafetensorsWriter values = new SafetensorsWriter();
            SafetensorsWriter moments = new SafetensorsWriter().metadata("steps", Long.toString(optimizer.steps()));
            for (int i = 0; i < params.size(); i++) {
                Parameter p = params.get(i);
                long[] shape = p.longShape();
                values.add(Tensor.ofFloats(p.name, p.value, shape));
                moments.add(Tensor.ofFloats("exp_avg." + p.name, optimizer.m(i), shape));
                moments.add(Tensor.ofFloats("exp_avg_sq." + p.name, optimizer.v(i), shape));
            }
            values.write(tmp.resolve("trainable.safetensors"));
            moments.write(tmp.resolve("optimizer.safetensors"));
            ObjectNode state = JSON.createObjectNode().put("step", step).put("fingerprint_version", FINGERPRINT_VERSION);
            state.set("run", JSON.valueToTree(run));
            JSON.writerWithDefaultPrettyPrinter().writeValue(tmp.resolve("trainer_state.json").toFile(), state);
            curve.write(tmp.resolve("loss.csv"));
            try (Stream<Path> files = Files.list(tmp)) {
                for (Path f : files.toList()) force(f);
            }
            force(tmp);
            deleteTree(old);
            if (Files.exists(dir)) Files.move(dir, old, StandardCopyOption.ATOMIC_MOVE);
            Files.move(tmp, dir, StandardCopyOption.ATOMIC_MOVE);
            force(outDir);
            deleteTree(old);
        } catch (IOException e) {
            throw new IllegalArgumentException("cannot write checkpoint " + dir + ": " + e.getMessage());
        }
        return dir;
    }

    /**
     * Flushes a file's or a directory's content and metadata to the disk. A directory is best effort: POSIX systems
     * open one for reading and sync its entries, Windows cannot open it at all (and needs no such sync).
     */
    private static void force(Path path) throws IOException {
        try (FileChannel ch = FileChannel.open(path, StandardOpenOption.READ)) {
            ch.force(true);
        } catch (IOException e) {
            if (!Files.isDirectory(path)) throw e;
        }
    }

    /**
     * The checkpoint with the highest step under {@code outDir}, if there is one: only {@code checkpoint-N}
     * directories count, never the temporary {@code .checkpoint-N.tmp} of a save that was cut short.
     */
    public static Optional<Path> latest(Path outDir) {
        if (!Files.isDirectory(outDir)) return Optional.empty();
        try (Stream<Path> s = Files.list(outDir)) {
            return s.filter(p -> p.getFileName().toString().matches(PREFIX + "\\d+"))
                    .filter(p -> Files.exists(p.resolve("trainer_state.json")))
                    .max(Comparator.comparingInt(TrainingCheckpoint::stepOf));
        } catch (IOException e) {
            throw new IllegalArgumentException("cannot list " + outDir + ": " + e.getMessage());
        }
    }

    /** What a resumed run goes on from. */
    public record Resumed(int step, LossCurve curve) {}

    /**
     * Loads {@code dir} into {@code params} and {@code optimizer}, after checking it was made by a run with the same
     * settings and data as {@code run} (a different run would not continue the same curve).
     */
    public static Resumed load(Path dir, List<Parameter> params, Optimizer optimizer, Map<String, Object> run) {
        Path statePath = dir.resolve("trainer_state.json");
        if (!Files.exists(statePath)) {
            throw new IllegalArgumentException(dir + " is not a training checkpoint (no trainer_state.json): pass a"
                    + " checkpoint-<step> directory to --resume");
        }
        JsonNode state;
        try {
            state = JSON.readTree(statePath.toFile());
        } catch (IOException e) {
            throw new IllegalArgumentException(statePath + " is not valid JSON: " + e.getMessage());
        }
        if (state.path("fingerprint_version").asInt(1) < FINGERPRINT_VERSION) {
            throw new IllegalArgumentException("cannot resume from " + dir + ": it was written by an older nemoh that"
                    + " did not record the base model and every setting, so a changed run cannot be ruled out; start"
                    + " a new --out (or finish this run with the nemoh that started it)");
        }
        List<String> changed = differences(state.path("run"), JSON.valueToTree(run));
        if (!changed.isEmpty()) {
            throw new IllegalArgumentException("cannot resume from " + dir + ": the run differs in "
                    + String.join(", ", changed) + "; start a new --out, or restore "
                    + (changed.size() == 1 ? "that setting" : "those settings") + " to resume");
        }
        try (SafetensorsFile values = SafetensorsFile.open(dir.resolve("trainable.safetensors"));
             SafetensorsFile moments = SafetensorsFile.open(dir.resolve("optimizer.safetensors"))) {
            List<float[]> m = new ArrayList<>(), v = new ArrayList<>();
            for (Parameter p : params) {
                System.arraycopy(read(values, p.name, p), 0, p.value, 0, p.numel());
                m.add(read(moments, "exp_avg." + p.name, p));
                v.add(read(moments, "exp_avg_sq." + p.name, p));
            }
            optimizer.restore(Long.parseLong(moments.metadata().getOrDefault("steps", "0")), m, v);
        }
        return new Resumed(state.path("step").asInt(), LossCurve.read(dir.resolve("loss.csv")));
    }

    private static float[] read(SafetensorsFile file, String name, Parameter p) {
        if (!file.tensors().containsKey(name)) {
            throw new IllegalArgumentException(file.path() + " has no " + name + ": the checkpoint was made for"
                    + " another model or adapter");
        }
        Tensor t = file.get(name);
        if (t.numel() != p.numel()) {
            throw new IllegalArgumentException(file.path() + ": " + name + " has shape " + t.shapeString() + ", the"
                    + " model's parameter " + Arrays.toString(p.shape));
        }
        return t.toFloatArray();
    }

    /**
     * Each setting of {@code now} or {@code saved} whose values differ, as "key (old then, new now)"; a {@code _path}
     * key is not compared but shown beside its namesake ("base_model (3f2a… at /models/a then, 9c1d… at /b now)").
     */
    static List<String> differences(JsonNode saved, JsonNode now) {
        Set<String> keys = new LinkedHashSet<>();
        now.fieldNames().forEachRemaining(keys::add);
        saved.fieldNames().forEachRemaining(keys::add);
        List<String> out = new ArrayList<>();
        for (String key : keys) {
            if (key.endsWith(PATH_SUFFIX)) continue;
            // as text: JSON read back holds 42 as an int where the run built a long
            if (!String.valueOf(now.get(key)).equals(String.valueOf(saved.get(key)))) {
                out.add(key + " (" + show(saved, key) + " then, " + show(now, key) + " now)");
            }
        }
        return out;
    }

    private static String show(JsonNode run, String key) {
        JsonNode v = run.get(key);
        if (v == null || v.isNull()) return "unset";
        JsonNode path = run.get(key + PATH_SUFFIX);
        return (v.isTextual() ? v.asText() : v.toString()) + (path == null ? "" : " at " + path.asText());
    }

    private static int stepOf(Path dir) {
        return Integer.parseInt(dir.getFileName().toString().substring(PREFIX.length()));
    }

    private static void deleteTree(Path dir) throws IOException {
        if (!Files.exists(dir)) return;
        try (Stream<Path> s = Files.walk(dir)) {
            for (Path p : s.sorted(Comparator.reverseOrder()).toList()) Files.delete(p);
        }
    }
}
