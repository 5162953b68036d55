package dev.nemoh.cuda;

import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * GPU time per kernel, for {@code nemoh bench --profile}: while attached, every launch of our kernels and every
 * cuBLAS product is bracketed by a pair of device events, and {@link #report} sums the times by label (kernel,
 * grid and integer arguments, so each matrix shape gets its own line). The events serialise nothing, but each adds
 * a little launch overhead: use it to see where GPU time goes, and time throughput without it.
 */
public final class Profiler {
    private record Span(String label, double flops) {}

    /** One label's sum. */
    public record Line(String label, int calls, double millis, double flops) {}

    private final Cuda cuda;
    private final List<MemorySegment> events = new ArrayList<>();
    private final List<Span> spans = new ArrayList<>();

    public Profiler(Cuda cuda) {
        this.cuda = cuda;
    }

    void begin() {
        cuda.record(event(2 * spans.size()));
    }

    /** Closes the span {@link #begin} opened; {@code flops} 0 when the work is not counted in operations. */
    void end(String label, double flops) {
        cuda.record(event(2 * spans.size() + 1));
        spans.add(new Span(label, flops));
    }

    private MemorySegment event(int i) {
        while (events.size() <= i) events.add(cuda.event());
        return events.get(i);
    }

    /** Waits for the recorded work and returns the time per label, largest first; starts a new recording. */
    public List<Line> report() {
        Map<String, Line> sums = new LinkedHashMap<>();
        for (int i = 0; i < spans.size(); i++) {
            Span s = spans.get(i);
            double ms = cuda.elapsedMillis(events.get(2 * i), events.get(2 * i + 1));
            Line old = sums.getOrDefault(s.label, new Line(s.label, 0, 0, 0));
            sums.put(s.label, new Line(s.label, old.calls + 1, old.millis + ms, old.flops + s.flops));
        }
        spans.clear();
        List<Line> lines = new ArrayList<>(sums.values());
        lines.sort((a, b) -> Double.compare(b.millis, a.millis));
        return lines;
    }

    /** The lines summed by kernel name (the label before its grid and arguments), largest first. */
    public static List<Line> byKernel(List<Line> lines) {
        Map<String, Line> sums = new LinkedHashMap<>();
        for (Line l : lines) {
            int cut = l.label.indexOf(" (");
            String name = l.label.startsWith("cublasGemmEx") ? l.label.replaceAll(" \\d+×\\d+×\\d+$", "")
                    : cut < 0 ? l.label : l.label.substring(0, cut);
            Line old = sums.getOrDefault(name, new Line(name, 0, 0, 0));
            sums.put(name, new Line(name, old.calls + l.calls, old.millis + l.millis, old.flops + l.flops));
        }
        List<Line> out = new ArrayList<>(sums.values());
        out.sort((a, b) -> Double.compare(b.millis, a.millis));
        return out;
    }

    /** A markdown table of {@code lines} with their share of the total. */
    public static String table(List<Line> lines) {
        double total = lines.stream().mapToDouble(Line::millis).sum();
        StringBuilder b = new StringBuilder("| kernel (grid; int args) | calls | total ms | share | mean µs | TFLOP/s |\n");
        b.append("| --- | --- | --- | --- | --- | --- |\n");
        for (Line l : lines) {
            b.append(String.format(Locale.ROOT, "| %s | %d | %.3f | %.1f%% | %.1f | %s |%n", l.label, l.calls, l.millis,
                    100 * l.millis / total, 1e3 * l.millis / l.calls,
                    l.flops > 0 ? String.format(Locale.ROOT, "%.1f", l.flops / (l.millis * 1e9)) : ""));
        }
        b.append(String.format(Locale.ROOT, "| all kernels | %d | %.3f | | | |%n",
                lines.stream().mapToInt(Line::calls).sum(), total));
        return b.toString();
    }
}
