package dev.nemoh.cli;

import picocli.CommandLine.Option;

/** {@code --max-cache-memory}: the server's bound on the running sequences' caches ({@code serve}, {@code bench-serve}). */
final class CacheMemoryOption {
    @Option(names = "--max-cache-memory", paramLabel = "MIB",
            description = "Cache memory (Mamba states + KV) the running sequences may reserve together, each at prompt + max_tokens, in MiB. On the CPU it must fit in the Java heap left after loading the model (raise it with JAVA_OPTS=-Xmx...). Default: 4096, or 3/4 of that free heap if less.")
    Long maxCacheMib;

    /** The bound in bytes, checked; 0 when not given (the server picks). */
    long bytes() {
        if (maxCacheMib != null && (maxCacheMib < 1 || maxCacheMib > Long.MAX_VALUE >> 20)) {
            throw new IllegalArgumentException("--max-cache-memory must be a positive number of MiB, got " + maxCacheMib);
        }
        return maxCacheMib == null ? 0 : maxCacheMib << 20;
    }
}
