package dev.nemoh.cli;

import dev.nemoh.server.OpenAiServer;
import dev.nemoh.server.PemTls;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** The server's bounds, deadline, keys and TLS files: {@code serve}'s options beside the model and the address. */
final class ServerOptions {
    @Option(names = "--max-batch", defaultValue = "32", paramLabel = "N", description = "Sequences decoded together at most (default ${DEFAULT-VALUE}).")
    int maxBatch;

    @Option(names = "--max-queue", defaultValue = "256", paramLabel = "N", description = "Requests waiting for a place at most; more get 429. 0: no waiting room, a request that cannot start at once gets 429 (default ${DEFAULT-VALUE}).")
    int maxQueue;

    @Option(names = "--max-tokens-limit", defaultValue = "4096", paramLabel = "N", description = "Largest max_tokens a request may ask for (default ${DEFAULT-VALUE}).")
    int maxTokens;

    @Mixin
    CacheMemoryOption cacheMemory;

    @Mixin
    PrefixCacheOptions prefixCache;

    @Option(names = "--max-body-bytes", defaultValue = "1048576", paramLabel = "N", description = "Largest request body; more gets 413 (default ${DEFAULT-VALUE}).")
    int maxBodyBytes;

    @Option(names = "--request-timeout", defaultValue = "600", paramLabel = "SECONDS",
            description = "Longest a completion request may take, waiting and generating, from its arrival to its last byte; past it the answer is 504 (an error chunk when streaming) and its generation stops (default ${DEFAULT-VALUE}).")
    long requestTimeoutSeconds;

    @Option(names = "--api-key", paramLabel = "KEY",
            description = "Require 'Authorization: Bearer KEY' on /v1/* (401 otherwise); /health stays open. Default: the environment variable NEMOH_API_KEY, which keeps the key out of the process list.")
    String apiKey;

    @Option(names = "--metrics-key", paramLabel = "KEY", description = "Require 'Authorization: Bearer KEY' on /metrics (default: /metrics is open).")
    String metricsKey;

    @Option(names = "--ssl-certfile", paramLabel = "FILE", description = "Serve HTTPS with this PEM certificate chain (with --ssl-keyfile).")
    java.nio.file.Path sslCertFile;

    @Option(names = "--ssl-keyfile", paramLabel = "FILE", description = "The PEM private key of --ssl-certfile: unencrypted PKCS#8 (BEGIN PRIVATE KEY) or PKCS#1 RSA (BEGIN RSA PRIVATE KEY).")
    java.nio.file.Path sslKeyFile;

    /** The options, checked (and the TLS files read) before the model is loaded; the key may come from NEMOH_API_KEY. */
    OpenAiServer.Options options(String host, int port, java.util.Map<String, String> env, ModelOption model) {
        if (requestTimeoutSeconds < 1 || requestTimeoutSeconds > 31_536_000) {
            throw new IllegalArgumentException("--request-timeout must be between 1 and 31536000 seconds, got " + requestTimeoutSeconds);
        }
        long maxCacheBytes = cacheMemory.bytes(); // 0: the server picks
        if ((sslCertFile == null) != (sslKeyFile == null)) {
            throw new IllegalArgumentException("--ssl-certfile and --ssl-keyfile go together; give both (PEM files) or neither");
        }
        String key = apiKey != null ? apiKey : env.get("NEMOH_API_KEY");
        OpenAiServer.Options options = new OpenAiServer.Options(host, port, maxBatch, maxQueue, maxTokens, maxCacheBytes, maxBodyBytes)
                .withRequestTimeout(java.time.Duration.ofSeconds(requestTimeoutSeconds))
                .withKeys(key, metricsKey)
                .withPrefixCache(prefixCache.bytes(), prefixCache.interval());
        return sslCertFile == null ? options : options.withTls(PemTls.context(sslCertFile, sslKeyFile));
    }
}
