package dev.nemoh.generate;

import java.util.Arrays;
import java.util.Collection;

/**
 * Constrained decoding for one sequence: before each token, the tokens whose bytes continue the text within a
 * {@link JsonGrammar} and still leave room to close it within the tokens left; the {@link Sampler} gives every
 * other token a logit of -∞. A stop token (EOS) is allowed only where the text is a whole value, and is the only
 * choice once nothing may follow, so the answer ends with finish reason {@code stop}.
 *
 * <p>Room to close: the grammar knows the fewest bytes that complete the value ({@link JsonGrammar#minClose}); every
 * byte the grammar needs has a one-byte token (checked here), so that many tokens, plus the stop token, always
 * suffice. A token is allowed only if after it {@code minClose + 1} tokens are left; the budget thus never runs out
 * before the JSON closes.
 *
 * <p>Reasoning models: when the prompt ends inside a reasoning block ({@code reasoningEnd} >= 0), the constraint
 * starts after the token that closes it (Nano v2's {@code </think>}); until then every token but the stop tokens is
 * allowed, and once only the closing token, the JSON and the stop token still fit, the closing token is the one
 * choice.
 *
 * <p>Framed answers: fixed token sequences before and after the JSON (a tool call's {@code <TOOLCALL>} and
 * {@code </TOOLCALL>}, whatever tokens the tokenizer makes of them) are forced in turn, the closing one as soon as the
 * JSON is whole; the stop token comes after it.
 *
 * <p>Cost per step: a walk of the vocabulary sorted by bytes that drops a whole subtree (every token sharing a
 * refused prefix) at once; inside a string, the tokens that are plain text are allowed as a block and only the others
 * are walked. Not thread-safe.
 */
public final class TokenMask {
    private final JsonGrammar grammar;
    private final TokenVocabulary vocab;
    private final int[] stops;
    private final int reasoningEnd;
    private boolean reasoning;
    private int[] state;
    private final int[][] levels;
    private final long[] allowed;
    private final int startClose;
    /** The tokens forced before and after the JSON, and how many of each were accepted. */
    private final int[] opening, closing;
    private int opened, closed;

    /**
     * @param stopTokens   the tokens that end generation (at least one must be in the vocabulary)
     * @param reasoningEnd the token that closes the reasoning the prompt opened, or -1 when the answer starts at once
     */
    public TokenMask(JsonGrammar grammar, TokenVocabulary vocab, Collection<Integer> stopTokens, int reasoningEnd) {
        this(grammar, vocab, stopTokens, reasoningEnd, new int[0], new int[0]);
    }

    /**
     * A mask whose answer is {@code opening}, the JSON, then {@code closing} (token ids, each in the vocabulary),
     * then a stop token.
     */
    public TokenMask(JsonGrammar grammar, TokenVocabulary vocab, Collection<Integer> stopTokens, int reasoningEnd,
                     int[] opening, int[] closing) {
        for (int t : opening) if (t < 0 || t >= vocab.size) throw new IllegalArgumentException("opening token " + t + " is outside the vocabulary");
        for (int t : closing) if (t < 0 || t >= vocab.size) throw new IllegalArgumentException("closing token " + t + " is outside the vocabulary");
        this.opening = opening.clone();
        this.closing = closing.clone();
        this.grammar = grammar;
        this.vocab = vocab;
        this.stops = stopTokens.stream().mapToInt(Integer::intValue).filter(t -> t >= 0 && t < vocab.size).toArray();
        if (stops.length == 0) {
            throw new IllegalArgumentException("structured output needs an end-of-sequence token to end the JSON with,"
                    + " and this request has none (ignore_eos, or a model without eos_token_id)");
        }
        boolean[] need = grammar.literalBytes();
        for (int b = 0x80; b < 0xC0; b++) need[b] = true; // continuation bytes: closing a character cut by a token
        for (int b = 0; b < 256; b++) {
            if (need[b] && !vocab.singleByte[b]) {
                throw new IllegalArgumentException(String.format("structured output needs a one-byte token for every byte"
                        + " the JSON may need, and the vocabulary has none for byte 0x%02X", b));
            }
        }
        if (reasoningEnd >= vocab.size) throw new IllegalArgumentException("reasoningEnd " + reasoningEnd + " is outside the vocabulary");
        this.reasoningEnd = reasoningEnd;
        this.reasoning = reasoningEnd >= 0;
        this.state = grammar.start();
        this.startClose = grammar.minClose(state);
        int longest = 0;
        for (int t : vocab.sorted) longest = Math.max(longest, vocab.bytes[t].length);
        this.levels = new int[longest + 1][];
        this.allowed = new long[(vocab.size + 63) >>> 6];
    }

    /**
     * The fewest tokens a whole answer takes: the shortest JSON, one token a byte, its opening and closing tokens, its
     * stop token and a reasoning close.
     */
    public int minTokens() {
        return answerTokens() + (reasoning ? 1 : 0);
    }

    /** The fewest tokens of the answer after the reasoning. */
    private int answerTokens() {
        return opening.length + startClose + closing.length + 1;
    }

    /** Sets the logits of the tokens not allowed now to -∞; {@code remaining} counts this token. */
    public void apply(float[] logits, int remaining) {
        compute(remaining);
        for (int t = 0; t < vocab.size; t++) {
            if ((allowed[t >>> 6] & (1L << t)) == 0) logits[t] = Float.NEGATIVE_INFINITY;
        }
    }

    /** Whether {@code token} was allowed by the last {@link #compute}/{@link #apply}. */
    public boolean allowed(int token) {
        return (allowed[token >>> 6] & (1L << token)) != 0;
    }

    /** Works out which tokens may come next with {@code remaining} tokens left (this one included). */
    public void compute(int remaining) {
        Arrays.fill(allowed, 0);
        if (reasoning) {
            if (remaining <= answerTokens() + 1) {
                set(reasoningEnd);
            } else {
                Arrays.fill(allowed, -1L);
                for (int t : stops) allowed[t >>> 6] &= ~(1L << t);
                for (int t = vocab.size; t < allowed.length * 64; t++) allowed[t >>> 6] &= ~(1L << t);
            }
            return;
        }
        if (opened < opening.length) {
            set(opening[opened]);
            return;
        }
        if (closed > 0 && closed < closing.length) {
            set(closing[closed]);
            return;
        }
        if (!JsonGrammar.finished(state)) {
            // after a token, minClose + the closing + 1 (the stop token) must fit in the remaining - 1 tokens
            int budget = remaining - 2 - closing.length;
            int[] order = vocab.sorted, lcp = vocab.sortedLcp;
            if (grammar.inStringText(state)) {
                if (grammar.minClose(state) <= budget) {
                    for (int i = 0; i < allowed.length; i++) allowed[i] = vocab.plain[i];
                }
                order = vocab.special;
                lcp = vocab.specialLcp;
            }
            walk(order, lcp, budget);
        }
        boolean end = grammar.accepting(state);
        if (closed < closing.length) {
            if (end) set(closing[0]);
            end = false; // no stop before the closing
        }
        for (int t : stops) {
            if (end) set(t);
            else allowed[t >>> 6] &= ~(1L << t);
        }
        if (!any()) {
            throw new IllegalStateException("no token can continue the JSON within " + remaining + " tokens");
        }
    }

    /**
     * Visits the tokens of {@code order} (sorted by bytes; {@code lcp[i]}: prefix shared with token i - 1), advancing
     * a copy of the state one byte a level; a refused byte skips every following token with the same prefix.
     */
    private void walk(int[] order, int[] lcp, int budget) {
        levels[0] = state;
        int valid = 0; // levels[0 .. valid] hold the states after the current token's first bytes
        int n = order.length;
        int k = 0;
        while (k < n) {
            int token = order[k];
            byte[] bs = vocab.bytes[token];
            int d = Math.min(valid, k == 0 ? 0 : lcp[k]);
            for (; d < bs.length; d++) {
                int[] next = levels[d + 1];
                if (next == null) next = levels[d + 1] = new int[JsonGrammar.STATE_INTS];
                int[] prev = levels[d];
                System.arraycopy(prev, 0, next, 0, 1 + prev[0] * JsonGrammar.FRAME);
                if (!grammar.advance(next, bs[d] & 0xFF)) break;
            }
            if (d < bs.length) {
                valid = d;
                k++;
                while (k < n && lcp[k] > d) k++; // same first d + 1 bytes: refused too
                continue;
            }
            valid = bs.length;
            if (grammar.minClose(levels[d]) <= budget) set(token);
            k++;
        }
    }

    /** Advances past {@code token}, which must be allowed by the grammar (sampled from a masked step, or forced). */
    public void accept(int token) {
        if (reasoning) {
            if (token == reasoningEnd) reasoning = false;
            return;
        }
        if (opened < opening.length) {
            if (token != opening[opened]) throw new IllegalStateException("token " + token + " is not the opening's next token");
            opened++;
            return;
        }
        if (closed < closing.length && (closed > 0 || token == closing[0] && grammar.accepting(state))) {
            if (token != closing[closed]) throw new IllegalStateException("token " + token + " is not the closing's next token");
            closed++;
            state[0] = 0; // the JSON is whole: nothing more of it may come
            return;
        }
        for (int t : stops) {
            if (t == token) {
                if (!grammar.accepting(state)) throw new IllegalStateException("stop token " + token + " before the JSON is whole");
                state = grammar.start();
                state[0] = 0;
                return;
            }
        }
        byte[] bs = token < vocab.size ? vocab.bytes[token] : null;
        if (bs == null || bs.length == 0) throw new IllegalStateException("token " + token + " cannot be part of the JSON");
        int[] next = state.clone();
        for (byte b : bs) {
            if (!grammar.advance(next, b & 0xFF)) throw new IllegalStateException("token " + token + " does not continue the JSON");
        }
        state = next;
    }

    private void set(int t) {
        allowed[t >>> 6] |= 1L << t;
    }

    private boolean any() {
        for (long w : allowed) if (w != 0) return true;
        return false;
    }
}
