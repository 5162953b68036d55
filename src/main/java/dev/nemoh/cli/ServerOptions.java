package dev.nemoh.cli;

import dev.nemoh.server.OpenAiServer;
import picocli.CommandLine.Option;

/** The server's bounds, shared by {@code serve} and {@code bench-serve}. */
final class ServerOptions {
    @Option(names = "--max-batch", defaultValue = "32", paramLabel = "N", description = "Sequences decoded together at most (default ${DEFAULT-VALUE}).")
    int maxBatch;

    @Option(names = "--max-queue", defaultValue = "256", paramLabel = "N", description = "Requests waiting for a place at most; more get 429 (default ${DEFAULT-VALUE}).")
    int maxQueue;

    @Option(names = "--max-tokens-limit", defaultValue = "4096", paramLabel = "N", description = "Largest max_tokens a request may ask for (default ${DEFAULT-VALUE}).")
    int maxTokens;

    @Option(names = "--max-cache-memory", paramLabel = "MIB",
            description = "Cache memory (Mamba states + KV) the running sequences may reserve together, each at prompt + max_tokens, in MiB. On the CPU it must fit in the Java heap left after loading the model (raise it with JAVA_OPTS=-Xmx...). Default: 4096, or 3/4 of that free heap if less.")
    Long maxCacheMib;

    @Option(names = "--max-body-bytes", defaultValue = "1048576", paramLabel = "N", description = "Largest request body; more gets 413 (default ${DEFAULT-VALUE}).")
    int maxBodyBytes;

    @Option(names = "--request-timeout", defaultValue = "600", paramLabel = "SECONDS",
            description = "Longest a completion request may take, waiting and generating, from its arrival to its last byte; past it the answer is 504 (an error chunk when streaming) and its generation stops (default ${DEFAULT-VALUE}).")
    long requestTimeoutSeconds;

    OpenAiServer.Options options(String host, int port) {
        if (requestTimeoutSeconds < 1 || requestTimeoutSeconds > 31_536_000) {
            throw new IllegalArgumentException("--request-timeout must be between 1 and 31536000 seconds, got " + requestTimeoutSeconds);
        }
        if (maxCacheMib != null && (maxCacheMib < 1 || maxCacheMib > Long.MAX_VALUE >> 20)) {
            throw new IllegalArgumentException("--max-cache-memory must be a positive number of MiB, got " + maxCacheMib);
        }
        long maxCacheBytes = maxCacheMib == null ? 0 : maxCacheMib << 20; // 0: the server picks
        return new OpenAiServer.Options(host, port, maxBatch, maxQueue, maxTokens, maxCacheBytes, maxBodyBytes)
                .withRequestTimeout(java.time.Duration.ofSeconds(requestTimeoutSeconds));
    }
}
