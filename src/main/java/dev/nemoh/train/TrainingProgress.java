package dev.nemoh.train;

import java.io.PrintStream;
import java.util.Locale;

/**
 * The progress line of a training run on stderr: step, a bar, loss, learning rate, tok/s and the time left. On a
 * terminal it is redrawn in place every step; elsewhere (logs, CI) a line is printed every 5% of the run so the log
 * stays short. Held-out losses get a line of their own.
 */
final class TrainingProgress {
    private static final int BAR = 24;

    private final PrintStream out;
    private final boolean terminal;
    private final int firstStep;
    private final int totalSteps;
    private final long startNanos = System.nanoTime();

    TrainingProgress(PrintStream out, boolean terminal, int firstStep, int totalSteps) {
        this.out = out;
        this.terminal = terminal;
        this.firstStep = firstStep;
        this.totalSteps = totalSteps;
    }

    void step(LossCurve.Row row) {
        boolean last = row.step() == totalSteps;
        if (!terminal && !last && row.step() % Math.max(1, totalSteps / 20) != 0) return;
        int filled = (int) ((long) row.step() * BAR / totalSteps);
        double perStep = (System.nanoTime() - startNanos) / 1e9 / Math.max(1, row.step() - firstStep);
        String line = String.format(Locale.ROOT, "step %d/%d [%s%s] loss %.4f lr %.2e %,.0f tok/s ETA %s",
                row.step(), totalSteps, "#".repeat(filled), ".".repeat(BAR - filled), row.trainLoss(), row.lr(),
                row.tokPerSec(), clock(perStep * (totalSteps - row.step())));
        if (terminal) {
            out.print("\r" + line + (last ? "\n" : ""));
        } else {
            out.println(line);
        }
        out.flush();
    }

    void note(String message) {
        out.println((terminal ? "\r\033[K" : "") + message);
        out.flush();
    }

    private static String clock(double seconds) {
        long s = Math.round(seconds);
        return s >= 3600 ? String.format(Locale.ROOT, "%d:%02d:%02d", s / 3600, s / 60 % 60, s % 60)
                : String.format(Locale.ROOT, "%d:%02d", s / 60, s % 60);
    }
}
