package dev.nemoh.generate;

import dev.nemoh.tokenizer.Tokenizer;

import java.util.List;

/**
 * The text of one sequence as its tokens arrive: decodes them incrementally (never half a UTF-8 character), stops at
 * stop strings and says what may be shown now. Text that could still turn into a stop string is held back until it
 * cannot, so a stop string never reaches the caller, even in part. The CLI's {@link TextGenerator} and the server's
 * batch scheduler both drive generation through this class; only who runs the model differs.
 */
public final class TextSequence {
    /** Lets a caller steer generation token by token, e.g. to force {@code </think>} when a thinking budget ends. */
    public interface Steering {
        /** Called once, after the prompt and before the first token is chosen. */
        default void atStart(Generation generation) {}

        /** Called after each token with that token's decoded text (may be empty while a character is incomplete). */
        void afterToken(int token, String piece, Generation generation);
    }

    /** Why generation ended, in OpenAI's words. */
    public enum Finish {
        STOP, LENGTH;

        public String openAiName() {
            return this == STOP ? "stop" : "length";
        }
    }

    private final Generation generation;
    private final Tokenizer.StreamDecoder decoder;
    private final List<String> stops;
    private final Steering steering;
    private final StringBuilder text = new StringBuilder();
    private int emitted;
    private Finish finish;

    /** @param steering may be null */
    public TextSequence(Generation generation, Tokenizer tokenizer, List<String> stopStrings, Steering steering) {
        for (String s : stopStrings) {
            if (s.isEmpty()) throw new IllegalArgumentException("stop strings must not be empty");
        }
        this.generation = generation;
        this.decoder = tokenizer.streamDecoder(true);
        this.stops = List.copyOf(stopStrings);
        this.steering = steering;
        if (steering != null) steering.atStart(generation);
    }

    public Generation generation() {
        return generation;
    }

    /**
     * Takes the token {@code generation} has just chosen and returns the text that may be shown now (often "").
     * Afterwards {@link #finished()} says whether this was the last.
     */
    public String accept(int token) {
        if (finish != null) throw new IllegalStateException("the sequence has finished");
        if (generation.stoppedAtStopToken()) return end(Finish.STOP);
        String piece = decoder.push(token);
        text.append(piece);
        int stop = firstStop(text.length() - piece.length());
        if (stop >= 0) {
            text.setLength(stop);
            return end(Finish.STOP);
        }
        if (steering != null) steering.afterToken(token, piece, generation);
        if (generation.done()) {
            text.append(decoder.flush());
            return end(Finish.LENGTH);
        }
        int safe = text.length() - heldBack();
        if (safe <= emitted) return "";
        String out = text.substring(emitted, safe);
        emitted = safe;
        return out;
    }

    public boolean finished() {
        return finish != null;
    }

    /** Why the sequence ended, or null while it runs. */
    public Finish finish() {
        return finish;
    }

    /** All text so far (at the end: the whole completion, without the stop string). */
    public String text() {
        return text.toString();
    }

    private String end(Finish why) {
        finish = why;
        String rest = text.substring(emitted);
        emitted = text.length();
        return rest;
    }

    /** Earliest stop string that ends after {@code newFrom}: older text was already searched when it arrived. */
    private int firstStop(int newFrom) {
        int best = -1;
        for (String s : stops) {
            int i = text.indexOf(s, Math.max(0, newFrom - s.length() + 1));
            if (i >= 0 && (best < 0 || i < best)) best = i;
        }
        return best;
    }

    /** Length of the longest tail of the text that is a proper prefix of some stop string. */
    private int heldBack() {
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
