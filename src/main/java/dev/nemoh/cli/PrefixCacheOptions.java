package dev.nemoh.cli;

import dev.nemoh.model.NemotronHModel;
import dev.nemoh.model.PrefixCache;
import dev.nemoh.server.OpenAiServer;
import picocli.CommandLine.Option;

/** {@code --prefix-cache-mib} and {@code --prefix-cache-interval}, for the commands that prefill prompts again and again. */
final class PrefixCacheOptions {
    @Option(names = "--prefix-cache-mib", defaultValue = "0", paramLabel = "MIB",
            description = "Keep snapshots of prefilled prompts (Mamba states and KV rows every --prefix-cache-interval tokens) in an LRU of this many MiB, so that a prompt sharing a prefix with an earlier one (a system prompt, a chat's history) resumes from it. CPU only; it takes Java heap. Default: ${DEFAULT-VALUE} (off).")
    long mib;

    @Option(names = "--prefix-cache-interval", defaultValue = "" + OpenAiServer.Options.DEFAULT_PREFIX_CACHE_INTERVAL, paramLabel = "TOKENS",
            description = "Tokens between prefix-cache snapshots; a multiple of the model's chunk_size keeps hits bit-exact (default ${DEFAULT-VALUE}).")
    int interval;

    /** The bound in bytes, 0 for none; refused beside a GPU device before any model is loaded. */
    long bytes(ModelOption model) {
        if (mib < 0 || mib > Long.MAX_VALUE >> 20) {
            throw new IllegalArgumentException("--prefix-cache-mib must be a number of MiB >= 0, got " + mib);
        }
        if (interval < 2) throw new IllegalArgumentException("--prefix-cache-interval must be at least 2 tokens, got " + interval);
        if (mib > 0 && !model.device.equals("cpu")) { // auto too: the same command must not fail only where a GPU is found
            throw new IllegalArgumentException("--prefix-cache-mib works with --device cpu only for now (the cuda backend"
                    + " keeps its states on the GPU); drop --prefix-cache-mib or use --device cpu");
        }
        return mib << 20;
    }

    /** The cache for {@code model}, or null when off. */
    PrefixCache open(ModelOption option, NemotronHModel model) {
        long bytes = bytes(option);
        return bytes == 0 ? null : new PrefixCache(model, bytes, interval);
    }
}
