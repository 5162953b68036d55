package dev.nemoh.server;

import com.fasterxml.jackson.databind.JsonNode;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * --request-timeout: a request that runs past it, running or still queued, ends with a 504 in OpenAI's error body
 * (an error chunk then [DONE] when streaming), and its sequence leaves the batch.
 */
@Timeout(value = 60, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
class RequestTimeoutTest {
    /** A cold JVM runs the Vector API kernels interpreted at first: the first requests take seconds. */
    static void warmUp() throws Exception {
        try (TestServer s = TestServer.start(TestServer.options(4, 4))) {
            for (int i = 0; i < 3; i++) assertEquals(200, s.post("/v1/completions", SchedulerBoundsTest.completion(8).toString()).status());
        }
    }

    @Test
    void requestsPastTheDeadlineEndWith504AndLeaveTheBatch() throws Exception {
        warmUp();
        // 50 ms a step: 3000 tokens would take 150 s; the deadline is 2 s
        OpenAiServer.Options options = TestServer.options(1, 4).withRequestTimeout(Duration.ofSeconds(2));
        try (TestServer s = TestServer.start(options, m -> {
            TestServer.Gated slow = new TestServer.Gated(m, 50);
            slow.open();
            return slow;
        }); ExecutorService pool = Executors.newVirtualThreadPerTaskExecutor()) {
            String streamed = SchedulerBoundsTest.completion(3000).put("stream", true).toString();
            long t0 = System.nanoTime();
            Future<TestServer.Response> running = pool.submit(() -> s.streamLines("/v1/completions", streamed));
            TestServer.await("the first request runs", () -> FatalErrorTest.metric(s, "nemoh_active_sequences") == 1);
            Future<TestServer.Response> queued = pool.submit(() -> s.post("/v1/completions", SchedulerBoundsTest.completion(3000).toString()));

            TestServer.Response r = running.get(10, TimeUnit.SECONDS);
            assertEquals(200, r.status());
            List<String> data = r.text().lines().filter(l -> l.startsWith("data: ")).toList();
            assertEquals("data: [DONE]", data.getLast(), r.text());
            JsonNode err = Json.parse(data.get(data.size() - 2).substring(6).getBytes(StandardCharsets.UTF_8)).get("error");
            assertEquals("request_timeout", err.get("code").asText(), r.text());
            assertTrue(err.get("message").asText().contains("--request-timeout"), r.text());

            TestServer.Response w = queued.get(10, TimeUnit.SECONDS);
            assertEquals(504, w.status(), w.text());
            assertEquals("request_timeout", w.json().get("error").get("code").asText());
            double seconds = (System.nanoTime() - t0) / 1e9;
            assertTrue(seconds < 6, "both ended at their deadline, not at their end: " + seconds + " s");

            TestServer.await("the sequences leave the batch", () -> FatalErrorTest.metric(s, "nemoh_active_sequences") == 0
                    && FatalErrorTest.metric(s, "nemoh_queue_depth") == 0);
            assertEquals(0, FatalErrorTest.metric(s, "nemoh_reserved_cache_bytes"));
            assertEquals(2, FatalErrorTest.metric(s, "nemoh_requests_timed_out_total"));
            assertEquals(0, FatalErrorTest.metric(s, "nemoh_requests_cancelled_total"));
        }
    }
}
