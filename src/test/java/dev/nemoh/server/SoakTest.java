package dev.nemoh.server;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.junit.jupiter.api.Test;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.lang.management.ManagementFactory;
import java.net.Socket;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Queue;
import java.util.Random;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.LongAdder;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The server under sustained load on loopback: 64 streaming clients for {@code -Dnemoh.soak.seconds} (60 by default,
 * the CI run; 300 for the documented one), each request drawn from a seeded stream ({@code -Dnemoh.soak.seed}): 70%
 * valid streamed completions or chats, 20% clients that hang up after a seeded number of chunks (some before the
 * first), 10% malformed requests. Every valid request must complete (its finish_reason consistent with its usage,
 * {@code data: [DONE]} last), every malformed one must get its 4xx with OpenAI's error body, and afterwards no
 * sequence, queued request or cache reservation may be left, and the heap after GC must be within 1.1x of where it
 * started (after a warm-up).
 */
class SoakTest {
    static final int CLIENTS = 64;
    static final String CHAT = "/v1/chat/completions", TEXT = "/v1/completions";

    record Malformed(String path, String method, String body, int status) {}

    static final List<Malformed> MALFORMED = List.of(
            new Malformed(TEXT, "POST", "{\"prompt\": \"hi\"", 400),
            new Malformed(TEXT, "POST", "", 400),
            new Malformed(TEXT, "POST", "{\"prompt\": \"hi\", \"max_tokens\": \"many\"}", 400),
            new Malformed(TEXT, "POST", "{\"prompt\": \"hi\", \"temperature\": -1}", 400),
            new Malformed(TEXT, "POST", "{\"prompt\": \"hi\", \"n\": 3}", 400),
            new Malformed(TEXT, "POST", "{\"prompt\": [1, 99999]}", 400),
            new Malformed(TEXT, "POST", "{\"prompt\": \"hi\", \"max_tokens\": 5000}", 400),
            new Malformed(CHAT, "POST", "{\"messages\": [{\"role\": \"wizard\", \"content\": \"hi\"}]}", 400),
            new Malformed(CHAT, "POST", "{\"model\": \"gpt-4o\", \"messages\": [{\"role\": \"user\", \"content\": \"hi\"}]}", 404),
            new Malformed(CHAT, "POST", "[" .repeat(100) + "]".repeat(100), 400),
            new Malformed(CHAT, "GET", null, 405),
            new Malformed("/v1/embeddings", "POST", "{\"input\": \"hi\"}", 404));

    final LongAdder completed = new LongAdder(), disconnected = new LongAdder(), malformed = new LongAdder(),
            tokens = new LongAdder();
    final Queue<String> failures = new ConcurrentLinkedQueue<>();

    static long heapAfterGc() throws InterruptedException {
        long used = Long.MAX_VALUE;
        for (int i = 0; i < 4; i++) {
            System.gc();
            Thread.sleep(100);
            used = Math.min(used, ManagementFactory.getMemoryMXBean().getHeapMemoryUsage().getUsed());
        }
        return used;
    }

    @Test
    void sixtyFourClientsWithDisconnectsAndMalformedRequests() throws Exception {
        long seconds = Long.getLong("nemoh.soak.seconds", 60);
        long seed = Long.getLong("nemoh.soak.seed", 1);
        assertTimeoutPreemptively(Duration.ofSeconds(seconds + 240), () -> soak(seconds, seed));
    }

    void soak(long seconds, long seed) throws Exception {
        OpenAiServer.Options options = new OpenAiServer.Options("127.0.0.1", 0, 32, 256, 4096, 1L << 30, 1 << 16);
        try (TestServer s = TestServer.start(options)) {
            // warm-up: the JIT, the server's pools, every kind of request
            run(s, seed - 1, 16, System.nanoTime() + 3_000_000_000L);
            completed.reset();
            disconnected.reset();
            malformed.reset();
            tokens.reset();
            awaitIdle(s);
            double cancelledBefore = s.metric("nemoh_requests_cancelled_total");
            long heapStart = heapAfterGc();

            long t0 = System.nanoTime();
            run(s, seed, CLIENTS, t0 + seconds * 1_000_000_000L);
            double elapsed = (System.nanoTime() - t0) / 1e9;
            awaitIdle(s);
            long heapEnd = heapAfterGc();
            double cancelled = s.metric("nemoh_requests_cancelled_total") - cancelledBefore;

            String summary = String.format(Locale.ROOT, "soak: %d clients, %.1f s, seed %d: %d requests completed (%d tokens),"
                            + " %d disconnects (%d cancelled generations), %d malformed; heap after GC %.1f MiB at start, %.1f MiB at"
                            + " end (%.3fx); %d failures", CLIENTS, elapsed, seed, completed.sum(), tokens.sum(), disconnected.sum(),
                    (long) cancelled, malformed.sum(), heapStart / 1048576.0, heapEnd / 1048576.0, (double) heapEnd / heapStart,
                    failures.size());
            System.out.println(summary);
            Files.writeString(Path.of("target", "soak-" + seconds + "s.txt"), summary + "\n");
            assertTrue(failures.isEmpty(), failures.size() + " failures, the first: " + failures.stream().limit(5).toList());
            assertTrue(completed.sum() > 0 && disconnected.sum() > 0 && malformed.sum() > 0, summary);
            assertTrue(cancelled <= disconnected.sum(), summary);
            assertEquals(0, s.metric("nemoh_active_sequences"));
            assertEquals(0, s.metric("nemoh_queue_depth"));
            assertEquals(0, s.metric("nemoh_reserved_cache_bytes"));
            assertTrue(heapEnd <= 1.1 * heapStart, summary);
        }
    }

    /** Waits until no sequence runs or waits (the last disconnects show at the next step or keep-alive). */
    static void awaitIdle(TestServer s) throws InterruptedException {
        long end = System.nanoTime() + 30_000_000_000L;
        while (true) {
            try {
                if (s.metric("nemoh_active_sequences") == 0 && s.metric("nemoh_queue_depth") == 0
                        && s.metric("nemoh_reserved_cache_bytes") == 0) return;
            } catch (java.io.IOException e) {
                throw new AssertionError(e);
            }
            if (System.nanoTime() > end) throw new AssertionError("the server did not go idle within 30 s");
            Thread.sleep(20);
        }
    }

    /** The clients, each with its seeded stream of requests, until {@code endNanos}; their HTTP client is closed after. */
    void run(TestServer s, long seed, int clients, long endNanos) throws Exception {
        try (HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();
             ExecutorService pool = Executors.newVirtualThreadPerTaskExecutor()) {
            List<Future<?>> all = new ArrayList<>();
            for (int c = 0; c < clients; c++) {
                Random r = new Random(seed * 1_000_003 + c);
                int client = c;
                all.add(pool.submit(() -> {
                    for (int n = 0; System.nanoTime() < endNanos; n++) {
                        String what = "client " + client + " request " + n;
                        try {
                            double x = r.nextDouble();
                            if (x < 0.10) malformed(s, http, MALFORMED.get(r.nextInt(MALFORMED.size())), what);
                            else if (x < 0.30) disconnect(s, r, what);
                            else valid(s, http, r, what);
                        } catch (Exception e) {
                            failures.add(what + ": " + e);
                        }
                    }
                    return null;
                }));
            }
            for (Future<?> f : all) f.get(10, TimeUnit.MINUTES);
        }
    }

    void malformed(TestServer s, HttpClient http, Malformed m, String what) throws Exception {
        HttpRequest.Builder b = HttpRequest.newBuilder(s.base.resolve(m.path())).timeout(Duration.ofSeconds(60));
        b.method(m.method(), m.body() == null ? HttpRequest.BodyPublishers.noBody() : HttpRequest.BodyPublishers.ofString(m.body()));
        HttpResponse<String> r = http.send(b.build(), HttpResponse.BodyHandlers.ofString());
        JsonNode error = Json.parse(r.body().getBytes(StandardCharsets.UTF_8)).path("error");
        if (r.statusCode() != m.status() || !error.hasNonNull("message") || !error.hasNonNull("type")) {
            failures.add(what + " (malformed " + m.body() + "): HTTP " + r.statusCode() + " " + r.body());
        }
        malformed.increment();
    }

    /** A streamed request whose client hangs up after a seeded number of data chunks (0: before the first). */
    void disconnect(TestServer s, Random r, String what) throws Exception {
        int after = r.nextInt(9);
        String body = Json.object().put("prompt", "Tell me a long story " + r.nextInt(100)).put("max_tokens", 300)
                .put("ignore_eos", true).put("stream", true).toString();
        byte[] bytes = body.getBytes(StandardCharsets.UTF_8);
        try (Socket socket = new Socket("127.0.0.1", s.server.port())) {
            socket.setSoTimeout(60_000);
            OutputStream out = socket.getOutputStream();
            out.write(("POST /v1/completions HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: "
                    + bytes.length + "\r\n\r\n").getBytes(StandardCharsets.UTF_8));
            out.write(bytes);
            out.flush();
            BufferedReader in = new BufferedReader(new InputStreamReader(socket.getInputStream(), StandardCharsets.UTF_8));
            String status = in.readLine();
            if (status == null || !status.startsWith("HTTP/1.1 200")) failures.add(what + " (disconnecting): " + status);
            int chunks = 0;
            for (String line; chunks < after && (line = in.readLine()) != null; ) if (line.startsWith("data: ")) chunks++;
        }
        disconnected.increment();
    }

    void valid(TestServer s, HttpClient http, Random r, String what) throws Exception {
        boolean chat = r.nextBoolean(), ignoreEos = r.nextInt(3) == 0;
        int maxTokens = 1 + r.nextInt(48);
        ObjectNode body = Json.object().put("max_tokens", maxTokens).put("stream", true);
        if (ignoreEos) body.put("ignore_eos", true);
        if (r.nextBoolean()) body.put("temperature", 0);
        else body.put("temperature", 0.8).put("top_p", 0.9).put("seed", r.nextInt(1000));
        if (r.nextInt(4) != 0) body.putObject("stream_options").put("include_usage", true);
        String text = "Request " + r.nextInt(1000) + " says" + " hello".repeat(r.nextInt(20));
        if (chat) body.putArray("messages").addObject().put("role", "user").put("content", text);
        else body.put("prompt", text);
        HttpRequest post = HttpRequest.newBuilder(s.base.resolve(chat ? CHAT : TEXT)).timeout(Duration.ofSeconds(120))
                .header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers.ofString(body.toString())).build();
        HttpResponse<String> res = http.send(post, HttpResponse.BodyHandlers.ofString());
        if (res.statusCode() != 200) {
            failures.add(what + ": HTTP " + res.statusCode() + " " + res.body());
            return;
        }
        List<String> data = res.body().lines().filter(l -> l.startsWith("data: ")).map(l -> l.substring(6)).toList();
        if (data.isEmpty() || !data.getLast().equals("[DONE]")) {
            failures.add(what + ": no data: [DONE] at the end: " + res.body());
            return;
        }
        String finish = null;
        int chunkTokens = 0, usageTokens = -1;
        for (String d : data.subList(0, data.size() - 1)) {
            JsonNode chunk = Json.parse(d.getBytes(StandardCharsets.UTF_8));
            if (chunk.has("error")) {
                failures.add(what + ": error event " + d);
                return;
            }
            if (chunk.hasNonNull("usage")) usageTokens = chunk.get("usage").get("completion_tokens").asInt();
            for (JsonNode choice : chunk.path("choices")) {
                if (choice.hasNonNull("finish_reason")) {
                    if (finish != null) failures.add(what + ": two finish reasons");
                    finish = choice.get("finish_reason").asText();
                }
            }
            chunkTokens++;
        }
        if (finish == null) {
            failures.add(what + ": no finish_reason");
            return;
        }
        if (ignoreEos && !finish.equals("length")) failures.add(what + ": ignore_eos ended with " + finish);
        if (!finish.equals("length") && !finish.equals("stop")) failures.add(what + ": finish_reason " + finish);
        if (usageTokens >= 0) {
            if (finish.equals("length") && usageTokens != maxTokens) failures.add(what + ": length after " + usageTokens + " of " + maxTokens);
            if (usageTokens > maxTokens) failures.add(what + ": " + usageTokens + " tokens for max_tokens " + maxTokens);
            if (ignoreEos && usageTokens != maxTokens) failures.add(what + ": ignore_eos gave " + usageTokens + " of " + maxTokens);
            tokens.add(usageTokens);
        }
        if (chunkTokens == 0) failures.add(what + ": no chunks");
        completed.increment();
    }
}
