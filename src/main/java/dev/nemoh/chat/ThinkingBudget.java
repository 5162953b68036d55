package dev.nemoh.chat;

import dev.nemoh.generate.Generation;
import dev.nemoh.generate.TextSequence;
import dev.nemoh.tokenizer.Tokenizer;

/**
 * A budget on Nano v2's reasoning: after a number of reasoning tokens without {@code </think>}, the generation loop
 * must append the closing tokens itself (feed them to the model as if generated) so that the model answers.
 *
 * <p>Two rules, as NVIDIA describes them for Nano v2: {@link Mode#STRICT} closes right at the budget, as NVIDIA's
 * reference client does (it stops at {@code max_thinking_budget} tokens and appends the close); {@link Mode#NEWLINE}
 * waits for the next token that ends a line once the budget is reached, and closes at budget + grace tokens when no
 * newline comes (the model card's {@code max_thinking_tokens}: "end the reasoning trace at the next newline ... If no
 * newline is encountered within 500 tokens, it will abruptly end the reasoning trace at max_thinking_tokens + 500").
 *
 * <p>Use: {@link #atStart()} once after the prompt (a budget of 0 closes before any reasoning), then
 * {@link #afterToken(int, String)} for every sampled token; a non-empty result is the tokens to inject now. Counting
 * starts when the prompt ends in {@code <think>} ({@code startsInThinking}) or when the model writes it.
 */
public final class ThinkingBudget {
    public enum Mode { STRICT, NEWLINE }

    public static final int DEFAULT_GRACE = 500;
    /** What is appended when the budget runs out: a line break, the closing tag and an empty line. */
    public static final String DEFAULT_CLOSING_TEXT = "\n</think>\n\n";

    private final int budget;
    private final Mode mode;
    private final int grace;
    private final int openId;
    private final int closeId;
    private final int[] closing;
    private boolean inside;
    private boolean done;
    private int count;

    /**
     * @param budget           reasoning tokens allowed (0: close at once)
     * @param mode             STRICT or NEWLINE
     * @param grace            extra tokens NEWLINE waits for a line end
     * @param openId           id of {@code <think>} (-1 if none)
     * @param closeId          id of {@code </think>}
     * @param closing          the ids to inject (must contain closeId)
     * @param startsInThinking whether the prompt ends inside the reasoning block
     */
    public ThinkingBudget(int budget, Mode mode, int grace, int openId, int closeId, int[] closing,
                          boolean startsInThinking) {
        if (budget < 0) throw new IllegalArgumentException("thinking budget must be >= 0, got " + budget);
        if (grace < 0) throw new IllegalArgumentException("grace must be >= 0, got " + grace);
        if (closeId < 0) throw new IllegalArgumentException("the vocabulary has no </think> token");
        boolean hasClose = false;
        for (int id : closing) hasClose |= id == closeId;
        if (!hasClose) throw new IllegalArgumentException("the closing tokens must contain </think> (" + closeId + ")");
        this.budget = budget;
        this.mode = mode;
        this.grace = grace;
        this.openId = openId;
        this.closeId = closeId;
        this.closing = closing.clone();
        this.inside = startsInThinking;
    }

    /** A budget for {@code tokenizer}'s {@code <think>}/{@code </think>}, closing with {@link #DEFAULT_CLOSING_TEXT}. */
    public static ThinkingBudget of(Tokenizer tokenizer, int budget, Mode mode, boolean startsInThinking) {
        return of(tokenizer, budget, mode, startsInThinking, DEFAULT_CLOSING_TEXT);
    }

    /**
     * A budget that closes with {@code closingText}, which must contain {@code </think>} (structured output closes
     * with the tag alone, since its grammar takes no whitespace before the JSON).
     */
    public static ThinkingBudget of(Tokenizer tokenizer, int budget, Mode mode, boolean startsInThinking, String closingText) {
        int close = tokenizer.id(Reasoning.CLOSE);
        if (close < 0) {
            throw new IllegalArgumentException(tokenizer.source() + " has no " + Reasoning.CLOSE
                    + " token: a thinking budget needs a reasoning model's tokenizer (Nano v2)");
        }
        return new ThinkingBudget(budget, mode, DEFAULT_GRACE, tokenizer.id(Reasoning.OPEN), close,
                tokenizer.encode(closingText, false), startsInThinking);
    }

    /** This budget as the generation loop's steering: it forces the closing tokens into the sequence when due. */
    public TextSequence.Steering steering() {
        return new TextSequence.Steering() {
            @Override
            public void atStart(Generation g) {
                g.force(ThinkingBudget.this.atStart());
            }

            @Override
            public void afterToken(int token, String piece, Generation g) {
                g.force(ThinkingBudget.this.afterToken(token, piece));
            }
        };
    }

    /** Tokens to inject right after the prompt: the closing tokens when the budget is 0 and thinking is open. */
    public int[] atStart() {
        if (inside && !done && budget == 0) return close();
        return new int[0];
    }

    /**
     * Records a sampled token.
     *
     * @param tokenId the sampled id
     * @param text    its decoded text (only NEWLINE mode looks at it; may be null otherwise)
     * @return the ids to inject now, or an empty array
     */
    public int[] afterToken(int tokenId, String text) {
        if (done) return new int[0];
        if (!inside) {
            if (tokenId == openId && openId >= 0) {
                inside = true;
                return atStart();
            }
            return new int[0];
        }
        if (tokenId == closeId) {
            done = true;
            return new int[0];
        }
        count++;
        if (shouldForceClose(text)) return close();
        return new int[0];
    }

    private boolean shouldForceClose(String lastText) {
        if (count < budget) return false;
        if (mode == Mode.STRICT) return true;
        return (lastText != null && lastText.indexOf('\n') >= 0) || count >= (long) budget + grace;
    }

    /** Whether the budget has closed (or the model closed) the reasoning. */
    public boolean closed() {
        return done;
    }

    /** Whether tokens are being counted as reasoning now. */
    public boolean thinking() {
        return inside && !done;
    }

    /** Reasoning tokens counted so far. */
    public int reasoningTokens() {
        return count;
    }

    private int[] close() {
        done = true;
        return closing.clone();
    }
}
