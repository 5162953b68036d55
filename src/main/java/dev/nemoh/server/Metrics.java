package dev.nemoh.server;

import java.util.ArrayDeque;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.LongAdder;

/** The server's counters and gauges, rendered in Prometheus' text exposition format for {@code GET /metrics}. */
final class Metrics {
    /** Generated tokens per second are averaged over this window. */
    private static final long RATE_WINDOW_NANOS = 10_000_000_000L;

    private final Map<String, LongAdder> requests = new ConcurrentHashMap<>();
    final LongAdder promptTokens = new LongAdder();
    final LongAdder generatedTokens = new LongAdder();
    final LongAdder cancelled = new LongAdder();
    final LongAdder rejected = new LongAdder();
    final LongAdder timedOut = new LongAdder();
    final LongAdder decodeSteps = new LongAdder();
    final LongAdder decodeRows = new LongAdder();
    final AtomicInteger queueDepth = new AtomicInteger();
    final AtomicInteger activeSequences = new AtomicInteger();
    final AtomicInteger batchSize = new AtomicInteger();
    final AtomicLong reservedCacheBytes = new AtomicLong();
    final LongAdder prefixCacheQueries = new LongAdder();
    final LongAdder prefixCacheHitTokens = new LongAdder();
    final AtomicLong prefixCacheBytes = new AtomicLong();
    /** Where the timed steps' time went, in nanoseconds: see {@link #stepTimes}. */
    final LongAdder timedSteps = new LongAdder();
    final LongAdder stepDecodeNanos = new LongAdder();
    final LongAdder stepSampleNanos = new LongAdder();
    final LongAdder stepCopyNanos = new LongAdder();
    final LongAdder stepHostSampleNanos = new LongAdder();
    final LongAdder stepHostNanos = new LongAdder();
    final LongAdder stepWallNanos = new LongAdder();
    /** The times to first token of the last {@link #FIRST_TOKENS} requests, a ring. */
    private static final int FIRST_TOKENS = 4096;
    private final long[] firstTokens = new long[FIRST_TOKENS];
    private long firstTokenCount;
    /** (time, tokens) of recent decode steps, for the rate. */
    private final ArrayDeque<long[]> recent = new ArrayDeque<>();

    /** Counts a finished HTTP request by endpoint and status. */
    void request(String endpoint, int status) {
        requests.computeIfAbsent(endpoint + "\u0000" + status, k -> new LongAdder()).increment();
    }

    long requests(String endpoint, int status) {
        LongAdder a = requests.get(endpoint + "\u0000" + status);
        return a == null ? 0 : a.sum();
    }

    /** Records one scheduler step that produced {@code tokens} tokens. */
    synchronized void step(int rows, int tokens) {
        decodeSteps.increment();
        decodeRows.add(rows);
        batchSize.set(rows);
        generatedTokens.add(tokens);
        long now = System.nanoTime();
        recent.addLast(new long[] {now, tokens});
        trim(now);
    }

    /**
     * Records the times of one decode step: the model's forward pass, the picks it made and the copies back (on the
     * device for the GPU), the picks the host made, the host's other work on the step's tokens (detokenizing, stop
     * strings, events; overlapped with the device's work where the model runs asynchronously), and the step's wall
     * time.
     */
    void stepTimes(long decode, long sample, long copy, long hostSample, long host, long wall) {
        timedSteps.increment();
        stepDecodeNanos.add(decode);
        stepSampleNanos.add(sample);
        stepCopyNanos.add(copy);
        stepHostSampleNanos.add(hostSample);
        stepHostNanos.add(host);
        stepWallNanos.add(wall);
    }

    /** Records a request's time from its arrival to its first token's event (text or not). */
    synchronized void firstToken(long nanos) {
        firstTokens[(int) (firstTokenCount++ % FIRST_TOKENS)] = nanos;
    }

    /** The times to first token of the last (up to 4096) requests, oldest first. */
    synchronized long[] firstTokens() {
        int n = (int) Math.min(firstTokenCount, FIRST_TOKENS);
        long[] out = new long[n];
        for (int i = 0; i < n; i++) out[i] = firstTokens[(int) ((firstTokenCount - n + i) % FIRST_TOKENS)];
        return out;
    }

    /** Records a prefill that consulted the prefix cache, and what the cache holds after it. */
    void prefixCache(int hitTokens, long bytes) {
        prefixCacheQueries.increment();
        prefixCacheHitTokens.add(hitTokens);
        prefixCacheBytes.set(bytes);
    }

    /** Generated tokens per second over the last ten seconds. */
    synchronized double tokensPerSecond() {
        long now = System.nanoTime();
        trim(now);
        long tokens = 0;
        for (long[] r : recent) tokens += r[1];
        return tokens / (RATE_WINDOW_NANOS / 1e9);
    }

    private void trim(long now) {
        while (!recent.isEmpty() && now - recent.peekFirst()[0] > RATE_WINDOW_NANOS) recent.removeFirst();
    }

    String render() {
        StringBuilder out = new StringBuilder();
        out.append("# HELP nemoh_requests_total HTTP requests answered, by endpoint and status.\n");
        out.append("# TYPE nemoh_requests_total counter\n");
        Map<String, Long> sorted = new TreeMap<>();
        requests.forEach((k, v) -> sorted.put(k, v.sum()));
        sorted.forEach((k, v) -> {
            String[] parts = k.split("\u0000");
            out.append("nemoh_requests_total{endpoint=\"").append(parts[0]).append("\",status=\"").append(parts[1])
                    .append("\"} ").append(v).append('\n');
        });
        metric(out, "nemoh_prompt_tokens_total", "counter", "Prompt tokens of the requests started, those served from the prefix cache included.", promptTokens.sum());
        metric(out, "nemoh_generation_tokens_total", "counter", "Tokens generated.", generatedTokens.sum());
        metric(out, "nemoh_requests_cancelled_total", "counter", "Requests stopped because the client went away, running or waiting.", cancelled.sum());
        metric(out, "nemoh_requests_timed_out_total", "counter", "Requests ended by --request-timeout (504).", timedOut.sum());
        metric(out, "nemoh_requests_rejected_total", "counter", "Requests refused because the queue was full or the server was stopping.", rejected.sum());
        metric(out, "nemoh_decode_steps_total", "counter", "Batched decode steps run.", decodeSteps.sum());
        metric(out, "nemoh_decode_rows_total", "counter", "Sequence rows over all decode steps (rows / steps = mean batch size).", decodeRows.sum());
        out.append("# HELP nemoh_step_seconds_total Time of the decode steps by part: decode (the forward pass), sample and copy (picks made and copied back by the model), host_sample (picks made on the host), host (detokenizing, stop strings, events), wall.\n");
        out.append("# TYPE nemoh_step_seconds_total counter\n");
        String[] parts = {"decode", "sample", "copy", "host_sample", "host", "wall"};
        LongAdder[] nanos = {stepDecodeNanos, stepSampleNanos, stepCopyNanos, stepHostSampleNanos, stepHostNanos, stepWallNanos};
        for (int i = 0; i < parts.length; i++) {
            out.append(String.format(Locale.ROOT, "nemoh_step_seconds_total{part=\"%s\"} %.6f%n", parts[i], nanos[i].sum() / 1e9));
        }
        metric(out, "nemoh_queue_depth", "gauge", "Requests waiting for a place in the batch.", queueDepth.get());
        metric(out, "nemoh_active_sequences", "gauge", "Sequences being generated.", activeSequences.get());
        metric(out, "nemoh_batch_size", "gauge", "Sequences in the last decode step.", batchSize.get());
        metric(out, "nemoh_prefix_cache_queries_total", "counter", "Prompts looked up in the prefix cache (--prefix-cache-mib).", prefixCacheQueries.sum());
        metric(out, "nemoh_prefix_cache_hit_tokens_total", "counter", "Prompt tokens served from the prefix cache instead of prefilled.", prefixCacheHitTokens.sum());
        metric(out, "nemoh_prefix_cache_bytes", "gauge", "Bytes the prefix cache holds.", prefixCacheBytes.get());
        metric(out, "nemoh_reserved_cache_bytes", "gauge", "Cache memory reserved by the active sequences.", reservedCacheBytes.get());
        out.append("# HELP nemoh_generation_tokens_per_second Tokens generated per second over the last 10 s.\n");
        out.append("# TYPE nemoh_generation_tokens_per_second gauge\n");
        out.append(String.format(Locale.ROOT, "nemoh_generation_tokens_per_second %.3f%n", tokensPerSecond()));
        return out.toString();
    }

    private static void metric(StringBuilder out, String name, String type, String help, long value) {
        out.append("# HELP ").append(name).append(' ').append(help).append('\n');
        out.append("# TYPE ").append(name).append(' ').append(type).append('\n');
        out.append(name).append(' ').append(value).append('\n');
    }
}
