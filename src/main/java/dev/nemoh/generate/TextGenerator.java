package dev.nemoh.generate;

import dev.nemoh.model.LanguageModel;
import dev.nemoh.model.LoraAdapter;
import dev.nemoh.model.PrefixCache;
import dev.nemoh.tokenizer.Tokenizer;

import java.util.List;
import java.util.function.Consumer;

/**
 * Text in, streamed text out, for one sequence at a time: tokenizes the prompt, runs a {@link Generation} and passes
 * each token through a {@link TextSequence}, which decodes it, stops at stop strings and holds back text that could
 * still become one.
 */
public final class TextGenerator {
    private final LanguageModel model;
    private final Tokenizer tokenizer;
    private final PrefixCache prefixCache;
    /** What every generation runs through; null: the base model. */
    private final LoraAdapter adapter;

    public TextGenerator(LanguageModel model, Tokenizer tokenizer) {
        this(model, tokenizer, null, null);
    }

    /** A generator whose prompts resume from the longest prefix {@code prefixCache} holds (null: no cache). */
    public TextGenerator(LanguageModel model, Tokenizer tokenizer, PrefixCache prefixCache) {
        this(model, tokenizer, prefixCache, null);
    }

    /**
     * A generator whose prompts run through {@code adapter} (null: the base model) and resume from the longest prefix
     * {@code prefixCache} holds for it (null: no cache).
     */
    public TextGenerator(LanguageModel model, Tokenizer tokenizer, PrefixCache prefixCache, LoraAdapter adapter) {
        if (tokenizer.vocabSize() > model.config().vocabSize) {
            throw new IllegalArgumentException("the tokenizer has " + tokenizer.vocabSize() + " tokens but the model only "
                    + model.config().vocabSize + "; they do not belong together");
        }
        this.model = model;
        this.tokenizer = tokenizer;
        this.prefixCache = prefixCache;
        this.adapter = adapter;
    }

    public record Result(String text, int promptTokens, int completionTokens, TextSequence.Finish finish,
                         long prefillNanos, long decodeNanos, long seed, int cachedPromptTokens) {}

    public Result generate(String prompt, boolean addSpecialTokens, SamplingParams params, List<String> stopStrings,
                           TextSequence.Steering steering, Consumer<String> onText) {
        return generate(tokenizer.encode(prompt, addSpecialTokens), params, stopStrings, steering, onText);
    }

    public Result generate(int[] prompt, SamplingParams params, List<String> stopStrings, TextSequence.Steering steering,
                           Consumer<String> onText) {
        Generation g = new Generation(model, prompt, params, prefixCache, adapter);
        TextSequence sequence = new TextSequence(g, tokenizer, stopStrings, steering);
        try {
            while (!sequence.finished()) {
                String out = sequence.accept(g.next());
                if (!out.isEmpty()) onText.accept(out);
            }
        } finally {
            g.state().release(); // a GPU state's memory now (each chat turn starts a new one), not at the next GC
        }
        return new Result(sequence.text(), prompt.length, g.generated(), sequence.finish(), g.prefillNanos(),
                g.decodeNanos(), g.seed(), g.cachedTokens());
    }
}
