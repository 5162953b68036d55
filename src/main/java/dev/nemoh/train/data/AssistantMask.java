package dev.nemoh.train.data;

import dev.nemoh.chat.ChatTemplate;
import dev.nemoh.tokenizer.Tokenizer;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Tokenizes a conversation through the model's chat template and keeps the loss on what the assistant says.
 *
 * <p>Chat templates rarely mark assistant text (few have {@code {% generation %}} blocks) and often render a message
 * differently by its place (Nano v2 strips reasoning from history, adds {@code <think>} only to the last turn), so
 * the spans are found by difference, with no knowledge of the template: the whole conversation is rendered once,
 * then once more per assistant message with that message's content replaced by a sentinel character. The two texts
 * agree up to the start of the message's rendered content and again after its end, which gives its exact place in
 * the text whatever the template adds around it or does to it (strip, split). The span then runs on to the first
 * end-of-turn token (the model's EOS ids, such as {@code <SPECIAL_12>} or {@code <|im_end|>}) before the next
 * message's content, so the model also learns to stop; the template's role headers stay prompt.
 *
 * <p>Characters map to tokens by comparing token prefixes: the tokens of the text before a boundary are a prefix
 * of the tokens of the whole text when the boundary falls between tokens; where a token straddles it, the span
 * starts after that token and ends after it, so no content token is left out of the loss.
 */
final class AssistantMask {
    /** A private-use character no template adds or strips. */
    private static final String SENTINEL = "\uE000";

    private final ChatTemplate template;
    private final Tokenizer tokenizer;
    private final List<String> endOfTurn;

    AssistantMask(ChatTemplate template, Tokenizer tokenizer, List<Integer> endOfTurnIds) {
        this.template = template;
        this.tokenizer = tokenizer;
        this.endOfTurn = endOfTurnIds.stream().map(tokenizer::token).filter(t -> t != null && !t.isEmpty()).toList();
    }

    SftExample tokenize(List<Map<String, Object>> messages) {
        String full = template.render(messages, false);
        int[] ids = tokenizer.encode(full, false);
        int[] labels = new int[ids.length];
        Arrays.fill(labels, SftExample.IGNORE);
        for (int i = 0; i < messages.size(); i++) {
            if (!"assistant".equals(messages.get(i).get("role"))) continue;
            int[] content = contentSpan(messages, i, full);
            int next = i + 1 < messages.size() ? contentSpan(messages, i + 1, full)[0] : full.length();
            int end = endOfTurn(full, content[1], next);
            int from = tokensBefore(full, ids, content[0]);
            int to = tokensCovering(full, ids, end);
            for (int t = from; t < to; t++) labels[t] = ids[t];
        }
        return new SftExample(ids, labels);
    }

    /** [start, end) of message {@code i}'s rendered content in {@code full}. */
    private int[] contentSpan(List<Map<String, Object>> messages, int i, String full) {
        List<Map<String, Object>> changed = new ArrayList<>(messages);
        Map<String, Object> m = new HashMap<>(messages.get(i));
        m.put("content", SENTINEL);
        changed.set(i, m);
        String other = template.render(changed, false);
        int limit = Math.min(full.length(), other.length());
        int prefix = 0;
        while (prefix < limit && full.charAt(prefix) == other.charAt(prefix)) prefix++;
        int suffix = 0;
        while (suffix < limit - prefix
                && full.charAt(full.length() - 1 - suffix) == other.charAt(other.length() - 1 - suffix)) {
            suffix++;
        }
        return new int[]{prefix, full.length() - suffix};
    }

    /** Just past the first end-of-turn token in [from, limit), or {@code from} when the template closes no turn. */
    private int endOfTurn(String full, int from, int limit) {
        int best = -1;
        for (String t : endOfTurn) {
            int at = full.indexOf(t, from);
            if (at >= 0 && at + t.length() <= limit && (best < 0 || at + t.length() < best)) best = at + t.length();
        }
        return best < 0 ? from : best;
    }

    /** How many tokens of {@code ids} lie wholly before character {@code at}. */
    private int tokensBefore(String full, int[] ids, int at) {
        return commonPrefix(ids, tokenizer.encode(full.substring(0, at), false));
    }

    /** How many leading tokens of {@code ids} it takes to cover the characters before {@code at}. */
    private int tokensCovering(String full, int[] ids, int at) {
        int[] head = tokenizer.encode(full.substring(0, at), false);
        int common = commonPrefix(ids, head);
        return common == head.length ? common : Math.min(ids.length, common + 1);
    }

    private static int commonPrefix(int[] a, int[] b) {
        int n = Math.min(a.length, b.length);
        int i = 0;
        while (i < n && a[i] == b[i]) i++;
        return i;
    }
}
