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
        description = "Starts the server in-process and streams greedy completions to N concurrent clients over loopback HTTP, once with continuous batching (max batch N) and once one at a time (max batch 1); prints aggregate tok/s of each, time to first token percentiles and where a decode step's time goes. With --chat-history: times a chat's second turn to its first token, without and with the prefix cache.")
final class BenchServeCommand implements Runnable {
    @Mixin
    ModelOption model;

    @Option(names = "--clients", defaultValue = "32", split = ",", paramLabel = "N[,N...]",
            description = "Concurrent streaming clients; several counts (32,64,128) run one after another on the same loaded model (default ${DEFAULT-VALUE}).")
    List<Integer> clientCounts;

    @Option(names = "--max-tokens", defaultValue = "64", paramLabel = "N", description = "Tokens each client generates (default ${DEFAULT-VALUE}).")
    int maxTokens;

    @Option(names = "--ignore-eos", negatable = true, defaultValue = "true", fallbackValue = "true",
            description = "Requests send ignore_eos, so every client generates all --max-tokens (default); --no-ignore-eos lets eos end a completion.")
    boolean ignoreEos;

    @Option(names = "--one-at-a-time", negatable = true, defaultValue = "true", fallbackValue = "true",
            description = "Also serves the clients one at a time (max batch 1) for the speedup (default); --no-one-at-a-time skips that run.")
    boolean oneAtATime;

    /** The clients of the run in progress. */
    private int clients;

    @Mixin
    PrefixCacheOptions prefixCache;

    @Mixin
    CacheMemoryOption cacheMemory;

    @Option(names = "--chat-history", paramLabel = "TOKENS",
            description = "Instead of the batching run: a chat with about TOKENS tokens of history, served once without and once with the prefix cache (--prefix-cache-mib); prints each turn's time to first token (TTFT) and the ratio of the second turn's.")
    Integer chatHistory;

    /**
     * A run's wall time, tokens, texts, each client's time to its first text and each request's time to its first
     * token in the server, and the server's step times.
     */
    record Run(double seconds, long tokens, List<String> texts, long[] firstTextNanos, long[] firstTokenNanos,
               OpenAiServer.StepTimes steps) {
        double tokensPerSecond() {
            return tokens / seconds;
        }
    }

    @Override
    public void run() {
        for (int n : clientCounts) if (n < 1) throw new IllegalArgumentException("--clients must be >= 1, got " + n);
        cacheMemory.bytes(); // checked before the model loads
        if (maxTokens < 1) throw new IllegalArgumentException("--max-tokens must be >= 1, got " + maxTokens);
        long prefixCacheBytes = prefixCache.bytes();
        try (TextModel tm = TextModel.open(model)) {
            String id = model.resolve().toAbsolutePath().normalize().getFileName().toString();
            ServedModel served = ServedModel.of(id, tm.model(), tm.tokenizer(), tm.stopTokens());
            if (chatHistory != null) {
                new ChatTurnBench(served, chatHistory, maxTokens, prefixCacheBytes, prefixCache.interval()).run();
                return;
            }
            for (int n : clientCounts) {
                clients = n;
                drive(served, clients, Math.min(8, maxTokens)); // warm-up: JIT, page cache, the step's graph
                Run batched = drive(served, clients, maxTokens);
                PrintRow.header();
                PrintRow.row("continuous batching", clients, batched);
                Run single = oneAtATime ? drive(served, 1, maxTokens) : null;
                if (single != null) PrintRow.row("one at a time", 1, single);
                PrintRow.details(batched);
                if (single != null) {
                    System.out.printf(Locale.ROOT, "speedup %.2fx; same texts both ways: %s%n", batched.tokensPerSecond()
                            / single.tokensPerSecond(), batched.texts().equals(single.texts()) ? "yes" : "NO");
                }
                System.out.println();
            }
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

        /**
         * Time to first token percentiles over the clients, and a decode step's mean time by part: the forward pass,
         * the picks and copies the model makes (on the device for cuda), the host's picks, and the host's work on the
         * tokens (detokenizing, stop strings, events), which overlaps the device's step where the model runs
         * asynchronously.
         */
        static void details(Run r) {
            long[] ttft = r.firstTokenNanos().clone();
            java.util.Arrays.sort(ttft);
            System.out.printf(Locale.ROOT, "time to first token (server, arrival to the first token's event, %d requests):"
                            + " p50 %.1f ms, p90 %.1f ms, p99 %.1f ms%n", ttft.length, percentile(ttft, 50) / 1e6,
                    percentile(ttft, 90) / 1e6, percentile(ttft, 99) / 1e6);
            // a client whose tokens all decode to no text (ids the tokenizer lacks) sees none
            long[] text = java.util.Arrays.stream(r.firstTextNanos()).filter(t -> t >= 0).sorted().toArray();
            System.out.printf(Locale.ROOT, "time to first text (client, %d of %d clients got text): p50 %.1f ms, p90 %.1f ms,"
                    + " p99 %.1f ms%n", text.length, r.firstTextNanos().length, percentile(text, 50) / 1e6,
                    percentile(text, 90) / 1e6, percentile(text, 99) / 1e6);
            OpenAiServer.StepTimes t = r.steps();
            if (t.steps() == 0) return;
            double n = t.steps() * 1e6;
            if (t.sample() + t.copy() > 0) {
                System.out.printf(Locale.ROOT, "decode step (mean of %d): %.2f ms wall; GPU: forward %.2f ms, sampling %.2f ms,"
                                + " copies back %.2f ms; host: sampling %.2f ms, text and events %.2f ms (during the GPU's next step)%n",
                        t.steps(), t.wall() / n, t.decode() / n, t.sample() / n, t.copy() / n, t.hostSample() / n, t.host() / n);
            } else {
                System.out.printf(Locale.ROOT, "decode step (mean of %d, all on the host): %.2f ms wall; forward %.2f ms,"
                        + " sampling %.2f ms, text and events %.2f ms%n", t.steps(), t.wall() / n, t.decode() / n,
                        t.hostSample() / n, t.host() / n);
            }
        }

        /** The nearest-rank percentile of sorted values. */
        static long percentile(long[] sorted, int p) {
            if (sorted.length == 0) return 0;
            return sorted[Math.max(0, (int) Math.ceil(p / 100.0 * sorted.length) - 1)];
        }
    }

    /**
     * All clients stream at once against a fresh server with the given batch bound; returns the wall time. Prompts
     * are short ("Client 7:"), so that the time goes to decoding, which batching speeds up, more than to prefill.
     */
    private Run drive(ServedModel served, int maxBatch, int tokens) throws Exception {
        OpenAiServer.Options options = new OpenAiServer.Options("127.0.0.1", 0, maxBatch, clients, tokens, cacheMemory.bytes(), 1 << 20)
                .withPrefixCache(prefixCache.bytes(), prefixCache.interval());
        try (OpenAiServer server = OpenAiServer.start(served, options);
             ExecutorService pool = Executors.newVirtualThreadPerTaskExecutor()) {
            CompletionClient client = new CompletionClient(URI.create("http://127.0.0.1:" + server.port() + "/"));
            long t0 = System.nanoTime();
            List<Future<CompletionClient.Streamed>> results = new ArrayList<>();
            for (int i = 0; i < clients; i++) {
                var body = new com.fasterxml.jackson.databind.ObjectMapper().createObjectNode()
                        .put("prompt", "Client " + i + ":").put("max_tokens", tokens)
                        .put("temperature", 0).put("ignore_eos", ignoreEos);
                results.add(pool.submit(() -> client.stream("/v1/completions", body)));
            }
            long total = 0;
            List<String> texts = new ArrayList<>();
            long[] firstText = new long[clients];
            for (int i = 0; i < clients; i++) {
                CompletionClient.Streamed s = results.get(i).get();
                total += s.completionTokens();
                texts.add(s.text());
                firstText[i] = s.firstTextNanos();
            }
            return new Run((System.nanoTime() - t0) / 1e9, total, texts, firstText, server.firstTokenNanos(), server.stepTimes());
        }
    }
}
