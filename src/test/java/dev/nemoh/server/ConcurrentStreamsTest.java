package dev.nemoh.server;

import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.nemoh.chat.ChatTemplate;
import dev.nemoh.chat.Reasoning;
import dev.nemoh.generate.SamplingParams;
import dev.nemoh.generate.TextGenerator;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The load test of the issue: 32 concurrent streaming clients on loopback, each getting what it would get alone. */
class ConcurrentStreamsTest {
    static final int CLIENTS = 32;

    @Test
    void thirtyTwoStreamsEachGetTheirOwnGreedyText() throws Exception {
        TestServer.Gated[] gate = new TestServer.Gated[1];
        try (TestServer s = TestServer.start(TestServer.options(CLIENTS, CLIENTS), m -> gate[0] = new TestServer.Gated(m, 0));
             ExecutorService pool = Executors.newVirtualThreadPerTaskExecutor()) {
            List<String> paths = new ArrayList<>();
            List<ObjectNode> bodies = new ArrayList<>();
            List<TextGenerator.Result> expected = new ArrayList<>();
            List<Boolean> isChat = new ArrayList<>();
            for (int i = 0; i < CLIENTS; i++) {
                // prompts of different lengths, half chat (thinking) and half plain completions, different max_tokens
                int maxTokens = 12 + i % 5 * 4;
                ObjectNode body = Json.object().put("max_tokens", maxTokens).put("temperature", 0);
                String text = "Client " + i + " says" + " hello".repeat(i % 7);
                int[] prompt;
                String path;
                if (i % 2 == 0) {
                    List<Map<String, Object>> messages = ChatTemplate.messages("user", text);
                    body.set("messages", Json.MAPPER.valueToTree(messages));
                    prompt = s.chatPrompt(messages);
                    path = "/v1/chat/completions";
                } else {
                    body.put("prompt", text);
                    prompt = s.tokenizer.encode(text, true);
                    path = "/v1/completions";
                }
                expected.add(s.alone(prompt, SamplingParams.greedy().withMaxTokens(maxTokens), List.of(), null));
                isChat.add(i % 2 == 0);
                paths.add(path);
                bodies.add(body);
            }
            // the first decode step waits until every client is in, so that all are decoded together from then on;
            // the tiny model is fast enough to finish one request before the next one would arrive
            List<Future<CompletionClient.Streamed>> streams = new ArrayList<>();
            for (int i = 0; i < CLIENTS; i++) {
                String path = paths.get(i);
                ObjectNode body = bodies.get(i);
                streams.add(pool.submit(() -> s.client().stream(path, body)));
            }
            TestServer.await("all clients are in", () -> {
                try {
                    return s.metric("nemoh_active_sequences") + s.metric("nemoh_queue_depth") == CLIENTS;
                } catch (Exception e) {
                    throw new AssertionError(e);
                }
            });
            gate[0].open();
            for (int i = 0; i < CLIENTS; i++) {
                CompletionClient.Streamed got = streams.get(i).get();
                TextGenerator.Result alone = expected.get(i);
                if (isChat.get(i)) {
                    Reasoning.Parts parts = Reasoning.split(alone.text(), true);
                    assertEquals(parts.reasoning(), got.reasoning().strip(), "client " + i + " reasoning");
                    assertEquals(parts.answer(), got.text().strip(), "client " + i + " answer");
                } else {
                    assertEquals(alone.text(), got.text(), "client " + i);
                }
                assertEquals(alone.completionTokens(), got.completionTokens(), "client " + i + " tokens");
                assertEquals(alone.finish().openAiName(), got.finishReason(), "client " + i + " finish");
            }
            double steps = s.metric("nemoh_decode_steps_total"), rows = s.metric("nemoh_decode_rows_total");
            assertTrue(rows / steps > 16, "sequences were decoded together: " + rows + " rows in " + steps + " steps");
            assertEquals(CLIENTS / 2, s.server.metricsCount("/v1/chat/completions", 200));
            assertEquals(0, s.metric("nemoh_active_sequences"));
        }
    }
}
