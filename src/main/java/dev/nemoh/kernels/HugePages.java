package dev.nemoh.kernels;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;

/**
 * Off-heap memory for data that decode streams once per token (quantized weights, the bandwidth probe), backed by
 * 2 MiB transparent huge pages where Linux offers them. Why: with THP in "madvise" mode (the common default)
 * anonymous memory gets 4 KiB pages unless asked, while a mapped checkpoint already gets huge page-cache folios
 * (ext4 on recent kernels), and streaming from 4 KiB pages reads slower than from huge pages, for the bandwidth
 * probe and the Q8_0 matvec alike (docs/PERFORMANCE.md). Elsewhere, or
 * where THP is off, this is a plain 64-byte-aligned allocation: huge pages are a hint, never a requirement.
 */
public final class HugePages {
    private HugePages() {}

    static final long SIZE = 2L << 20;
    private static final int PROT_READ_WRITE = 0x1 | 0x2;
    private static final int MAP_PRIVATE_ANONYMOUS = 0x02 | 0x20;
    private static final int MADV_HUGEPAGE = 14;

    private static final MethodHandle MMAP, MADVISE, MUNMAP;

    static {
        MethodHandle mmap = null, madvise = null, munmap = null;
        if (System.getProperty("os.name", "").startsWith("Linux")) {
            try {
                Linker linker = Linker.nativeLinker();
                SymbolLookup libc = linker.defaultLookup();
                mmap = linker.downcallHandle(libc.find("mmap").orElseThrow(), FunctionDescriptor.of(ValueLayout.ADDRESS,
                        ValueLayout.ADDRESS, ValueLayout.JAVA_LONG, ValueLayout.JAVA_INT, ValueLayout.JAVA_INT,
                        ValueLayout.JAVA_INT, ValueLayout.JAVA_LONG));
                madvise = linker.downcallHandle(libc.find("madvise").orElseThrow(), FunctionDescriptor.of(ValueLayout.JAVA_INT,
                        ValueLayout.ADDRESS, ValueLayout.JAVA_LONG, ValueLayout.JAVA_INT));
                munmap = linker.downcallHandle(libc.find("munmap").orElseThrow(), FunctionDescriptor.of(ValueLayout.JAVA_INT,
                        ValueLayout.ADDRESS, ValueLayout.JAVA_LONG));
            } catch (RuntimeException e) {
                // no libc symbols or native access refused: plain allocations are correct, only slower
                mmap = madvise = munmap = null;
            }
        }
        MMAP = mmap;
        MADVISE = madvise;
        MUNMAP = munmap;
    }

    /**
     * {@code bytes} of zeroed memory that lives as long as {@code arena}. Requests under one huge page stay
     * ordinary allocations.
     */
    public static MemorySegment allocate(Arena arena, long bytes) {
        if (MMAP == null || bytes < SIZE) return arena.allocate(Math.max(bytes, 1), 64);
        // mmap only aligns to 4 KiB: one huge page more lets the segment start on a 2 MiB boundary
        long length = bytes + SIZE;
        MemorySegment raw;
        try {
            raw = (MemorySegment) MMAP.invokeExact(MemorySegment.NULL, length, PROT_READ_WRITE, MAP_PRIVATE_ANONYMOUS, -1, 0L);
        } catch (Throwable e) {
            throw new IllegalStateException("mmap of " + length + " bytes failed", e);
        }
        long address = raw.address();
        if (address == -1L) {
            throw new OutOfMemoryError("mmap could not reserve " + length + " bytes of off-heap memory for weights");
        }
        long start = (address + SIZE - 1) & -SIZE;
        long advised = address + length - start;
        try {
            // Before the first touch, so that page faults allocate huge pages. A refusal (THP "never") is harmless.
            int ignored = (int) MADVISE.invokeExact(MemorySegment.ofAddress(start), advised, MADV_HUGEPAGE);
        } catch (Throwable e) {
            throw new IllegalStateException("madvise failed", e);
        }
        return MemorySegment.ofAddress(start).reinterpret(bytes, arena, s -> unmap(address, length));
    }

    private static void unmap(long address, long length) {
        try {
            int ignored = (int) MUNMAP.invokeExact(MemorySegment.ofAddress(address), length);
        } catch (Throwable e) {
            throw new IllegalStateException("munmap failed", e);
        }
    }
}
