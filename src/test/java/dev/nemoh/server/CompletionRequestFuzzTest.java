package dev.nemoh.server;

import com.code_intelligence.jazzer.junit.DictionaryEntries;
import com.code_intelligence.jazzer.junit.FuzzTest;
import com.fasterxml.jackson.databind.JsonNode;
import dev.nemoh.FuzzOracle;
import dev.nemoh.model.NemotronHModel;
import dev.nemoh.tokenizer.Tokenizer;

/**
 * Fuzzes the OpenAI request parser: an arbitrary body, as the server reads it ({@link Json#parse}, nesting bounded at
 * 64), through {@link CompletionRequest#parse} for {@code /v1/chat/completions} and for {@code /v1/completions},
 * serving the bundled {@code nemoh-tiny} (its chat template, tokenizer and 4,096-token context) with the server's
 * default bounds. Oracle: {@link ApiException} with a 4xx status and a message, or a request within the bounds (a
 * non-empty prompt that leaves room for max_tokens in the context, a cache within the cache bound); never another
 * exception (which the server would answer with a 500), a hang or an OutOfMemoryError.
 */
class CompletionRequestFuzzTest {
    static final FuzzOracle ORACLE = FuzzOracle.of("request body",
            t -> t instanceof ApiException e && e.status >= 400 && e.status < 500, 1024);
    static final CompletionRequest.Bounds BOUNDS = new CompletionRequest.Bounds(4096, 1L << 30);
    private static ServedModel served;

    private static synchronized ServedModel served() {
        if (served == null) {
            NemotronHModel m = NemotronHModel.load(TestServer.TINY);
            served = ServedModel.of("nemoh-tiny", m, Tokenizer.load(TestServer.TINY), TestServer.STOP_TOKENS);
        }
        return served;
    }

    @DictionaryEntries({"\"messages\"", "\"role\"", "\"content\"", "\"user\"", "\"assistant\"", "\"system\"",
            "\"developer\"", "\"tool\"", "\"tool_calls\"", "\"tools\"", "\"prompt\"", "\"max_tokens\"",
            "\"max_completion_tokens\"", "\"temperature\"", "\"top_p\"", "\"top_k\"", "\"min_p\"", "\"stop\"",
            "\"stream\"", "\"stream_options\"", "\"include_usage\"", "\"logprobs\"", "\"top_logprobs\"", "\"seed\"",
            "\"n\"", "\"model\"", "\"nemoh-tiny\"", "\"thinking_budget\"", "\"thinking_budget_mode\"", "\"strict\"",
            "\"newline\"", "\"ignore_eos\"", "\"repetition_penalty\"", "\"presence_penalty\"", "\"frequency_penalty\"",
            "\"echo\"", "\"best_of\"", "\"suffix\"", "\"text\"", "\"type\"", "/think", "</think>", "null", "true",
            "false", "1e308", "-1", "4096", "2147483648", "[]", "{}", "\":", "\","})
    @FuzzTest(maxDuration = "5m")
    void body(byte[] body) {
        ServedModel m = served();
        for (boolean chat : new boolean[] {true, false}) {
            ORACLE.check(() -> {
                JsonNode n = Json.parse(body);
                CompletionRequest r = CompletionRequest.parse(n, chat, m, BOUNDS);
                int context = m.model().config().maxPositionEmbeddings;
                int max = r.params().maxTokens();
                if (r.prompt().length == 0 || max < 1 || r.prompt().length + max > context) {
                    throw new AssertionError("accepted a request outside the context: prompt " + r.prompt().length
                            + " + max_tokens " + max + " > " + context);
                }
                for (int id : r.prompt()) {
                    if (id < 0 || id >= m.model().config().vocabSize) throw new AssertionError("prompt id " + id);
                }
                Job job = r.job(m);
                if (job == null || m.model().cacheBytes((long) r.prompt().length + max) > BOUNDS.maxCacheBytes()) {
                    throw new AssertionError("accepted a request past the cache bound");
                }
            });
        }
    }
}
