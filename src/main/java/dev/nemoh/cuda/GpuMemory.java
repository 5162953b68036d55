package dev.nemoh.cuda;

import java.util.EnumMap;
import java.util.HashMap;
import java.util.Locale;
import java.util.Map;

/**
 * The GPU memory budget ({@code --gpu-memory}): every device allocation of the process goes through it
 * ({@link Cuda#alloc}), counted by part, so that what does not fit is refused in one line naming the part, its size
 * and the shortfall, before the driver is asked. What the driver reports in use beyond our own allocations (the CUDA
 * context, loaded kernels, cuBLAS's handle, other processes on the GPU) counts against the limit too, so the limit
 * bounds the memory nvidia-smi shows. Without a limit it only counts (peaks by part for {@code bench}).
 */
public final class GpuMemory {
    /** What an allocation holds. */
    public enum Part {
        WEIGHTS("the weights", "use a smaller model"),
        CACHE("the KV cache and Mamba states", "use a shorter context"),
        PREFIX_CACHE("the prefix cache's state snapshots", "lower --prefix-cache-mib"),
        WORKSPACE("the workspace of activations and scratch buffers", "lower --prefill-chunk or the batch"),
        TRAINING("the trainable parameters, gradients and optimizer state", "train fewer parameters (LoRA)");

        final String label;
        /** What else than a larger budget makes it fit. */
        final String advice;

        Part(String label, String advice) {
            this.label = label;
            this.advice = advice;
        }
    }

    private record Allocation(Part part, long bytes) {}

    private final Cuda cuda;
    private final Map<Long, Allocation> live = new HashMap<>();
    private final EnumMap<Part, Long> used = new EnumMap<>(Part.class), peak = new EnumMap<>(Part.class);
    private long ours, peakOurs;
    /** The most device memory in use the driver reported, sampled after each of our allocations. */
    private long peakDevice;
    /** Bytes the process may hold on the device, everything included; {@link Long#MAX_VALUE} without a limit. */
    private long limit = Long.MAX_VALUE;
    /** How the limit was given, for messages ("--gpu-memory 22"). */
    private String limitLabel;

    GpuMemory(Cuda cuda) {
        this.cuda = cuda;
        for (Part p : Part.values()) {
            used.put(p, 0L);
            peak.put(p, 0L);
        }
    }

    /**
     * Bytes a {@code --gpu-memory} value stands for on a GPU of {@code deviceBytes}: a number of GiB from 1 on, a
     * fraction of the GPU below 1. Throws naming the value and what it must be.
     */
    public static long parse(String value, long deviceBytes) {
        double v;
        try {
            v = Double.parseDouble(value.strip());
        } catch (NumberFormatException e) {
            v = Double.NaN;
        }
        if (!(v > 0) || Double.isInfinite(v)) {
            throw new IllegalArgumentException("--gpu-memory must be a number of GiB (e.g. 22) or a fraction of the GPU"
                    + " below 1 (e.g. 0.9), not \"" + value + "\"");
        }
        return v < 1 ? (long) (v * deviceBytes) : (long) (v * (1L << 30));
    }

    /** Sets the limit (bytes, everything the process holds on the GPU included); {@code label} names it in refusals. */
    public synchronized void limit(long bytes, String label) {
        if (bytes <= 0) throw new IllegalArgumentException(label + " must be positive");
        this.limit = bytes;
        this.limitLabel = label;
    }

    /** Lifts the limit (the counting goes on). */
    public synchronized void unlimited() {
        limit = Long.MAX_VALUE;
        limitLabel = null;
    }

    /** The limit in bytes, or {@link Long#MAX_VALUE} without one. */
    public synchronized long limit() {
        return limit;
    }

    /**
     * Refuses up front, in one line, when {@code bytes} more of {@code part} would not fit beside what is held now;
     * {@code what} names them ("the weights"). Nothing is allocated.
     */
    public void require(Part part, long bytes, String what) {
        require(bytes, what, part.advice);
    }

    /** As {@link #require(Part, long, String)}, with {@code advice} on what else than a larger budget makes it fit. */
    public synchronized void require(long bytes, String what, String advice) {
        if (limit == Long.MAX_VALUE) return;
        long outside = outside();
        long over = ours + outside + bytes - limit;
        if (over <= 0) return;
        StringBuilder held = new StringBuilder();
        for (Part p : Part.values()) {
            if (used.get(p) > 0) held.append(", ").append(p.name().toLowerCase(Locale.ROOT)).append(' ').append(Cuda.size(used.get(p)));
        }
        throw CudaException.outOfMemory(limitLabel + " (" + Cuda.size(limit) + ") cannot hold " + what + " ("
                + Cuda.size(bytes) + "): " + Cuda.size(over) + " over, beside the CUDA context " + Cuda.size(outside)
                + held, "raise --gpu-memory (the GPU has " + Cuda.size(cuda.totalMemory) + ") or " + advice);
    }

    /** Device memory in use that is not ours: the driver's total in use less our allocations. */
    private long outside() {
        long[] info = cuda.memoryInfo();
        return Math.max(0, info[1] - info[0] - ours);
    }

    /** Counts an allocation the driver made; {@link #require} was asked before it. */
    synchronized void allocated(long ptr, Part part, long bytes) {
        live.put(ptr, new Allocation(part, bytes));
        used.merge(part, bytes, Long::sum);
        peak.put(part, Math.max(peak.get(part), used.get(part)));
        ours += bytes;
        peakOurs = Math.max(peakOurs, ours);
        long[] info = cuda.memoryInfo();
        peakDevice = Math.max(peakDevice, info[1] - info[0]);
    }

    /** Uncounts the allocation at {@code ptr} (freed). */
    synchronized void freed(long ptr) {
        Allocation a = live.remove(ptr);
        if (a == null) return;
        used.merge(a.part, -a.bytes, Long::sum);
        ours -= a.bytes;
    }

    /** Bytes of {@code part} held now. */
    public synchronized long used(Part part) {
        return used.get(part);
    }

    /** The most bytes of {@code part} held at once since the last {@link #resetPeaks}. */
    public synchronized long peak(Part part) {
        return peak.get(part);
    }

    /** The most bytes of all parts held at once since the last {@link #resetPeaks}. */
    public synchronized long peak() {
        return peakOurs;
    }

    /**
     * The most device memory the driver reported in use (the CUDA context and anything else on the GPU included),
     * sampled after each of our allocations, since the last {@link #resetPeaks}.
     */
    public synchronized long peakDevice() {
        return peakDevice;
    }

    /** Starts the peaks again from what is held now. */
    public synchronized void resetPeaks() {
        for (Part p : Part.values()) peak.put(p, used.get(p));
        peakOurs = ours;
        long[] info = cuda.memoryInfo();
        peakDevice = info[1] - info[0];
    }
}
