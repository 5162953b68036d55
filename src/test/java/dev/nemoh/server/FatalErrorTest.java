package dev.nemoh.server;

import com.fasterxml.jackson.databind.JsonNode;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * An Error in the scheduler thread (out of heap, out of stack) is fatal: every running and queued request ends with
 * a 500 in OpenAI's error body (an error chunk then [DONE] when streaming), /health turns 503 saying why, new
 * requests get 503, and nothing waits forever.
 */
@Timeout(value = 60, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
class FatalErrorTest {
    static Supplier<Throwable> fault(String kind) {
        return switch (kind) {
            case "oom" -> () -> new OutOfMemoryError("Java heap space (injected)");
            case "soe" -> () -> new StackOverflowError("injected");
            default -> throw new IllegalArgumentException(kind);
        };
    }

    @ParameterizedTest
    @ValueSource(strings = {"oom", "soe"})
    void aFatalErrorFailsEveryRequestAndHealthTurns503(String kind) throws Exception {
        String error = kind.equals("oom") ? "OutOfMemoryError" : "StackOverflowError";
        TestServer.Gated[] gate = new TestServer.Gated[1];
        try (TestServer s = TestServer.start(TestServer.options(1, 4),
                m -> gate[0] = new TestServer.Gated(new TestServer.Faulty(m, 3, fault(kind)), 0));
             ExecutorService pool = Executors.newVirtualThreadPerTaskExecutor()) {
            String streamed = SchedulerBoundsTest.completion(50).put("stream", true).toString();
            Future<TestServer.Response> running = pool.submit(() -> s.streamLines("/v1/completions", streamed));
            TestServer.await("the first request runs", () -> metric(s, "nemoh_active_sequences") == 1);
            Future<TestServer.Response> queuedWhole = pool.submit(() -> s.post("/v1/completions", SchedulerBoundsTest.completion(5).toString()));
            Future<TestServer.Response> queuedStream = pool.submit(() -> s.streamLines("/v1/completions", streamed));
            TestServer.await("two requests wait", () -> metric(s, "nemoh_queue_depth") == 2);

            gate[0].open(); // step 3 throws
            for (Future<TestServer.Response> f : List.of(running, queuedStream)) {
                TestServer.Response r = f.get(10, TimeUnit.SECONDS);
                assertEquals(200, r.status(), "a stream has begun before the failure");
                List<String> data = r.text().lines().filter(l -> l.startsWith("data: ")).toList();
                assertEquals("data: [DONE]", data.getLast(), r.text());
                JsonNode err = Json.parse(data.get(data.size() - 2).substring(6).getBytes(StandardCharsets.UTF_8)).get("error");
                assertEquals("server_error", err.get("type").asText(), r.text());
                assertTrue(err.get("message").asText().contains(error), r.text());
            }
            TestServer.Response whole = queuedWhole.get(10, TimeUnit.SECONDS);
            assertEquals(500, whole.status(), whole.text());
            assertEquals("server_error", whole.json().get("error").get("type").asText());
            assertTrue(whole.json().get("error").get("message").asText().contains(error), whole.text());

            TestServer.Response health = s.get("/health");
            assertEquals(503, health.status(), health.text());
            assertEquals("error", health.json().get("status").asText());
            assertTrue(health.json().get("message").asText().contains(error), health.text());

            TestServer.Response after = s.post("/v1/completions", SchedulerBoundsTest.completion(5).toString());
            assertEquals(503, after.status(), after.text());
            assertTrue(after.json().get("error").get("message").asText().contains(error), after.text());

            assertEquals(0, metric(s, "nemoh_active_sequences"));
            assertEquals(0, metric(s, "nemoh_queue_depth"));
            assertEquals(0, metric(s, "nemoh_reserved_cache_bytes"));
            assertTrue(s.server.failure().isDone(), "the server reports its failure to whoever runs it");
        }
    }

    static double metric(TestServer s, String name) {
        try {
            return s.metric(name);
        } catch (Exception e) {
            throw new AssertionError(e);
        }
    }
}
