package dev.nemoh.server;

import com.fasterxml.jackson.databind.JsonNode;
import dev.nemoh.chat.Reasoning;
import dev.nemoh.generate.SamplingParams;
import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Served with {@code --prefix-cache-mib}, two chats that share a long system prompt: the second resumes from it
 * (the metrics and its usage say how many tokens), and answers as a sequence prefilled whole does.
 */
class PrefixCacheServerTest {
    static final int INTERVAL = 256;

    static List<Map<String, Object>> chat(String system, String user) {
        return List.of(Map.of("role", "system", "content", system + " /no_think"), Map.of("role", "user", "content", user));
    }

    @Test
    void aSharedSystemPromptIsPrefilledOnce() throws Exception {
        try (TestServer s = TestServer.start(TestServer.options(4, 4).withPrefixCache(64L << 20, INTERVAL))) {
            StringBuilder system = new StringBuilder("You are a careful assistant.");
            for (int i = 0; s.tokenizer.encode(system.toString(), false).length < 3000; i++) {
                system.append(" Rule ").append(i).append(": answer briefly, cite sources, and never guess.");
            }
            List<Map<String, Object>> first = chat(system.toString(), "What is a hybrid model?");
            List<Map<String, Object>> second = chat(system.toString(), "Why is its state fixed in size?");
            int[] a = s.chatPrompt(first), b = s.chatPrompt(second);
            int shared = 0;
            while (shared < Math.min(a.length, b.length) && a[shared] == b[shared]) shared++;
            assertTrue(shared >= 3000, "the prompts share the system prompt: " + shared + " tokens");

            String extra = "\"max_tokens\": 12, \"temperature\": 0";
            assertEquals(200, s.post("/v1/chat/completions", OpenAiServerTest.chatBody(first, extra)).status());
            assertEquals(0, s.metric("nemoh_prefix_cache_hit_tokens_total"));
            JsonNode body = s.post("/v1/chat/completions", OpenAiServerTest.chatBody(second, extra)).json();
            double hit = s.metric("nemoh_prefix_cache_hit_tokens_total");
            assertEquals(2, s.metric("nemoh_prefix_cache_queries_total"));
            assertTrue(hit >= shared - INTERVAL && hit <= shared, hit + " tokens from the cache of " + shared + " shared");
            assertEquals(hit, body.get("usage").get("prompt_tokens_details").get("cached_tokens").asDouble());
            assertTrue(s.metric("nemoh_prefix_cache_bytes") > 0);
            String alone = s.alone(b, SamplingParams.greedy().withMaxTokens(12), List.of(), null).text();
            assertEquals(Reasoning.split(alone, false).answer(), body.get("choices").get(0).get("message").get("content").asText());
        }
    }

    @Test
    void aModelThatCannotSnapshotItsStatesIsRefused() {
        var e = assertThrows(IllegalArgumentException.class, () -> TestServer.start(
                TestServer.options(1, 1).withPrefixCache(1L << 20, INTERVAL), m -> new TestServer.Gated(m, 0)));
        assertEquals("--prefix-cache-mib: this model's backend cannot snapshot its states; drop --prefix-cache-mib",
                e.getMessage());
    }
}
