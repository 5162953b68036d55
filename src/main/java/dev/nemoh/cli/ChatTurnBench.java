package dev.nemoh.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.nemoh.chat.ChatTemplate;
import dev.nemoh.server.CompletionClient;
import dev.nemoh.server.OpenAiServer;
import dev.nemoh.server.ServedModel;

import java.net.URI;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * {@code bench-serve --chat-history}: a chat with a long history, served once without and once with the prefix
 * cache; each time the first turn is answered, then the second turn (the history, that answer and a new question,
 * re-rendered as a client sends it) is timed to its first streamed token.
 */
final class ChatTurnBench {
    private static final ObjectMapper JSON = new ObjectMapper();

    record Turns(int historyTokens, CompletionClient.Streamed first, CompletionClient.Streamed second) {}

    private final ServedModel served;
    private final int historyTokens;
    private final int maxTokens;
    private final long prefixCacheBytes;
    private final int interval;

    ChatTurnBench(ServedModel served, int historyTokens, int maxTokens, long prefixCacheBytes, int interval) {
        if (served.template() == null) {
            throw new IllegalArgumentException("--chat-history needs a chat template (tokenizer_config.json's"
                    + " chat_template), and this model has none");
        }
        if (historyTokens < 1) throw new IllegalArgumentException("--chat-history must be >= 1 tokens, got " + historyTokens);
        if (prefixCacheBytes == 0) {
            throw new IllegalArgumentException("--chat-history compares the second turn with and without the prefix"
                    + " cache: give --prefix-cache-mib too");
        }
        this.served = served;
        this.historyTokens = historyTokens;
        this.maxTokens = maxTokens;
        this.prefixCacheBytes = prefixCacheBytes;
        this.interval = interval;
    }

    void run() throws Exception {
        List<Map<String, Object>> history = history(served.template(), historyTokens);
        List<Map<String, Object>> warmUp = history(served.template(), Math.min(historyTokens, 256));
        chat(warmUp, 0); // JIT and page cache
        Turns off = chat(history, 0);
        Turns on = chat(history, prefixCacheBytes);
        System.out.printf(Locale.ROOT, "%-26s %9s %10s %10s %14s %14s%n", "prefix cache", "history", "turn 2", "from cache",
                "turn 1 TTFT s", "turn 2 TTFT s");
        row("off", off);
        row("on (" + (prefixCacheBytes >> 20) + " MiB, every " + interval + ")", on);
        System.out.printf(Locale.ROOT, "turn 2 time to first token %.1fx lower with the prefix cache; same turn 2 text both ways: %s%n",
                (double) firstToken(off.second()) / firstToken(on.second()),
                off.second().text().equals(on.second().text()) && off.second().reasoning().equals(on.second().reasoning()) ? "yes" : "NO");
    }

    /**
     * A turn's time to first token: to its first text, or, with {@code --max-tokens 1}, to its end (a random-weight
     * model's token may carry no text).
     */
    private long firstToken(CompletionClient.Streamed s) {
        if (s.firstTextNanos() >= 0) return s.firstTextNanos();
        if (maxTokens == 1 && s.finishNanos() >= 0) return s.finishNanos();
        throw new IllegalStateException("a turn streamed no text to time: raise --max-tokens, or give --max-tokens 1"
                + " to time each turn's single token whatever its text");
    }

    private void row(String mode, Turns t) {
        System.out.printf(Locale.ROOT, "%-26s %,9d %,10d %,10d %14.2f %14.2f%n", mode, t.historyTokens(), t.second().promptTokens(),
                t.second().cachedTokens(), firstToken(t.first()) / 1e9, firstToken(t.second()) / 1e9);
    }

    /** Both turns of the chat on a fresh server, with a prefix cache of {@code cacheBytes} (0: none). */
    private Turns chat(List<Map<String, Object>> history, long cacheBytes) throws Exception {
        OpenAiServer.Options options = new OpenAiServer.Options("127.0.0.1", 0, 1, 1, maxTokens, 0, 64 << 20)
                .withPrefixCache(cacheBytes, interval);
        try (OpenAiServer server = OpenAiServer.start(served, options)) {
            CompletionClient client = new CompletionClient(URI.create("http://127.0.0.1:" + server.port() + "/"));
            List<Map<String, Object>> turn = new ArrayList<>(history);
            turn.add(Map.of("role", "user", "content", "Sum up what we said so far."));
            CompletionClient.Streamed first = client.stream("/v1/chat/completions", body(turn));
            turn.add(Map.of("role", "assistant", "content", first.text()));
            turn.add(Map.of("role", "user", "content", "And what comes next?"));
            CompletionClient.Streamed second = client.stream("/v1/chat/completions", body(turn));
            firstToken(first);
            firstToken(second);
            int tokens = served.tokenizer().encode(served.template().render(history, false), false).length;
            return new Turns(tokens, first, second);
        }
    }

    private ObjectNode body(List<Map<String, Object>> messages) {
        ObjectNode body = JSON.createObjectNode().put("max_tokens", maxTokens).put("temperature", 0).put("ignore_eos", true);
        ArrayNode array = body.putArray("messages");
        for (Map<String, Object> m : messages) array.add(JSON.valueToTree(m));
        return body;
    }

    private static String notes(int i) {
        StringBuilder note = new StringBuilder();
        for (int j = 0; j < 6; j++) {
            note.append(" item ").append(i * 6 + j).append(" keeps a fixed state per Mamba layer and a growing cache per attention layer.");
        }
        return note.toString().strip();
    }

    /** A system prompt and user/assistant exchanges of made-up notes, about {@code tokens} tokens as rendered. */
    private List<Map<String, Object>> history(ChatTemplate template, int tokens) {
        List<Map<String, Object>> messages = new ArrayList<>();
        messages.add(Map.of("role", "system", "content", "You are a careful assistant; keep answers short. /no_think"));
        for (int i = 0; served.tokenizer().encode(template.render(messages, false), false).length < tokens; i++) {
            messages.add(Map.of("role", "user", "content", "Note " + i + ": " + notes(i)));
            messages.add(Map.of("role", "assistant", "content", "Noted: " + notes(i + 1)));
        }
        return messages;
    }
}
