package dev.nemoh.chat;

/**
 * Splits Nano v2 output into its reasoning (between {@code <think>} and {@code </think>}) and its answer.
 *
 * <p>Nano v2's chat template ends a thinking prompt with {@code <think>\n}, so the generated text starts inside the
 * reasoning and only the closing tag appears in it; with {@code /no_think} the prompt ends with
 * {@code <think></think>} and everything generated is answer. {@link #split(String, boolean)} takes that starting
 * state; text that opens with {@code <think>} itself is recognised either way.
 */
public final class Reasoning {
    public static final String OPEN = "<think>";
    public static final String CLOSE = "</think>";

    private Reasoning() {
    }

    /**
     * @param reasoning the reasoning, stripped of surrounding whitespace ("" when there is none)
     * @param answer    the text after {@code </think>}, stripped of surrounding whitespace
     * @param closed    whether the reasoning was closed by {@code </think>} (false: cut off while thinking)
     */
    public record Parts(String reasoning, String answer, boolean closed) {
    }

    /**
     * @param generated        the generated text, decoded with special tokens kept
     * @param startsInThinking whether the prompt ended inside a reasoning block ({@code <think>\n}), as Nano v2's
     *                         template leaves it unless /no_think is given
     */
    public static Parts split(String generated, boolean startsInThinking) {
        String s = generated;
        String lead = PyStr.lstrip(s, null);
        boolean inside = startsInThinking;
        if (lead.startsWith(OPEN)) {
            s = lead.substring(OPEN.length());
            inside = true;
        }
        if (!inside) return new Parts("", PyStr.strip(s, null), false);
        int close = s.indexOf(CLOSE);
        if (close < 0) return new Parts(PyStr.strip(s, null), "", false);
        return new Parts(PyStr.strip(s.substring(0, close), null), PyStr.strip(s.substring(close + CLOSE.length()), null),
                true);
    }

    /**
     * {@link #split} for text that arrives in pieces, as a stream shows it: each piece is routed to the reasoning or
     * the answer as soon as that is decided, and a tail that could be the start of a tag is held back until the next
     * piece settles it. Tags are dropped and whitespace is kept (only the whole-text {@link #split} strips it), so
     * the reasoning deltas and answer deltas add up to what {@link #split} returns, before stripping.
     */
    public static final class Splitter {
        /** What one piece adds to each channel; either may be empty. */
        public record Delta(String reasoning, String answer) {
            public boolean isEmpty() {
                return reasoning.isEmpty() && answer.isEmpty();
            }
        }

        private final StringBuilder pending = new StringBuilder();
        private boolean inside;
        /** Whether the text can no longer open with {@code <think>}. */
        private boolean opened;
        private boolean closed;

        public Splitter(boolean startsInThinking) {
            inside = startsInThinking;
        }

        public Delta push(String piece) {
            pending.append(piece);
            StringBuilder reasoning = new StringBuilder(), answer = new StringBuilder();
            if (!opened) {
                String lead = PyStr.lstrip(pending.toString(), null);
                if (lead.startsWith(OPEN)) {
                    pending.setLength(0);
                    pending.append(lead.substring(OPEN.length()));
                    inside = true;
                } else if (OPEN.startsWith(lead)) {
                    return new Delta("", ""); // still could be "<think>"
                }
                opened = true;
            }
            if (inside && !closed) {
                int close = pending.indexOf(CLOSE);
                if (close >= 0) {
                    reasoning.append(pending, 0, close);
                    pending.delete(0, close + CLOSE.length());
                    inside = false;
                    closed = true;
                } else {
                    int keep = partialTag(pending);
                    reasoning.append(pending, 0, pending.length() - keep);
                    pending.delete(0, pending.length() - keep);
                }
            }
            if (!inside) {
                answer.append(pending);
                pending.setLength(0);
            }
            return new Delta(reasoning.toString(), answer.toString());
        }

        /** The held-back tail, at the end of the stream, in the channel it was in. */
        public Delta flush() {
            String rest = pending.toString();
            pending.setLength(0);
            return inside ? new Delta(rest, "") : new Delta("", rest);
        }

        /** Length of the longest tail of {@code text} that is a proper prefix of {@code </think>}. */
        private static int partialTag(CharSequence text) {
            for (int n = Math.min(CLOSE.length() - 1, text.length()); n > 0; n--) {
                if (CLOSE.startsWith(text.subSequence(text.length() - n, text.length()).toString())) return n;
            }
            return 0;
        }
    }

    /** Whether Nano v2's template turns thinking on for these messages: the last /think or /no_think wins. */
    public static boolean thinkingEnabled(Iterable<? extends java.util.Map<String, Object>> messages) {
        boolean on = true;
        for (var m : messages) {
            Object role = m.get("role");
            Object content = m.get("content");
            if (!("user".equals(role) || "system".equals(role)) || !(content instanceof String c)) continue;
            if (c.contains("/think")) on = true;
            else if (c.contains("/no_think")) on = false;
        }
        return on;
    }

    /** Where streamed text belongs. */
    public enum Channel { REASONING, ANSWER }

    /**
     * Routes streamed tokens to the reasoning or the answer, by token id: {@code <think>} and {@code </think>}
     * switch the channel and are not shown.
     */
    public static final class Router {
        private final int openId;
        private final int closeId;
        private Channel channel;

        /**
         * @param openId  id of {@code <think>} (-1 if the vocabulary has none)
         * @param closeId id of {@code </think>}
         */
        public Router(int openId, int closeId, boolean startsInThinking) {
            this.openId = openId;
            this.closeId = closeId;
            this.channel = startsInThinking ? Channel.REASONING : Channel.ANSWER;
        }

        /** The channel the token's text goes to, or null for the tags themselves. */
        public Channel route(int tokenId) {
            if (tokenId == openId && openId >= 0) {
                channel = Channel.REASONING;
                return null;
            }
            if (tokenId == closeId && closeId >= 0) {
                channel = Channel.ANSWER;
                return null;
            }
            return channel;
        }

        public Channel channel() {
            return channel;
        }
    }
}
