package dev.nemoh.train;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.List;

/**
 * One row per optimizer step: the training loss (mean over the step's targets), the held-out loss where it was
 * measured, the learning rate, the gradient norm before clipping, tokens through the model and their rate. Written
 * as CSV with numbers in Java's shortest round-trip form, so two runs' curves compare exactly, and read back when
 * training resumes.
 */
public final class LossCurve {
    public static final String HEADER = "step,train_loss,eval_loss,lr,grad_norm,tokens,tok_per_s";

    /** {@code evalLoss} is NaN on steps without evaluation. */
    public record Row(int step, double trainLoss, double evalLoss, double lr, double gradNorm, long tokens,
                      double tokPerSec) {
        String csv() {
            return step + "," + trainLoss + "," + (Double.isNaN(evalLoss) ? "" : Double.toString(evalLoss)) + ","
                    + lr + "," + gradNorm + "," + tokens + "," + String.format(java.util.Locale.ROOT, "%.1f", tokPerSec);
        }
    }

    private final List<Row> rows = new ArrayList<>();

    public void add(Row row) {
        rows.add(row);
    }

    public List<Row> rows() {
        return List.copyOf(rows);
    }

    public void write(Path csv) {
        StringBuilder sb = new StringBuilder(HEADER).append('\n');
        for (Row r : rows) sb.append(r.csv()).append('\n');
        Path tmp = csv.resolveSibling(csv.getFileName() + ".tmp");
        try {
            Files.writeString(tmp, sb, StandardCharsets.UTF_8);
            Files.move(tmp, csv, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
        } catch (IOException e) {
            throw new IllegalArgumentException("cannot write " + csv + ": " + e.getMessage());
        }
    }

    public static LossCurve read(Path csv) {
        LossCurve curve = new LossCurve();
        List<String> lines;
        try {
            lines = Files.readAllLines(csv, StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new IllegalArgumentException("cannot read the loss curve " + csv + ": " + e.getMessage());
        }
        if (lines.isEmpty() || !lines.getFirst().equals(HEADER)) {
            throw new IllegalArgumentException(csv + " is not a nemoh loss curve (expected the header " + HEADER + ")");
        }
        for (int i = 1; i < lines.size(); i++) {
            String[] f = lines.get(i).split(",", -1);
            try {
                curve.add(new Row(Integer.parseInt(f[0]), Double.parseDouble(f[1]),
                        f[2].isEmpty() ? Double.NaN : Double.parseDouble(f[2]), Double.parseDouble(f[3]),
                        Double.parseDouble(f[4]), Long.parseLong(f[5]), Double.parseDouble(f[6])));
            } catch (RuntimeException e) {
                throw new IllegalArgumentException(csv + ":" + (i + 1) + ": not a loss curve row: " + lines.get(i));
            }
        }
        return curve;
    }
}
