package dev.nemoh.train;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.nemoh.io.SafetensorsFile;
import dev.nemoh.io.SafetensorsWriter;
import dev.nemoh.tensor.Tensor;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.Iterator;
import java.util.List;
import java.util.Optional;
import java.util.stream.Stream;

/**
 * A resumable snapshot of training after {@code step} optimizer steps, in {@code checkpoint-<step>/}:
 * {@code trainable.safetensors} (float32 values of the trainable parameters), {@code optimizer.safetensors}
 * (AdamW's {@code exp_avg.<name>} and {@code exp_avg_sq.<name>}, the step count in the metadata),
 * {@code trainer_state.json} (the step and the run's settings and data fingerprint) and {@code loss.csv} so far.
 * Nothing else is needed to go on exactly: the data order and the dropout seeds are functions of the seed and the
 * step. The directory is written under a temporary name and renamed, so a kill never leaves a half checkpoint.
 */
public final class TrainingCheckpoint {
    private static final String PREFIX = "checkpoint-";
    private static final ObjectMapper JSON = new ObjectMapper();

    private TrainingCheckpoint() {}

    /** Writes the checkpoint of {@code step} under {@code outDir} and returns its directory. */
    public static Path save(Path outDir, int step, List<Parameter> params, AdamW optimizer, LossCurve curve,
                            ObjectNode run) {
        Path dir = outDir.resolve(PREFIX + step);
        Path tmp = outDir.resolve("." + PREFIX + step + ".tmp");
        try {
            deleteTree(tmp);
            Files.createDirectories(tmp);
            SafetensorsWriter values = new SafetensorsWriter();
            SafetensorsWriter moments = new SafetensorsWriter().metadata("steps", Long.toString(optimizer.steps()));
            for (int i = 0; i < params.size(); i++) {
                Parameter p = params.get(i);
                long[] shape = Arrays.stream(p.shape).asLongStream().toArray();
                values.add(Tensor.ofFloats(p.name, p.value, shape));
                moments.add(Tensor.ofFloats("exp_avg." + p.name, optimizer.m(i), shape));
                moments.add(Tensor.ofFloats("exp_avg_sq." + p.name, optimizer.v(i), shape));
            }
            values.write(tmp.resolve("trainable.safetensors"));
            moments.write(tmp.resolve("optimizer.safetensors"));
            ObjectNode state = JSON.createObjectNode().put("step", step);
            state.set("run", run);
            JSON.writerWithDefaultPrettyPrinter().writeValue(tmp.resolve("trainer_state.json").toFile(), state);
            curve.write(tmp.resolve("loss.csv"));
            deleteTree(dir);
            Files.move(tmp, dir, StandardCopyOption.ATOMIC_MOVE);
        } catch (IOException e) {
            throw new IllegalArgumentException("cannot write checkpoint " + dir + ": " + e.getMessage());
        }
        return dir;
    }

    /** The checkpoint with the highest step under {@code outDir}, if there is one. */
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
    public static Resumed load(Path dir, List<Parameter> params, AdamW optimizer, ObjectNode run) {
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
        List<String> changed = differences(state.path("run"), run);
        if (!changed.isEmpty()) {
            throw new IllegalArgumentException("cannot resume from " + dir + ": the run differs in "
                    + String.join(", ", changed) + "; resume with the same data and settings, or train into a new --out");
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

    private static List<String> differences(JsonNode saved, JsonNode now) {
        List<String> out = new ArrayList<>();
        for (Iterator<String> it = now.fieldNames(); it.hasNext(); ) {
            String key = it.next();
            // as text: JSON read back holds 42 as an int where the run built a long
            if (!now.get(key).toString().equals(String.valueOf(saved.get(key)))) {
                out.add(key + " (" + saved.get(key) + " then, " + now.get(key) + " now)");
            }
        }
        return out;
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
