package dev.nemoh.generate;

import dev.nemoh.model.LanguageModel;
import dev.nemoh.tokenizer.Tokenizer;

import java.util.List;
import java.util.function.Consumer;

/**
 * Text in, streamed text out: tokenizes the prompt, runs a {@link Generation}, decodes tokens incrementally (never
 * emitting half a UTF-8 character) and stops at stop strings. Text that could still turn into a stop string is held
 * back from the stream until it cannot, so a stop string never reaches the caller, even in part.
 */
public final class TextGenerator {
    private final LanguageModel model;
    private final Tokenizer tokenizer;

    public TextGenerator(LanguageModel model, Tokenizer tokenizer) {
        if (tokenizer.vocabSize() > model.config().vocabSize) {
            throw new IllegalArgumentException("the tokenizer has " + tokenizer.vocabSize() + " tokens but the model only "
                    + model.config().vocabSize + "; they do not belong together");
        }
        this.model = model;
        this.tokenizer = tokenizer;
    }

    /** Why generation ended, in OpenAI's words. */
    public enum Finish {
        STOP, LENGTH;

        public String openAiName() {
            return this == STOP ? "stop" : "length";
        }
    }

    public record Result(String text, int promptTokens, int completionTokens, Finish finish, long prefillNanos,
                         long decodeNanos, long seed) {}

    /** Lets a caller steer generation token by token, e.g. to force {@code </think>} when a thinking budget ends. */
    public interface Steering {
        /** Called once, after the prompt and before the first token is chosen. */
        default void atStart(Generation generation) {}

        /** Called after each token with that token's decoded text (may be empty while a character is incomplete). */
        void afterToken(int token, String piece, Generation generation);
    }

    public Result generate(String prompt, boolean addSpecialTokens, SamplingParams params, List<String> stopStrings,
                           Steering steering, Consumer<String> onText) {
        return generate(tokenizer.encode(prompt, addSpecialTokens), params, stopStrings, steering, onText);
    }

    public Result generate(int[] prompt, SamplingParams params, List<String> stopStrings, Steering steering,
                           Consumer<String> onText) {
        for (String s : stopStrings) {
            if (s.isEmpty()) throw new IllegalArgumentException("stop strings must not be empty");
        }
        Generation g = new Generation(model, prompt, params);
        if (steering != null) steering.atStart(g);
        Tokenizer.StreamDecoder decoder = tokenizer.streamDecoder(true);
        StringBuilder text = new StringBuilder();
        int emitted = 0;
        Finish finish = Finish.LENGTH;
        while (!g.done()) {
            int token = g.next();
            if (g.stoppedAtStopToken()) {
                finish = Finish.STOP;
                break;
            }
            String piece = decoder.push(token);
            text.append(piece);
            int stop = firstStop(text, text.length() - piece.length(), stopStrings);
            if (stop >= 0) {
                text.setLength(stop);
                finish = Finish.STOP;
                break;
            }
            int safe = text.length() - heldBack(text, stopStrings);
            if (safe > emitted) {
                onText.accept(text.substring(emitted, safe));
                emitted = safe;
            }
            if (steering != null) steering.afterToken(token, piece, g);
        }
        if (finish == Finish.LENGTH) text.append(decoder.flush());
        if (text.length() > emitted) onText.accept(text.substring(emitted));
        return new Result(text.toString(), prompt.length, g.generated(), finish, g.prefillNanos(), g.decodeNanos(), g.seed());
    }

    /** Earliest stop string that ends after {@code newFrom}: older text was already searched when it arrived. */
    private static int firstStop(StringBuilder text, int newFrom, List<String> stops) {
        int best = -1;
        for (String s : stops) {
            int i = text.indexOf(s, Math.max(0, newFrom - s.length() + 1));
            if (i >= 0 && (best < 0 || i < best)) best = i;
        }
        return best;
    }

    /** Length of the longest tail of {@code text} that is a proper prefix of some stop string. */
    private static int heldBack(CharSequence text, List<String> stops) {
        int hold = 0;
        for (String s : stops) {
            for (int n = Math.min(s.length() - 1, text.length()); n > hold; n--) {
                if (text.subSequence(text.length() - n, text.length()).toString().equals(s.substring(0, n))) {
                    hold = n;
                    break;
                }
            }
        }
        return hold;
    }
}
