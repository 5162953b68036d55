package dev.nemoh.server;

import com.fasterxml.jackson.databind.JsonNode;
import dev.nemoh.chat.ChatTemplate;
import dev.nemoh.config.NemotronHConfig;
import dev.nemoh.generate.SamplingParams;
import dev.nemoh.generate.TextGenerator;
import dev.nemoh.generate.TextSequence;
import dev.nemoh.model.LanguageModel;
import dev.nemoh.model.NemotronHModel;
import dev.nemoh.tokenizer.Tokenizer;

import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Semaphore;
import java.util.function.BooleanSupplier;

/** The bundled tiny model served on an ephemeral loopback port, with an HTTP client and single-sequence references. */
final class TestServer implements AutoCloseable {
    static final Path TINY = Path.of("models/nemoh-tiny");
    /** nemoh-tiny's config.json eos_token_id (2) and generation_config.json's end-of-turn token (12). */
    static final List<Integer> STOP_TOKENS = List.of(2, 12);

    record Response(int status, String text) {
        JsonNode json() {
            return Json.parse(text.getBytes(StandardCharsets.UTF_8));
        }
    }

    final NemotronHModel model;
    final Tokenizer tokenizer;
    final OpenAiServer server;
    final URI base;
    private final HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();

    private TestServer(NemotronHModel model, LanguageModel served, OpenAiServer.Options options) throws IOException {
        this(model, served, options, List.of());
    }

    /** Serves the model with these adapters, which requests choose by name. */
    private TestServer(NemotronHModel model, LanguageModel served, OpenAiServer.Options options,
                       List<dev.nemoh.model.LoraAdapter> loras) throws IOException {
        this.model = model;
        this.tokenizer = Tokenizer.load(TINY);
        this.server = OpenAiServer.start(ServedModel.of("nemoh-tiny", served, tokenizer, STOP_TOKENS, null, loras), options);
        this.base = URI.create("http://127.0.0.1:" + server.port() + "/");
    }

    static OpenAiServer.Options options(int maxBatch, int maxQueue) {
        return new OpenAiServer.Options("127.0.0.1", 0, maxBatch, maxQueue, 4096, 1L << 30, 1 << 16);
    }

    static TestServer start(OpenAiServer.Options options) throws IOException {
        NemotronHModel m = NemotronHModel.load(TINY);
        return new TestServer(m, m, options);
    }

    /** Serves the tiny model through a wrapper (e.g. {@link Gated}) built around it. */
    static TestServer start(OpenAiServer.Options options, java.util.function.Function<LanguageModel, LanguageModel> wrap)
            throws IOException {
        NemotronHModel m = NemotronHModel.load(TINY);
        return new TestServer(m, wrap.apply(m), options);
    }

    /** Serves the tiny model through a wrapper, with the adapters in {@code loras} (name to directory) beside it. */
    static TestServer start(OpenAiServer.Options options, java.util.function.Function<LanguageModel, LanguageModel> wrap,
                            Map<String, Path> loras) throws IOException {
        NemotronHModel m = NemotronHModel.load(TINY);
        LanguageModel served = wrap.apply(m);
        List<dev.nemoh.model.LoraAdapter> adapters = new java.util.ArrayList<>();
        loras.forEach((name, dir) -> adapters.add(served.loadAdapter(name, dir)));
        return new TestServer(m, served, options, adapters);
    }

    CompletionClient client() {
        return new CompletionClient(base);
    }

    Response post(String path, String body) throws IOException, InterruptedException {
        HttpRequest r = HttpRequest.newBuilder(base.resolve(path)).header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString(body)).build();
        HttpResponse<String> res = http.send(r, HttpResponse.BodyHandlers.ofString());
        return new Response(res.statusCode(), res.body());
    }

    Response get(String path) throws IOException, InterruptedException {
        HttpResponse<String> res = http.send(HttpRequest.newBuilder(base.resolve(path)).GET().build(),
                HttpResponse.BodyHandlers.ofString());
        return new Response(res.statusCode(), res.body());
    }

    /** A metric's value from {@code GET /metrics} text (the first line that starts with the name). */
    double metric(String name) throws IOException, InterruptedException {
        for (String line : get("/metrics").text().split("\n")) {
            if (line.startsWith(name + " ") || line.startsWith(name + "{")) return Double.parseDouble(line.substring(line.lastIndexOf(' ') + 1));
        }
        throw new AssertionError("no metric " + name);
    }

    /** Polls until {@code condition} holds, failing after five seconds. */
    static void await(String what, BooleanSupplier condition) throws InterruptedException {
        long end = System.nanoTime() + 5_000_000_000L;
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() > end) throw new AssertionError("timed out waiting until " + what);
            Thread.sleep(10);
        }
    }

    /** The chat prompt as the server renders it. */
    int[] chatPrompt(List<Map<String, Object>> messages) {
        return tokenizer.encode(ChatTemplate.of(tokenizer).render(messages, true), false);
    }

    /** What one sequence alone generates (the CLI's path), greedy unless {@code params} says otherwise. */
    TextGenerator.Result alone(int[] prompt, SamplingParams params, List<String> stops, TextSequence.Steering steering) {
        return new TextGenerator(model, tokenizer).generate(prompt, params.withStopTokenIds(STOP_TOKENS), stops, steering, s -> {});
    }

    @Override
    public void close() {
        server.close();
        model.close();
    }

    /** Streams {@code body} and returns the HTTP status and every line of the answer, within ten seconds. */
    Response streamLines(String path, String body) throws Exception {
        HttpRequest r = HttpRequest.newBuilder(base.resolve(path)).header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString(body)).build();
        HttpResponse<String> res = http.sendAsync(r, HttpResponse.BodyHandlers.ofString())
                .get(10, java.util.concurrent.TimeUnit.SECONDS);
        return new Response(res.statusCode(), res.body());
    }

    /** The model it wraps, to which every call goes unless a subclass changes it. */
    abstract static class Wrapper implements LanguageModel {
        final LanguageModel inner;

        Wrapper(LanguageModel inner) {
            this.inner = inner;
        }

        @Override
        public NemotronHConfig config() {
            return inner.config();
        }

        @Override
        public SequenceState newState() {
            return inner.newState();
        }

        @Override
        public SequenceState newState(int maxLength) {
            return inner.newState(maxLength);
        }

        @Override
        public SequenceState newState(int maxLength, dev.nemoh.model.LoraAdapter adapter) {
            return inner.newState(maxLength, adapter);
        }

        @Override
        public dev.nemoh.model.LoraAdapter loadAdapter(String name, Path dir) {
            return inner.loadAdapter(name, dir);
        }

        @Override
        public float[] forwardLast(int[] ids, SequenceState state) {
            return inner.forwardLast(ids, state);
        }

        @Override
        public float[] decodeBatch(int[] tokens, SequenceState[] states) {
            return inner.decodeBatch(tokens, states);
        }

        @Override
        public long cacheBytes(long contextLength) {
            return inner.cacheBytes(contextLength);
        }

        @Override
        public long decodeWeightBytes() {
            return inner.decodeWeightBytes();
        }

        @Override
        public void close() {
            inner.close();
        }
    }

    /**
     * A model whose decode step number {@code failAt} (counting from 1) throws what {@code fault} makes, as a model
     * that runs out of heap or stack would.
     */
    static final class Faulty extends Wrapper {
        private final int failAt;
        private final java.util.function.Supplier<Throwable> fault;
        private final java.util.concurrent.atomic.AtomicInteger steps = new java.util.concurrent.atomic.AtomicInteger();

        Faulty(LanguageModel inner, int failAt, java.util.function.Supplier<Throwable> fault) {
            super(inner);
            this.failAt = failAt;
            this.fault = fault;
        }

        @Override
        public float[] decodeBatch(int[] tokens, SequenceState[] states) {
            if (steps.incrementAndGet() == failAt) {
                Throwable t = fault.get();
                if (t instanceof Error e) throw e;
                throw (RuntimeException) t;
            }
            return inner.decodeBatch(tokens, states);
        }
    }

    /**
     * A model whose decode steps wait for permits, so a test can hold sequences mid-generation: a step takes one
     * permit (none at start; {@link #open()} lets every step through).
     */
    static final class Gated extends Wrapper {
        final Semaphore permits = new Semaphore(0);
        /** The most sequences one decode step has taken. */
        final java.util.concurrent.atomic.AtomicInteger maxBatch = new java.util.concurrent.atomic.AtomicInteger();
        private final long stepMillis;

        Gated(LanguageModel inner, long stepMillis) {
            super(inner);
            this.stepMillis = stepMillis;
        }

        void open() {
            permits.release(1 << 20);
        }

        @Override
        public float[] decodeBatch(int[] tokens, SequenceState[] states) {
            permits.acquireUninterruptibly();
            maxBatch.accumulateAndGet(tokens.length, Math::max);
            try {
                Thread.sleep(stepMillis);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            return inner.decodeBatch(tokens, states);
        }
    }

    /**
     * The tiny model with its logits replaced: each sequence's n-th generated token is the script's n-th, then the
     * end-of-sequence token. The real model still runs, so its states are what the scheduler expects.
     */
    static final class Scripted extends Wrapper {
        private final Map<SequenceState, Integer> generated = java.util.Collections.synchronizedMap(new java.util.IdentityHashMap<>());
        private volatile int[] tokens = new int[0];

        Scripted(LanguageModel inner) {
            super(inner);
        }

        /** From now on each new sequence writes {@code text}, then its end-of-sequence token. */
        void writes(Tokenizer tokenizer, String text) {
            tokens = tokenizer.encode(text, false);
        }

        private float[] next(SequenceState state) {
            int n = generated.merge(state, 1, Integer::sum) - 1;
            float[] logits = new float[inner.config().vocabSize];
            java.util.Arrays.fill(logits, -10f);
            logits[n < tokens.length ? tokens[n] : STOP_TOKENS.getFirst()] = 10f;
            return logits;
        }

        @Override
        public float[] forwardLast(int[] ids, SequenceState state) {
            inner.forwardLast(ids, state);
            return next(state);
        }

        @Override
        public float[] decodeBatch(int[] tokens, SequenceState[] states) {
            inner.decodeBatch(tokens, states);
            float[] out = new float[states.length * inner.config().vocabSize];
            for (int i = 0; i < states.length; i++) System.arraycopy(next(states[i]), 0, out, i * inner.config().vocabSize, inner.config().vocabSize);
            return out;
        }
    }
}
