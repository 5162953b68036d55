package dev.nemoh.generate;

import dev.nemoh.Fixtures;
import dev.nemoh.io.SafetensorsFile;
import dev.nemoh.model.LanguageModel;
import dev.nemoh.model.NemotronHModel;
import dev.nemoh.tokenizer.Tokenizer;
import org.junit.jupiter.api.Test;

import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The bundled tiny model (fixture weights + a 320-token byte-level BPE) generating text. */
class TextGeneratorTest {
    static final Path TINY = Path.of("models/nemoh-tiny");

    @Test
    void greedyTextIsTheFixtureGreedyTokensDecoded() {
        try (NemotronHModel m = NemotronHModel.load(Fixtures.model("nemotron-h-tiny"));
             SafetensorsFile ref = Fixtures.reference("nemotron-h-tiny")) {
            Tokenizer tok = Tokenizer.load(TINY);
            int[] prompt = Fixtures.ids(ref.get("input_ids"));
            int[] expected = Fixtures.ids(ref.get("greedy_tokens"));
            StringBuilder streamed = new StringBuilder();
            SamplingParams greedy = SamplingParams.greedy().withMaxTokens(expected.length);
            TextGenerator.Result r = new TextGenerator(m, tok).generate(prompt, greedy, List.of(), null, streamed::append);
            assertEquals(tok.decode(expected, true), r.text());
            assertEquals(r.text(), streamed.toString(), "the stream adds up to the result");
            assertEquals(expected.length, r.completionTokens());
        }
    }

    @Test
    void stopStringsCutTheTextAndNeverReachTheStream() {
        try (NemotronHModel m = NemotronHModel.load(TINY)) {
            Tokenizer tok = Tokenizer.load(TINY);
            TextGenerator gen = new TextGenerator(m, tok);
            SamplingParams p = SamplingParams.greedy().withMaxTokens(40);
            String full = gen.generate("Hello world", true, p, List.of(), null, s -> {}).text();
            assertTrue(full.length() > 6, "need some text to cut: " + full);
            String stop = full.substring(full.length() / 2, full.length() / 2 + 3);
            StringBuilder streamed = new StringBuilder();
            TextGenerator.Result cut = gen.generate("Hello world", true, p, List.of(stop), null, streamed::append);
            assertEquals(full.substring(0, full.indexOf(stop)), cut.text());
            assertEquals(cut.text(), streamed.toString());
            assertFalse(streamed.toString().contains(stop));
            assertEquals(TextSequence.Finish.STOP, cut.finish());
        }
    }

    /** The batched path: a loop feeds pending tokens itself; misuse fails loudly rather than decoding wrongly. */
    @Test
    void generationFedByABatchedStepMatchesItsOwnLoop() {
        try (NemotronHModel m = NemotronHModel.load(TINY)) {
            int[] prompt = Tokenizer.load(TINY).encode("Hello world", true);
            SamplingParams p = SamplingParams.greedy().withMaxTokens(8);
            Generation alone = new Generation(m, prompt, p), fed = new Generation(m, prompt, p);
            assertThrows(IllegalStateException.class, () -> fed.acceptLogits(new float[m.config().vocabSize]));
            for (int i = 0; i < 8; i++) {
                if (fed.pendingToken() >= 0) {
                    fed.acceptLogits(m.decodeBatch(new int[] {fed.pendingToken()}, new LanguageModel.SequenceState[] {fed.state()}));
                }
                assertEquals(alone.next(), fed.choose(), "token " + i);
                if (i < 7) assertThrows(IllegalStateException.class, fed::choose, "the chosen token must be fed first");
            }
            assertTrue(fed.done());
        }
    }
}
