package dev.nemoh.server;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.nemoh.chat.ChatTemplate;
import dev.nemoh.chat.Reasoning;
import dev.nemoh.chat.ThinkingBudget;
import dev.nemoh.generate.SamplingParams;
import dev.nemoh.generate.TextGenerator;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The endpoints on the bundled tiny model, each answer checked against the same generation run alone. */
class OpenAiServerTest {
    static TestServer s;

    @BeforeAll
    static void start() throws Exception {
        s = TestServer.start(TestServer.options(8, 64));
    }

    @AfterAll
    static void stop() {
        s.close();
    }

    static final List<Map<String, Object>> THINKING = ChatTemplate.messages("user", "Tell me about Mamba.");
    static final List<Map<String, Object>> NO_THINK = ChatTemplate.messages("system", "/no_think", "user", "Tell me about Mamba.");

    static String chatBody(List<Map<String, Object>> messages, String extra) {
        StringBuilder b = new StringBuilder("{\"model\": \"nemoh-tiny\", \"messages\": [");
        for (int i = 0; i < messages.size(); i++) {
            if (i > 0) b.append(", ");
            b.append(Json.MAPPER.valueToTree(messages.get(i)).toString());
        }
        return b.append("], ").append(extra).append("}").toString();
    }

    @Test
    void modelsHealthAndMetrics() throws Exception {
        JsonNode models = s.get("/v1/models").json();
        assertEquals("list", models.get("object").asText());
        assertEquals("nemoh-tiny", models.get("data").get(0).get("id").asText());
        assertEquals(4096, models.get("data").get(0).get("max_model_len").asInt());
        assertEquals("nemoh-tiny", s.get("/v1/models/nemoh-tiny").json().get("id").asText());
        TestServer.Response missing = s.get("/v1/models/gpt-4");
        assertEquals(404, missing.status());
        assertEquals("model_not_found", missing.json().get("error").get("code").asText());
        assertEquals("ok", s.get("/health").json().get("status").asText());
        String metrics = s.get("/metrics").text();
        for (String name : List.of("nemoh_requests_total", "nemoh_prompt_tokens_total", "nemoh_generation_tokens_total",
                "nemoh_queue_depth", "nemoh_batch_size", "nemoh_active_sequences", "nemoh_generation_tokens_per_second")) {
            assertTrue(metrics.contains("# TYPE " + name + " "), name + " in\n" + metrics);
        }
    }

    @Test
    void chatSeparatesReasoningAndCountsUsage() throws Exception {
        TestServer.Response r = s.post("/v1/chat/completions", chatBody(THINKING, "\"max_tokens\": 20, \"temperature\": 0"));
        assertEquals(200, r.status(), r.text());
        JsonNode body = r.json();
        int[] prompt = s.chatPrompt(THINKING);
        TextGenerator.Result alone = s.alone(prompt, SamplingParams.greedy().withMaxTokens(20), List.of(), null);
        Reasoning.Parts parts = Reasoning.split(alone.text(), true);
        JsonNode choice = body.get("choices").get(0);
        assertEquals("chat.completion", body.get("object").asText());
        assertEquals(parts.reasoning(), choice.get("message").get("reasoning_content").asText());
        assertEquals(parts.answer(), choice.get("message").get("content").asText());
        assertEquals(alone.finish().openAiName(), choice.get("finish_reason").asText());
        assertEquals(prompt.length, body.get("usage").get("prompt_tokens").asInt());
        assertEquals(alone.completionTokens(), body.get("usage").get("completion_tokens").asInt());
        assertEquals(prompt.length + alone.completionTokens(), body.get("usage").get("total_tokens").asInt());
    }

    @Test
    void noThinkPutsEverythingInContent() throws Exception {
        JsonNode body = s.post("/v1/chat/completions", chatBody(NO_THINK, "\"max_tokens\": 16, \"temperature\": 0")).json();
        TextGenerator.Result alone = s.alone(s.chatPrompt(NO_THINK), SamplingParams.greedy().withMaxTokens(16), List.of(), null);
        JsonNode message = body.get("choices").get(0).get("message");
        assertTrue(message.get("reasoning_content").isNull());
        assertEquals(Reasoning.split(alone.text(), false).answer(), message.get("content").asText());
        assertFalse(message.get("content").asText().isEmpty());
    }

    @Test
    void streamedChatAddsUpToTheWholeAnswer() throws Exception {
        ObjectNode body = (ObjectNode) Json.parse(chatBody(THINKING, "\"max_tokens\": 24, \"temperature\": 0").getBytes());
        CompletionClient.Streamed streamed = s.client().stream("/v1/chat/completions", body);
        TextGenerator.Result alone = s.alone(s.chatPrompt(THINKING), SamplingParams.greedy().withMaxTokens(24), List.of(), null);
        Reasoning.Parts parts = Reasoning.split(alone.text(), true);
        assertEquals(parts.reasoning(), streamed.reasoning().strip());
        assertEquals(parts.answer(), streamed.text().strip());
        assertEquals(alone.completionTokens(), streamed.completionTokens());
        assertEquals(alone.finish().openAiName(), streamed.finishReason());
    }

    @Test
    void thinkingBudgetClosesTheReasoningAsTheCliDoes() throws Exception {
        JsonNode body = s.post("/v1/chat/completions",
                chatBody(THINKING, "\"max_tokens\": 30, \"temperature\": 0, \"thinking_budget\": 5")).json();
        int[] prompt = s.chatPrompt(THINKING);
        var budget = ThinkingBudget.of(s.tokenizer, 5, ThinkingBudget.Mode.STRICT, true).steering();
        TextGenerator.Result alone = s.alone(prompt, SamplingParams.greedy().withMaxTokens(30), List.of(), budget);
        Reasoning.Parts parts = Reasoning.split(alone.text(), true);
        assertTrue(parts.closed(), "the budget closed the reasoning: " + alone.text());
        JsonNode message = body.get("choices").get(0).get("message");
        assertEquals(parts.reasoning(), message.get("reasoning_content").asText(""));
        assertEquals(parts.answer(), message.get("content").asText());
        assertFalse(parts.answer().isEmpty());
    }

    @Test
    void completionsStopAtStopSequencesAndMaxTokens() throws Exception {
        int[] prompt = s.tokenizer.encode("Hello world", true);
        TextGenerator.Result full = s.alone(prompt, SamplingParams.greedy().withMaxTokens(40), List.of(), null);
        JsonNode whole = s.post("/v1/completions", "{\"prompt\": \"Hello world\", \"max_tokens\": 40, \"temperature\": 0}").json();
        assertEquals(full.text(), whole.get("choices").get(0).get("text").asText());
        assertEquals("text_completion", whole.get("object").asText());
        assertEquals(full.finish().openAiName(), whole.get("choices").get(0).get("finish_reason").asText());

        String stop = full.text().substring(full.text().length() / 2, full.text().length() / 2 + 3);
        JsonNode cut = s.post("/v1/completions", "{\"prompt\": \"Hello world\", \"max_tokens\": 40, \"temperature\": 0, \"stop\": "
                + Json.MAPPER.valueToTree(List.of(stop)) + "}").json();
        assertEquals(full.text().substring(0, full.text().indexOf(stop)), cut.get("choices").get(0).get("text").asText());
        assertEquals("stop", cut.get("choices").get(0).get("finish_reason").asText());

        JsonNode ids = s.post("/v1/completions", "{\"prompt\": " + Json.MAPPER.valueToTree(prompt) + ", \"max_tokens\": 3, \"temperature\": 0}").json();
        assertEquals("length", ids.get("choices").get(0).get("finish_reason").asText());
        assertEquals(3, ids.get("usage").get("completion_tokens").asInt());
        assertEquals(s.alone(prompt, SamplingParams.greedy().withMaxTokens(3), List.of(), null).text(),
                ids.get("choices").get(0).get("text").asText());
    }

    @Test
    void seededSamplingIsReproducibleAndMatchesTheCli() throws Exception {
        String req = "{\"prompt\": \"Once upon\", \"max_tokens\": 24, \"temperature\": 0.9, \"top_p\": 0.95, \"seed\": 1234}";
        String a = s.post("/v1/completions", req).json().get("choices").get(0).get("text").asText();
        String b = s.post("/v1/completions", req).json().get("choices").get(0).get("text").asText();
        assertEquals(a, b);
        SamplingParams p = SamplingParams.builder().temperature(0.9).topP(0.95).seed(1234L).maxTokens(24).build();
        assertEquals(s.alone(s.tokenizer.encode("Once upon", true), p, List.of(), null).text(), a);
    }

    @Test
    void logprobsInBothFormats() throws Exception {
        JsonNode chat = s.post("/v1/chat/completions",
                chatBody(NO_THINK, "\"max_tokens\": 6, \"temperature\": 0, \"logprobs\": true, \"top_logprobs\": 3")).json();
        JsonNode content = chat.get("choices").get(0).get("logprobs").get("content");
        assertEquals(chat.get("usage").get("completion_tokens").asInt(), content.size());
        for (JsonNode entry : content) {
            assertEquals(3, entry.get("top_logprobs").size());
            assertTrue(entry.get("logprob").asDouble() <= 0);
            // greedy: the chosen token is the most likely one
            assertEquals(entry.get("logprob").asDouble(), entry.get("top_logprobs").get(0).get("logprob").asDouble(), 1e-9);
        }
        JsonNode text = s.post("/v1/completions",
                "{\"prompt\": \"Hi\", \"max_tokens\": 5, \"temperature\": 0, \"logprobs\": 2}").json().get("choices").get(0);
        JsonNode lp = text.get("logprobs");
        assertEquals(5, lp.get("tokens").size());
        assertEquals(5, lp.get("token_logprobs").size());
        assertEquals(2, lp.get("top_logprobs").get(0).size());
        assertEquals(0, lp.get("text_offset").get(0).asInt());
        assertTrue(text.get("logprobs").get("token_logprobs").get(0).asDouble() <= 0);
    }
}
