package dev.nemoh.cli;

import dev.nemoh.model.LanguageModel;
import dev.nemoh.model.PrefixCache;
import picocli.CommandLine.Option;

/** {@code --prefix-cache-mib} and {@code --prefix-cache-interval}, for the commands that prefill prompts again and again. */
final class PrefixCacheOptions {
    @Option(names = "--prefix-cache-mib", defaultValue = "0", paramLabel = "MIB",
            description = "Keep snapshots of prefilled prompts (Mamba states and KV rows every --prefix-cache-interval tokens) in an LRU of this many MiB, so that a prompt sharing a prefix with an earlier one (a system prompt, a chat's history) resumes from it. On the CPU it takes Java heap, on cuda device memory. Default: ${DEFAULT-VALUE} (off).")
    long mib;

    @Option(names = "--prefix-cache-interval", paramLabel = "TOKENS",
            description = "Tokens between prefix-cache snapshots; a multiple of the model's chunk_size keeps hits bit-exact (default " + PrefixCache.DEFAULT_INTERVAL + ").")
    Integer interval;

    /** The bound in bytes, 0 for none; a bad value is refused before any model is loaded. */
    long bytes() {
        if (mib < 0 || mib > Long.MAX_VALUE >> 20) {
            throw new IllegalArgumentException("--prefix-cache-mib must be a number of MiB >= 0, got " + mib);
        }
        if (interval != null) {
            if (mib == 0) {
                throw new IllegalArgumentException("--prefix-cache-interval sets the prefix cache, which is off: give"
                        + " --prefix-cache-mib too, or drop --prefix-cache-interval");
            }
            PrefixCache.checkInterval(interval);
        }
        return mib << 20;
    }

    /** Tokens between snapshots. */
    int interval() {
        return interval != null ? interval : PrefixCache.DEFAULT_INTERVAL;
    }

    /** The cache for {@code model}, or null when off. */
    PrefixCache open(LanguageModel model) {
        long bytes = bytes();
        return bytes == 0 ? null : new PrefixCache(model, bytes, interval());
    }
}
