package dev.nemoh.cli;

import dev.nemoh.server.CompletionClient;
import dev.nemoh.server.OpenAiServer;
import dev.nemoh.server.ServedModel;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.net.URI;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

@Command(name = "bench-serve", mixinStandardHelpOptions = true,
        description = "Starts the server in-process and streams greedy completions to N concurrent clients over loopback HTTP, once with continuous batching (max batch N) and once one at a time (max batch 1); prints aggregate tok/s of each. With --chat-history: times a chat's second turn to its first token, without and with the prefix cache.")
final class BenchServeCommand implements Runnable {
    @Mixin
    ModelOption model;

    @Option(names = "--clients", defaultValue = "32", paramLabel = "N", description = "Concurrent streaming clients (default ${DEFAULT-VALUE}).")
    int clients;

    @Option(names = "--max-tokens", defaultValue = "64", paramLabel = "N", description = "Tokens each client generates (default ${DEFAULT-VALUE}; eos is ignored).")
    int maxTokens;

    @Mixin
    PrefixCacheOptions prefixCache;

    @Option(names = "--chat-history", paramLabel = "TOKENS",
            description = "Instead of the batching run: a chat with about TOKENS tokens of history, served once without and once with the prefix cache (--prefix-cache-mib); prints each turn's time to first token (TTFT) and the ratio of the second turn's.")
    Integer chatHistory;

    record Run(double seconds, long tokens, List<String> texts) {
        double tokensPerSecond() {
            return tokens / seconds;
        }
    }

    @Override
    public void run() {
        if (clients < 1) throw new IllegalArgumentException("--clients must be >= 1, got " + clients);
        if (maxTokens < 1) throw new IllegalArgumentException("--max-tokens must be >= 1, got " + maxTokens);
        long prefixCacheBytes = prefixCache.bytes();
        try (TextModel tm = TextModel.open(model)) {
            String id = model.resolve().toAbsolutePath().normalize().getFileName().toString();
            ServedModel served = ServedModel.of(id, tm.model(), tm.tokenizer(), tm.stopTokens());
            if (chatHistory != null) {
                new ChatTurnBench(served, chatHistory, maxTokens, prefixCacheBytes, prefixCache.interval()).run();
                return;
            }
            drive(served, clients, Math.min(8, maxTokens)); // warm-up: JIT and page cache
            Run batched = drive(served, clients, maxTokens);
            Run single = drive(served, 1, maxTokens);
            PrintRow.header();
            PrintRow.row("continuous batching", clients, batched);
            PrintRow.row("one at a time", 1, single);
            System.out.printf(Locale.ROOT, "speedup %.2fx; same texts both ways: %s%n",
                    batched.tokensPerSecond() / single.tokensPerSecond(), batched.texts().equals(single.texts()) ? "yes" : "NO");
        } catch (Exception e) {
            if (e instanceof RuntimeException r) throw r;
            throw new IllegalStateException("benchmark failed: " + e.getMessage(), e);
        }
    }

    private static final class PrintRow {
        static void header() {
            System.out.printf(Locale.ROOT, "%-20s %9s %8s %9s %10s%n", "mode", "max batch", "tokens", "seconds", "tok/s");
        }

        static void row(String mode, int maxBatch, Run r) {
            System.out.printf(Locale.ROOT, "%-20s %9d %8d %9.2f %10.1f%n", mode, maxBatch, r.tokens(), r.seconds(), r.tokensPerSecond());
        }
    }

    /**
     * All clients stream at once against a fresh server with the given batch bound; returns the wall time. Prompts
     * are short ("Client 7:"), so that the time goes to decoding, which batching speeds up, more than to prefill.
     */
    private Run drive(ServedModel served, int maxBatch, int tokens) throws Exception {
        OpenAiServer.Options options = new OpenAiServer.Options("127.0.0.1", 0, maxBatch, clients, tokens, 0, 1 << 20)
                .withPrefixCache(prefixCache.bytes(), prefixCache.interval());
        try (OpenAiServer server = OpenAiServer.start(served, options);
             ExecutorService pool = Executors.newVirtualThreadPerTaskExecutor()) {
            CompletionClient client = new CompletionClient(URI.create("http://127.0.0.1:" + server.port() + "/"));
            long t0 = System.nanoTime();
            List<Future<CompletionClient.Streamed>> results = new ArrayList<>();
            for (int i = 0; i < clients; i++) {
                var body = new com.fasterxml.jackson.databind.ObjectMapper().createObjectNode()
                        .put("prompt", "Client " + i + ":").put("max_tokens", tokens)
                        .put("temperature", 0).put("ignore_eos", true);
                results.add(pool.submit(() -> client.stream("/v1/completions", body)));
            }
            long total = 0;
            List<String> texts = new ArrayList<>();
            for (var f : results) {
                CompletionClient.Streamed s = f.get();
                total += s.completionTokens();
                texts.add(s.text());
            }
            return new Run((System.nanoTime() - t0) / 1e9, total, texts);
        }
    }
}
