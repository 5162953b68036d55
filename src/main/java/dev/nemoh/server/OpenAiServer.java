package dev.nemoh.server;

import com.fasterxml.jackson.databind.node.ObjectNode;
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;

import dev.nemoh.model.PrefixCache;

import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;

/**
 * An OpenAI-compatible HTTP server for one model: {@code POST /v1/chat/completions}, {@code POST /v1/completions}
 * (whole or streamed as server-sent events), {@code GET /v1/models}, {@code GET /health} and {@code GET /metrics}
 * (Prometheus text). Requests are parsed and checked on their own (virtual) threads, then generated together by the
 * {@link Scheduler}'s continuous batching.
 *
 * <p>HTTP comes from the JDK's {@code com.sun.net.httpserver}: it streams chunked responses with a flush per event,
 * and a write to a client that has gone fails, which is how a disconnect shows (streams also send a comment every
 * second while waiting). What it cannot do is notice a gone client of a non-streamed request before the response is
 * written; such a generation runs to its (bounded) end.
 */
public final class OpenAiServer implements AutoCloseable {
    /**
     * @param maxTokens      the largest max_tokens a request may ask for (and the default cap for chat)
     * @param maxCacheBytes  cache memory all running sequences may reserve together, each at its full length; 0 picks
     *                       it (see {@link #cacheBound}); on the CPU it must fit in the heap the model leaves free
     * @param maxBodyBytes   the largest request body accepted (413 beyond)
     * @param requestTimeout how long a completion request may take, from its arrival to its last byte (504 beyond)
     * @param apiKey         the key {@code /v1/*} requires as {@code Authorization: Bearer KEY}, or null for none
     * @param metricsKey     the key {@code /metrics} requires, or null for none
     * @param tls            HTTPS with this context (see {@link PemTls}), or null for plain HTTP
     * @param prefixCacheBytes    the bound of the prefix cache (see {@link PrefixCache}), or 0 for none
     * @param prefixCacheInterval tokens between the prefix cache's snapshots
     */
    public record Options(String host, int port, int maxBatch, int maxQueue, int maxTokens, long maxCacheBytes,
                          int maxBodyBytes, java.time.Duration requestTimeout, String apiKey, String metricsKey,
                          javax.net.ssl.SSLContext tls, long prefixCacheBytes, int prefixCacheInterval) {
        public static final java.time.Duration DEFAULT_REQUEST_TIMEOUT = java.time.Duration.ofSeconds(600);

        public Options {
            if (port < 0 || port > 65535) throw new IllegalArgumentException("--port must be in [0, 65535], got " + port);
            if (maxBatch < 1) throw new IllegalArgumentException("--max-batch must be >= 1, got " + maxBatch);
            if (maxQueue < 0) throw new IllegalArgumentException("--max-queue must be >= 0, got " + maxQueue);
            if (maxTokens < 1) throw new IllegalArgumentException("--max-tokens-limit must be >= 1, got " + maxTokens);
            if (maxCacheBytes < 0) throw new IllegalArgumentException("--max-cache-memory must be > 0 (0 bytes here: pick), got " + maxCacheBytes + " bytes");
            if (maxBodyBytes < 1) throw new IllegalArgumentException("--max-body-bytes must be >= 1, got " + maxBodyBytes);
            if (requestTimeout == null || requestTimeout.isNegative() || requestTimeout.isZero()
                    || requestTimeout.compareTo(java.time.Duration.ofDays(365)) > 0) {
                throw new IllegalArgumentException("--request-timeout must be between 1 and 31536000 seconds, got "
                        + (requestTimeout == null ? "none" : requestTimeout.toSeconds()));
            }
            BearerKey.check("--api-key (or NEMOH_API_KEY)", apiKey);
            BearerKey.check("--metrics-key", metricsKey);
            if (prefixCacheBytes < 0) throw new IllegalArgumentException("--prefix-cache-mib must be >= 0, got " + (prefixCacheBytes >> 20));
        }

        /** Plain HTTP, no keys, requests bounded by {@link #DEFAULT_REQUEST_TIMEOUT}. */
        public Options(String host, int port, int maxBatch, int maxQueue, int maxTokens, long maxCacheBytes, int maxBodyBytes) {
            this(host, port, maxBatch, maxQueue, maxTokens, maxCacheBytes, maxBodyBytes, DEFAULT_REQUEST_TIMEOUT, null, null, null, 0,
                    PrefixCache.DEFAULT_INTERVAL);
        }

        public Options withRequestTimeout(java.time.Duration timeout) {
            return new Options(host, port, maxBatch, maxQueue, maxTokens, maxCacheBytes, maxBodyBytes, timeout, apiKey, metricsKey, tls,
                    prefixCacheBytes, prefixCacheInterval);
        }

        public Options withKeys(String apiKey, String metricsKey) {
            return new Options(host, port, maxBatch, maxQueue, maxTokens, maxCacheBytes, maxBodyBytes, requestTimeout, apiKey, metricsKey, tls,
                    prefixCacheBytes, prefixCacheInterval);
        }

        public Options withTls(javax.net.ssl.SSLContext tls) {
            return new Options(host, port, maxBatch, maxQueue, maxTokens, maxCacheBytes, maxBodyBytes, requestTimeout, apiKey, metricsKey, tls,
                    prefixCacheBytes, prefixCacheInterval);
        }

        /** With a prefix cache of {@code bytes} (0: none) and snapshots every {@code interval} tokens. */
        public Options withPrefixCache(long bytes, int interval) {
            return new Options(host, port, maxBatch, maxQueue, maxTokens, maxCacheBytes, maxBodyBytes, requestTimeout, apiKey,
                    metricsKey, tls, bytes, interval);
        }

        @Override
        public String toString() { // keeps the keys out of logs
            return "Options[" + host + ":" + port + ", maxBatch=" + maxBatch + ", maxQueue=" + maxQueue + ", maxTokens="
                    + maxTokens + ", maxCacheBytes=" + maxCacheBytes + ", maxBodyBytes=" + maxBodyBytes + ", requestTimeout="
                    + requestTimeout + ", apiKey=" + (apiKey == null ? "none" : "set") + ", metricsKey="
                    + (metricsKey == null ? "none" : "set") + ", tls=" + (tls != null) + ", prefixCacheBytes=" + prefixCacheBytes
                    + ", prefixCacheInterval=" + prefixCacheInterval + "]";
        }
    }

    /*
     * The JDK server reads its socket settings once per JVM, from system properties, when the first server starts.
     * TCP_NODELAY: without it Nagle's algorithm holds each small SSE chunk back until the previous one is
     * acknowledged, which slows streaming down (docs/PERFORMANCE.md). The connection bound keeps a
     * flood of idle connections from using up file descriptors, and the request read time bounds how long a slow
     * client may hold one; -D on the command line overrides each.
     */
    static {
        if (System.getProperty("sun.net.httpserver.nodelay") == null) System.setProperty("sun.net.httpserver.nodelay", "true");
        // a request's line, headers and body must arrive within a minute: a client that sends them a byte at a time
        // would otherwise hold a connection (of the 1024) for ever; the JDK closes the connection past it
        if (System.getProperty("sun.net.httpserver.maxReqTime") == null) System.setProperty("sun.net.httpserver.maxReqTime", "60");
        if (System.getProperty("jdk.httpserver.maxConnections") == null) System.setProperty("jdk.httpserver.maxConnections", "1024");
    }

    private final ServedModel served;
    private final Options options;
    private final Metrics metrics = new Metrics();
    private final Scheduler scheduler;
    /** What /v1/* and /metrics require, or null when open. */
    private final BearerKey apiKey, metricsKey;
    /** Prompt prefixes already prefilled, or null when {@link Options#prefixCacheBytes} is 0. */
    private final PrefixCache prefixCache;
    /** The cache bound in force: {@link Options#maxCacheBytes}, or the one picked when that is 0. */
    private final long maxCacheBytes;
    private final ExecutorService executor = Executors.newVirtualThreadPerTaskExecutor();
    private final HttpServer http;
    private final long started = System.currentTimeMillis() / 1000;
    private final java.util.concurrent.atomic.AtomicBoolean closed = new java.util.concurrent.atomic.AtomicBoolean();

    private OpenAiServer(ServedModel served, Options options) throws IOException {
        this.served = served;
        this.options = options;
        this.prefixCache = prefixCache(served.model(), options);
        this.maxCacheBytes = cacheBound(served.model(), options.maxCacheBytes(), options.prefixCacheBytes());
        this.apiKey = options.apiKey() == null ? null : new BearerKey(options.apiKey());
        this.metricsKey = options.metricsKey() == null ? null : new BearerKey(options.metricsKey());
        InetSocketAddress address = new InetSocketAddress(options.host(), options.port());
        if (options.tls() != null) {
            com.sun.net.httpserver.HttpsServer https = com.sun.net.httpserver.HttpsServer.create(address, 0);
            https.setHttpsConfigurator(new com.sun.net.httpserver.HttpsConfigurator(options.tls()));
            this.http = https;
        } else {
            this.http = HttpServer.create(address, 0);
        }
        // after binding, so that a port in use leaves no scheduler thread behind
        this.scheduler = new Scheduler(served.model(), served.tokenizer(),
                new Scheduler.Limits(options.maxBatch(), options.maxQueue(), maxCacheBytes), metrics, prefixCache);
        http.createContext("/", this::handle);
        http.setExecutor(executor);
        http.start();
    }

    /** Binds the port and starts serving; port 0 picks a free one (see {@link #port()}). */
    public static OpenAiServer start(ServedModel served, Options options) throws IOException {
        return new OpenAiServer(served, options);
    }

    public int port() {
        return http.getAddress().getPort();
    }

    /** The cache memory the running sequences may reserve together (the bound given, or the one picked). */
    public long maxCacheBytes() {
        return maxCacheBytes;
    }

    /** The default cache bound, and the most it may be when the states do not live in the heap. */
    static final long DEFAULT_CACHE_BYTES = 4096L << 20;

    /**
     * The cache bound for {@code model}: {@code requested}, or when that is 0, {@link #DEFAULT_CACHE_BYTES} capped at
     * three quarters of the heap the model leaves free (the last quarter is for activations, logits and requests).
     * States in the Java heap (the CPU model's) must fit in what the heap has left after loading the model and setting
     * {@code prefixCacheBytes} aside for the prefix cache (which lives there too): a larger
     * bound is refused with one line, since the server would otherwise run out of heap under load instead of making
     * requests wait. States in device memory (cuda) are not checked against the heap.
     */
    static long cacheBound(dev.nemoh.model.LanguageModel model, long requested, long prefixCacheBytes) {
        if (!model.statesOnHeap()) return requested == 0 ? DEFAULT_CACHE_BYTES : requested;
        long max = Runtime.getRuntime().maxMemory();
        if (max == Long.MAX_VALUE) return requested == 0 ? DEFAULT_CACHE_BYTES : requested; // no heap limit
        for (int i = 0; i < 2; i++) System.gc(); // so that what is in use is what the model and its tokenizer hold
        long used = java.lang.management.ManagementFactory.getMemoryMXBean().getHeapMemoryUsage().getUsed();
        long free = max - used - prefixCacheBytes;
        String heap = "max heap " + (max >> 20) + " MiB (-Xmx) with " + (used >> 20) + " MiB in use after loading the model"
                + (prefixCacheBytes > 0 ? " and " + (prefixCacheBytes >> 20) + " MiB for --prefix-cache-mib" : "")
                + ", which leaves " + (Math.max(0, free) >> 20) + " MiB";
        if (requested == 0) {
            long bound = Math.min(DEFAULT_CACHE_BYTES, free / 4 * 3);
            if (bound < 1 << 20) {
                throw new IllegalArgumentException("the Java heap has no room for sequence caches: " + heap
                        + "; raise the heap (e.g. JAVA_OPTS=-Xmx8g ./nemoh serve ...)");
            }
            return bound;
        }
        if (requested > free) {
            throw new IllegalArgumentException("--max-cache-memory " + (requested >> 20) + " MiB does not fit in the Java heap: "
                    + heap + "; lower --max-cache-memory (at most " + (Math.max(0, free) >> 20) + ", better 3/4 of it) or raise"
                    + " the heap (e.g. JAVA_OPTS=-Xmx" + Math.ceilDiv(used + requested * 4 / 3, 1L << 30) + "g ./nemoh serve ...)");
        }
        return requested;
    }

    /** The prefix cache {@code options} ask for, or null; refused by a backend that cannot snapshot its states. */
    private static PrefixCache prefixCache(dev.nemoh.model.LanguageModel model, Options options) {
        if (options.prefixCacheBytes() == 0) return null;
        return new PrefixCache(model, options.prefixCacheBytes(), options.prefixCacheInterval());
    }

    /**
     * Completes with the fatal error (an {@link Error} in the scheduler thread, such as OutOfMemoryError) after which
     * this server generates nothing more: every request then running or waiting got a 500, new ones get 503 and
     * {@code /health} answers 503. Whoever runs the server should close it and stop (the {@code serve} command exits
     * with code 1).
     */
    public java.util.concurrent.CompletableFuture<Throwable> failure() {
        return scheduler.failure();
    }

    /** One line saying what the fatal error {@code t} did and what to do about it. */
    public static String failureMessage(Throwable t) {
        return Scheduler.failureMessage(t);
    }

    /**
     * Where the decode steps' time went so far (see {@code nemoh_step_seconds_total} in /metrics), in nanoseconds
     * summed over {@code steps} steps.
     */
    public record StepTimes(long steps, long decode, long sample, long copy, long hostSample, long host, long wall) {}

    public StepTimes stepTimes() {
        return new StepTimes(metrics.timedSteps.sum(), metrics.stepDecodeNanos.sum(), metrics.stepSampleNanos.sum(),
                metrics.stepCopyNanos.sum(), metrics.stepHostSampleNanos.sum(), metrics.stepHostNanos.sum(),
                metrics.stepWallNanos.sum());
    }

    /**
     * Nanoseconds from each of the last (up to 4096) requests' arrival to its first token's event, text or not (a
     * client sees text only once a token decodes to some), oldest first.
     */
    public long[] firstTokenNanos() {
        return metrics.firstTokens();
    }

    /** Requests answered on {@code endpoint} with {@code status}. */
    long metricsCount(String endpoint, int status) {
        return metrics.requests(endpoint, status);
    }

    private void handle(HttpExchange ex) {
        long arrived = System.nanoTime();
        String path = ex.getRequestURI().getPath();
        String endpoint = switch (path) {
            case "/health", "/metrics", "/v1/models", "/v1/chat/completions", "/v1/completions" -> path;
            default -> path.startsWith("/v1/models/") ? "/v1/models/{id}" : "other";
        };
        int status = 500;
        try {
            status = route(ex, path, arrived);
        } catch (ApiException e) {
            status = e.status;
            ObjectNode body = Json.object();
            body.set("error", errorObject(e));
            trySend(ex, e.status, "application/json", Json.bytes(body));
        } catch (IOException e) {
            status = 499; // the client closed the connection (nginx's code for it)
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            status = 503;
        } catch (RuntimeException | Error e) {
            // a bug or an Error (out of heap, out of stack) in this request's own thread: it ends this request only
            status = 500;
            ObjectNode body = Json.object();
            body.set("error", errorObject(new ApiException(500, "server_error", null, null, "internal error: " + e)));
            trySend(ex, 500, "application/json", Json.bytes(body));
        } finally {
            ex.close();
            metrics.request(endpoint, status);
        }
    }

    /**
     * 401 unless the request carries {@code key} as {@code Authorization: Bearer KEY} (nothing to check when it is
     * null). The body is OpenAI's for a missing or wrong key.
     */
    private static void authorize(HttpExchange ex, BearerKey key, String option) {
        if (key == null) return;
        String given = ex.getRequestHeaders().getFirst("Authorization");
        if (key.accepts(given)) return;
        ex.getResponseHeaders().set("WWW-Authenticate", "Bearer");
        throw new ApiException(401, "invalid_request_error", null, "invalid_api_key", (given == null
                ? "You didn't provide an API key. "
                : "Incorrect API key provided. ")
                + "Send the key the server was started with (" + option + ") in an Authorization header:"
                + " 'Authorization: Bearer YOUR_KEY'");
    }

    private int route(HttpExchange ex, String path, long arrived) throws IOException, InterruptedException {
        if (path.equals("/v1") || path.startsWith("/v1/")) authorize(ex, apiKey, "--api-key or NEMOH_API_KEY");
        else if (path.equals("/metrics")) authorize(ex, metricsKey, "--metrics-key");
        switch (path) {
            case "/health" -> {
                method(ex, "GET");
                Throwable failed = scheduler.failed();
                if (failed != null) {
                    return send(ex, 503, Json.object().put("status", "error").put("message", Scheduler.failureMessage(failed)));
                }
                if (scheduler.closing()) {
                    return send(ex, 503, Json.object().put("status", "shutting_down").put("message",
                            "the server is shutting down: it finishes the running requests and takes no new ones"));
                }
                return send(ex, 200, Json.object().put("status", "ok"));
            }
            case "/metrics" -> {
                method(ex, "GET");
                ex.getResponseHeaders().set("Content-Type", "text/plain; version=0.0.4; charset=utf-8");
                byte[] text = metrics.render().getBytes(StandardCharsets.UTF_8);
                ex.sendResponseHeaders(200, text.length);
                ex.getResponseBody().write(text);
                return 200;
            }
            case "/v1/models" -> {
                method(ex, "GET");
                ObjectNode list = Json.object().put("object", "list");
                var data = list.putArray("data");
                for (String id : served.ids()) data.add(modelObject(id));
                return send(ex, 200, list);
            }
            case "/v1/chat/completions" -> {
                method(ex, "POST");
                return complete(ex, true, arrived);
            }
            case "/v1/completions" -> {
                method(ex, "POST");
                return complete(ex, false, arrived);
            }
            default -> {
                if (path.startsWith("/v1/models/")) {
                    method(ex, "GET");
                    String id = path.substring("/v1/models/".length());
                    if (!served.ids().contains(id)) throw ApiException.modelNotFound(id, served.ids());
                    return send(ex, 200, modelObject(id));
                }
                throw new ApiException(404, "invalid_request_error", null, "not_found", "no such endpoint: "
                        + ex.getRequestMethod() + " " + path + "; the server has POST /v1/chat/completions, POST /v1/completions,"
                        + " GET /v1/models, GET /health and GET /metrics");
            }
        }
    }

    /** The base model's entry, or an adapter's, which names the base as its {@code parent} as vLLM does. */
    /** The model ids clients may ask for: the base model's, then each adapter's. */
    public java.util.List<String> servedIds() {
        return served.ids();
    }

    private ObjectNode modelObject(String id) {
        ObjectNode o = Json.object().put("id", id).put("object", "model").put("created", started)
                .put("owned_by", "nemoh").put("root", id).putNull("parent");
        if (!id.equals(served.id())) o.put("root", served.loras().get(id).dir.toString()).put("parent", served.id());
        return o.put("max_model_len", served.model().config().maxPositionEmbeddings);
    }

    private int complete(HttpExchange ex, boolean chat, long arrived) throws IOException, InterruptedException {
        byte[] body = readBody(ex);
        CompletionRequest req = CompletionRequest.parse(Json.parse(body), chat, served,
                new CompletionRequest.Bounds(options.maxTokens(), maxCacheBytes));
        Job job = req.job(served);
        job.deadline(arrived + options.requestTimeout().toNanos());
        scheduler.submit(job);
        try {
            return respond(ex, req, job);
        } finally {
            // a no-op when the job has ended; otherwise (an error while answering) nobody waits for it any more
            job.cancel(Job.Stop.CLIENT_GONE);
        }
    }

    private int respond(HttpExchange ex, CompletionRequest req, Job job) throws IOException, InterruptedException {
        CompletionResponder responder = new CompletionResponder(served, req, job, scheduler, options.requestTimeout());
        if (!req.stream()) {
            try {
                return send(ex, 200, responder.whole());
            } catch (IOException e) {
                job.cancel(Job.Stop.CLIENT_GONE);
                throw e;
            }
        }
        ex.getResponseHeaders().set("Content-Type", "text/event-stream; charset=utf-8");
        ex.getResponseHeaders().set("Cache-Control", "no-cache");
        try {
            ex.sendResponseHeaders(200, 0);
        } catch (IOException e) {
            job.cancel(Job.Stop.CLIENT_GONE);
            throw e;
        }
        responder.stream(ex.getResponseBody());
        return 200;
    }

    /** The body, refused with 413 beyond the bound, before reading it when Content-Length tells. */
    private byte[] readBody(HttpExchange ex) throws IOException {
        String declared = ex.getRequestHeaders().getFirst("Content-Length");
        if (declared != null) {
            long length;
            try {
                length = Long.parseLong(declared.strip());
            } catch (NumberFormatException e) {
                throw ApiException.invalid(null, "Content-Length is not a number: " + declared);
            }
            if (length > options.maxBodyBytes()) throw tooLarge();
        }
        byte[] body = ex.getRequestBody().readNBytes(options.maxBodyBytes() + 1);
        if (body.length > options.maxBodyBytes()) throw tooLarge();
        return body;
    }

    private ApiException tooLarge() {
        return new ApiException(413, "invalid_request_error", null, "request_too_large",
                "the request body is larger than " + options.maxBodyBytes() + " bytes, the server's bound (--max-body-bytes)");
    }

    private static void method(HttpExchange ex, String allowed) {
        if (!ex.getRequestMethod().equals(allowed)) {
            ex.getResponseHeaders().set("Allow", allowed);
            throw new ApiException(405, "invalid_request_error", null, "method_not_allowed",
                    ex.getRequestMethod() + " is not allowed on " + ex.getRequestURI().getPath() + "; use " + allowed);
        }
    }

    static ObjectNode errorObject(ApiException e) {
        ObjectNode error = Json.object().put("message", e.getMessage()).put("type", e.type);
        error.put("param", e.param);
        error.put("code", e.code);
        return error;
    }

    private static int send(HttpExchange ex, int status, ObjectNode body) throws IOException {
        byte[] bytes = Json.bytes(body);
        ex.getResponseHeaders().set("Content-Type", "application/json");
        ex.sendResponseHeaders(status, bytes.length);
        OutputStream out = ex.getResponseBody();
        out.write(bytes);
        return status;
    }

    /** Sends an error unless the response has begun (a stream that failed midway), when nothing more can be said. */
    private static void trySend(HttpExchange ex, int status, String type, byte[] body) {
        try {
            ex.getResponseHeaders().set("Content-Type", type);
            ex.sendResponseHeaders(status, body.length);
            ex.getResponseBody().write(body);
        } catch (IOException | RuntimeException e) {
            // the response had already started, or the client is gone
        }
    }

    /** Refuses new requests (503), lets running generations finish, then stops listening. */
    @Override
    public void close() {
        if (!closed.compareAndSet(false, true)) return;
        scheduler.close();
        http.stop(1);
        executor.close();
    }
}
