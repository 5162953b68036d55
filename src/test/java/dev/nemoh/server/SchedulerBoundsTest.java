package dev.nemoh.server;

import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.nemoh.generate.SamplingParams;
import org.junit.jupiter.api.Test;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

@org.junit.jupiter.api.Timeout(value = 60, threadMode = org.junit.jupiter.api.Timeout.ThreadMode.SEPARATE_THREAD)
/** Queueing, 429 at the queue bound, the cache memory bound, cancellation on disconnect and 503 at shutdown. */
class SchedulerBoundsTest {
    static ObjectNode completion(int maxTokens) {
        return Json.object().put("prompt", "Tell me more").put("max_tokens", maxTokens).put("temperature", 0)
                .put("ignore_eos", true);
    }

    @Test
    void aFullQueueAnswers429AndQueuedRequestsRunLater() throws Exception {
        TestServer.Gated[] gate = new TestServer.Gated[1];
        try (TestServer s = TestServer.start(TestServer.options(1, 1), m -> gate[0] = new TestServer.Gated(m, 0));
             ExecutorService pool = Executors.newVirtualThreadPerTaskExecutor()) {
            Future<CompletionClient.Streamed> first = pool.submit(() -> s.client().stream("/v1/completions", completion(4)));
            TestServer.await("the first request runs", () -> metric(s, "nemoh_active_sequences") == 1);
            Future<CompletionClient.Streamed> second = pool.submit(() -> s.client().stream("/v1/completions", completion(4)));
            TestServer.await("the second request waits", () -> metric(s, "nemoh_queue_depth") == 1);

            TestServer.Response refused = s.post("/v1/completions", completion(4).toString());
            assertEquals(429, refused.status(), refused.text());
            assertEquals("queue_full", refused.json().get("error").get("code").asText());
            assertEquals(1, metric(s, "nemoh_requests_rejected_total"));

            gate[0].open();
            assertEquals(4, first.get().completionTokens());
            assertEquals(4, second.get().completionTokens());
            assertEquals(first.get().text(), second.get().text());
        }
    }

    @Test
    void sequencesWaitUntilTheirCacheFitsInTheMemoryBound() throws Exception {
        TestServer.Gated[] gate = new TestServer.Gated[1];
        int promptTokens = dev.nemoh.tokenizer.Tokenizer.load(TestServer.TINY).encode("Tell me more", true).length;
        long one = dev.nemoh.config.NemotronHConfig.load(TestServer.TINY).cacheBytes(promptTokens + 100, 4);
        // room for one sequence of 100 tokens, not two
        OpenAiServer.Options options = new OpenAiServer.Options("127.0.0.1", 0, 8, 8, 4096, one * 3 / 2, 1 << 16);
        try (TestServer s = TestServer.start(options, m -> gate[0] = new TestServer.Gated(m, 0));
             ExecutorService pool = Executors.newVirtualThreadPerTaskExecutor()) {
            Future<CompletionClient.Streamed> first = pool.submit(() -> s.client().stream("/v1/completions", completion(100)));
            TestServer.await("the first request runs", () -> metric(s, "nemoh_active_sequences") == 1);
            Future<CompletionClient.Streamed> second = pool.submit(() -> s.client().stream("/v1/completions", completion(100)));
            TestServer.await("the second request waits", () -> metric(s, "nemoh_queue_depth") == 1);
            assertEquals(1, metric(s, "nemoh_active_sequences"), "room in the batch, but not in memory");
            assertEquals(one, metric(s, "nemoh_reserved_cache_bytes"));

            TestServer.Response tooBig = s.post("/v1/completions", completion(1000).toString());
            assertEquals(400, tooBig.status());
            assertTrue(tooBig.json().get("error").get("message").asText().contains("cache bound"), tooBig.text());

            gate[0].open();
            assertEquals(100, first.get().completionTokens());
            assertEquals(100, second.get().completionTokens());
        }
    }

    @Test
    void aClientThatGoesAwayCancelsItsGeneration() throws Exception {
        try (TestServer s = TestServer.start(TestServer.options(4, 4), m -> {
            TestServer.Gated slow = new TestServer.Gated(m, 5);
            slow.open();
            return slow;
        })) {
            String body = completion(3000).put("stream", true).toString();
            try (Socket socket = new Socket("127.0.0.1", s.server.port())) {
                OutputStream out = socket.getOutputStream();
                out.write(("POST /v1/completions HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: "
                        + body.getBytes(StandardCharsets.UTF_8).length + "\r\n\r\n" + body).getBytes(StandardCharsets.UTF_8));
                out.flush();
                BufferedReader in = new BufferedReader(new InputStreamReader(socket.getInputStream(), StandardCharsets.UTF_8));
                int chunks = 0;
                for (String line; chunks < 3 && (line = in.readLine()) != null; ) if (line.startsWith("data: ")) chunks++;
                assertEquals(3, chunks);
                assertEquals(1, metric(s, "nemoh_active_sequences"));
            }
            TestServer.await("the generation is dropped", () -> metric(s, "nemoh_active_sequences") == 0);
            assertEquals(1, metric(s, "nemoh_requests_cancelled_total"));
            assertTrue(metric(s, "nemoh_generation_tokens_total") < 1000, "stopped long before its 3000 tokens");
            assertEquals(0, metric(s, "nemoh_reserved_cache_bytes"));
        }
    }

    @Test
    void maxQueueZeroStartsARequestWhenASlotIsFreeAndRefusesOtherwise() throws Exception {
        TestServer.Gated[] gate = new TestServer.Gated[1];
        try (TestServer s = TestServer.start(TestServer.options(2, 0), m -> gate[0] = new TestServer.Gated(m, 0));
             ExecutorService pool = Executors.newVirtualThreadPerTaskExecutor()) {
            Future<CompletionClient.Streamed> first = pool.submit(() -> s.client().stream("/v1/completions", completion(4)));
            TestServer.await("the first request runs", () -> metric(s, "nemoh_active_sequences") == 1);
            // the second place is free: taken, it joins at the next step (the held one)
            Future<CompletionClient.Streamed> second = pool.submit(() -> s.client().stream("/v1/completions", completion(4)));
            TestServer.await("the second request is taken", () -> metric(s, "nemoh_queue_depth") == 1);

            TestServer.Response refused = s.post("/v1/completions", completion(4).toString());
            assertEquals(429, refused.status(), refused.text());
            assertTrue(refused.json().get("error").get("message").asText().contains("--max-queue 0"), refused.text());

            gate[0].open();
            assertEquals(4, first.get().completionTokens());
            assertEquals(4, second.get().completionTokens());
            TestServer.await("the batch empties", () -> metric(s, "nemoh_active_sequences") == 0);
            TestServer.Response third = s.post("/v1/completions", completion(4).toString());
            assertEquals(200, third.status(), third.text());
        }
    }

    @Test
    void aQueuedRequestWhoseClientGoesAwayLeavesTheQueueAtOnce() throws Exception {
        TestServer.Gated[] gate = new TestServer.Gated[1];
        try (TestServer s = TestServer.start(TestServer.options(1, 4), m -> gate[0] = new TestServer.Gated(m, 0));
             ExecutorService pool = Executors.newVirtualThreadPerTaskExecutor()) {
            Future<CompletionClient.Streamed> first = pool.submit(() -> s.client().stream("/v1/completions", completion(4)));
            TestServer.await("the first request runs", () -> metric(s, "nemoh_active_sequences") == 1);
            String body = completion(4).put("stream", true).toString();
            try (Socket socket = new Socket("127.0.0.1", s.server.port())) {
                OutputStream out = socket.getOutputStream();
                out.write(("POST /v1/completions HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: "
                        + body.getBytes(StandardCharsets.UTF_8).length + "\r\n\r\n" + body).getBytes(StandardCharsets.UTF_8));
                out.flush();
                TestServer.await("the second request waits", () -> metric(s, "nemoh_queue_depth") == 1);
            }
            // the decode step is still held: only the disconnect, seen at the next keep-alive, can empty the queue
            TestServer.await("the cancelled request leaves the queue", () -> metric(s, "nemoh_queue_depth") == 0);
            assertEquals(1, metric(s, "nemoh_requests_cancelled_total"));
            assertEquals(1, metric(s, "nemoh_active_sequences"));
            gate[0].open();
            assertEquals(4, first.get().completionTokens());
        }
    }

    @Test
    void healthTurns503WhileShuttingDown() throws Exception {
        TestServer.Gated[] gate = new TestServer.Gated[1];
        TestServer s = TestServer.start(TestServer.options(2, 2), m -> gate[0] = new TestServer.Gated(m, 0));
        try (ExecutorService pool = Executors.newVirtualThreadPerTaskExecutor()) {
            Future<CompletionClient.Streamed> running = pool.submit(() -> s.client().stream("/v1/completions", completion(4)));
            TestServer.await("the request runs", () -> metric(s, "nemoh_active_sequences") == 1);
            Future<?> closing = pool.submit(s::close); // waits for the running request
            TestServer.Response[] health = new TestServer.Response[1];
            TestServer.await("health says the server is stopping", () -> {
                try {
                    health[0] = s.get("/health");
                } catch (Exception e) {
                    throw new AssertionError(e);
                }
                return health[0].status() == 503;
            });
            assertEquals("shutting_down", health[0].json().get("status").asText(), health[0].text());
            gate[0].open();
            assertEquals(4, running.get().completionTokens(), "the running request finishes");
            closing.get();
        }
    }

    @Test
    void aClosedSchedulerRefusesWith503() {
        try (var m = dev.nemoh.model.NemotronHModel.load(TestServer.TINY)) {
            Scheduler scheduler = new Scheduler(m, dev.nemoh.tokenizer.Tokenizer.load(TestServer.TINY),
                    new Scheduler.Limits(2, 2, 1L << 30), new Metrics(), null);
            scheduler.close();
            Job job = new Job(null, new int[] {1, 5}, SamplingParams.greedy(), List.of(), null, null, 1);
            ApiException e = assertThrows(ApiException.class, () -> scheduler.submit(job));
            assertEquals(503, e.status);
        }
    }

    private static double metric(TestServer s, String name) {
        try {
            return s.metric(name);
        } catch (Exception e) {
            throw new AssertionError(e);
        }
    }
}
