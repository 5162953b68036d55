package dev.nemoh.server;

import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.nemoh.cuda.CudaModel;
import dev.nemoh.cuda.TestDevice;
import dev.nemoh.tokenizer.Tokenizer;
import org.junit.jupiter.api.Test;

import java.net.URI;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The server on the cuda backend (the GPU, else the CPU emulator), where tokens are picked on the device and the
 * host's work on one step overlaps the next: seeded sampled requests, one ended by a stop string, one with logprobs
 * (picked on the host), one penalised, give the same text served two at a time, joining and leaving the batch, as
 * one at a time. (Batches of more than two round activations to bf16 for cuBLAS, which moves the logits: README,
 * Server.)
 */
class CudaServingTest {
    @Test
    void seededRequestsGiveTheSameTextTogetherAsAlone() throws Exception {
        TestDevice.cuda();
        Tokenizer tokenizer = Tokenizer.load(TestServer.TINY);
        List<ObjectNode> bodies = new ArrayList<>();
        for (int i = 0; i < 6; i++) {
            ObjectNode body = Json.object().put("prompt", "Client " + i + " says" + " hello".repeat(i)).put("max_tokens", 14)
                    .put("temperature", 0.9).put("top_p", 0.95).put("top_k", 40).put("seed", 100 + i);
            if (i == 1) body.put("presence_penalty", 1.5).put("repetition_penalty", 1.3);
            if (i == 2) body.put("logprobs", 2);
            if (i == 3) body.put("temperature", 0);
            bodies.add(body);
        }
        try (CudaModel model = CudaModel.load(TestServer.TINY)) {
            ServedModel served = ServedModel.of("nemoh-tiny", model, tokenizer, TestServer.STOP_TOKENS);
            List<CompletionClient.Streamed> alone = new ArrayList<>();
            try (OpenAiServer server = OpenAiServer.start(served, TestServer.options(1, 8))) {
                CompletionClient client = new CompletionClient(URI.create("http://127.0.0.1:" + server.port() + "/"));
                for (ObjectNode body : bodies) alone.add(client.stream("/v1/completions", body));
            }
            // a stop string taken from the middle of a text: that request ends there, while the step after it runs
            String text = alone.get(4).text();
            assertTrue(text.length() > 6, "too short a text to cut: " + text);
            String stop = text.substring(3, 6);
            bodies.get(4).putArray("stop").add(stop);
            try (OpenAiServer server = OpenAiServer.start(served, TestServer.options(2, 8));
                 ExecutorService pool = Executors.newVirtualThreadPerTaskExecutor()) {
                CompletionClient client = new CompletionClient(URI.create("http://127.0.0.1:" + server.port() + "/"));
                List<Future<CompletionClient.Streamed>> together = new ArrayList<>();
                for (ObjectNode body : bodies) together.add(pool.submit(() -> client.stream("/v1/completions", body)));
                for (int i = 0; i < bodies.size(); i++) {
                    CompletionClient.Streamed got = together.get(i).get();
                    if (i == 4) {
                        assertEquals(text.substring(0, text.indexOf(stop)), got.text());
                        assertEquals("stop", got.finishReason());
                    } else {
                        assertEquals(alone.get(i).text(), got.text(), "request " + i);
                        assertEquals(alone.get(i).completionTokens(), got.completionTokens(), "request " + i);
                    }
                }
                OpenAiServer.StepTimes t = server.stepTimes();
                assertTrue(t.steps() > 0 && t.decode() > 0 && t.wall() > 0, t.toString());
                long[] firstTokens = server.firstTokenNanos();
                assertEquals(bodies.size(), firstTokens.length);
                for (long ns : firstTokens) assertTrue(ns > 0, java.util.Arrays.toString(firstTokens));
            }
        }
    }
}
