package dev.nemoh.chat;

import com.code_intelligence.jazzer.junit.DictionaryEntries;
import com.code_intelligence.jazzer.junit.FuzzTest;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.nemoh.FuzzOracle;
import dev.nemoh.tokenizer.Tokenizer;

import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

/**
 * Fuzzes chat templates: arbitrary messages, roles, content, tools and options through the bundled templates
 * ({@link #messages}: the one of {@code models/nemoh-tiny}, which is Nano v2's, and ChatML from
 * {@code src/test/resources/chat/chat-cases.json}), and arbitrary template source rendering fixed messages
 * ({@link #templateSource}). Oracle: a string, or {@link ChatTemplateException} with a message; never another exception,
 * a StackOverflowError, a render past the time limit (infinite or nested loops), or an OutOfMemoryError. (The allocation bound is 8 GiB:
 * a loop that runs to the 5 s limit churns through gigabytes under the fuzzer's instrumentation without holding them.)
 */
class ChatTemplateFuzzTest {
    static final FuzzOracle ORACLE = FuzzOracle.of("chat template", FuzzOracle.types(ChatTemplateException.class), 8192);
    static final ObjectMapper JSON = new ObjectMapper();

    /** The product's 5 s would let each mutated input that loops cost 5 s; ChatTemplateTest checks the 5 s. */
    static void render(ChatTemplate t, List<Map<String, Object>> messages, ChatTemplate.Options options) {
        java.time.Duration limit = ChatTemplate.timeLimit;
        ChatTemplate.timeLimit = java.time.Duration.ofMillis(500);
        try {
            t.render(messages, options);
        } finally {
            ChatTemplate.timeLimit = limit;
        }
    }

    private static Map<String, ChatTemplate> templates;

    private static synchronized Map<String, ChatTemplate> templates() throws Exception {
        if (templates == null) {
            var cases = JSON.readTree(Path.of("src/test/resources/chat/chat-cases.json").toFile());
            Map<String, String> special = Map.of("bos_token", "<s>", "eos_token", "</s>", "unk_token", "<unk>");
            templates = Map.of(
                    "nano_v2", ChatTemplate.of(Tokenizer.load(Path.of("models/nemoh-tiny"))),
                    "chatml", new ChatTemplate(cases.get("templates").get("chatml").asText(), special));
        }
        return templates;
    }

    /**
     * The input is a JSON object as transformers' apply_chat_template takes it: {"template": "nano_v2" | "chatml",
     * "messages": [...], "tools": [...], "add_generation_prompt": bool, "continue_final_message": bool, and any other
     * key as an extra variable}. Input that is not such an object is not a chat and is skipped.
     */
    @SuppressWarnings("unchecked")
    @DictionaryEntries({"\"messages\"", "\"role\"", "\"content\"", "\"system\"", "\"user\"", "\"assistant\"",
            "\"tool\"", "\"tool_calls\"", "\"tools\"", "\"function\"", "\"name\"", "\"arguments\"", "\"type\"",
            "\"text\"", "\"template\"", "\"chatml\"", "\"nano_v2\"", "\"add_generation_prompt\"",
            "\"continue_final_message\"", "/think", "/no_think", "<think>", "</think>", "<TOOLCALL>", "</TOOLCALL>",
            "<SPECIAL_10>", "null", "true", "false", "[]", "{}", "\":", "\",", "},{"})
    @FuzzTest(maxDuration = "5m")
    void messages(byte[] json) throws Exception {
        Object parsed;
        try {
            parsed = JSON.readValue(json, Object.class);
        } catch (java.io.IOException e) {
            return;
        }
        if (!(parsed instanceof Map<?, ?> m) || !(m.get("messages") instanceof List<?> messages)) return;
        ChatTemplate t = templates().getOrDefault(String.valueOf(m.get("template")), templates().get("nano_v2"));
        Map<String, Object> extra = new java.util.LinkedHashMap<>((Map<String, Object>) m);
        for (String k : List.of("template", "messages", "tools", "add_generation_prompt", "continue_final_message")) {
            extra.remove(k);
        }
        ChatTemplate.Options options = new ChatTemplate.Options(Boolean.TRUE.equals(m.get("add_generation_prompt")),
                Boolean.TRUE.equals(m.get("continue_final_message")),
                m.get("tools") instanceof List<?> tools ? (List<Map<String, Object>>) tools : null, extra);
        ORACLE.check(() -> render(t, (List<Map<String, Object>>) messages, options));
    }

    static final List<Map<String, Object>> FIXED = List.of(
            Map.of("role", "system", "content", "You are terse."),
            Map.of("role", "user", "content", "hi /think"),
            Map.of("role", "assistant", "content", "<think>hmm</think>hello"),
            Map.of("role", "user", "content", "list 3 primes"));

    /** The input is the template source (UTF-8). */
    @FuzzTest(maxDuration = "5m")
    void templateSource(byte[] source) {
        String src = new String(source, StandardCharsets.UTF_8);
        ORACLE.check(() -> {
            ChatTemplate t = new ChatTemplate(src, Map.of("bos_token", "<s>", "eos_token", "</s>"));
            render(t, FIXED, ChatTemplate.Options.generationPrompt(true)
                    .withTools(List.of(Map.of("type", "function", "function", Map.of("name", "f")))));
        });
    }
}
