package dev.nemoh.tokenizer;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.nemoh.NodePackages;
import dev.nemoh.Requirements;
import dev.nemoh.tokenizer.BpeTrainer.PreTokenization;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * nemoh's BPE training against the `tokenizers` library run live, through its Node.js binding
 * (tools/reference/bpe_trainer_node.js), on a generated corpus of awkward text: CRLF and LF endings, trailing
 * spaces, tabs, digits, contractions, accents, CJK, emoji, a last line without an ending. Runs where node and npm
 * are on the PATH (see {@link Requirements#assumeNode}); installs the pinned package into target/hf-tokenizers.
 */
class BpeTrainerNodeTest {
    static final String PACKAGE = "tokenizers@0.23.2";
    static final Path NODE_DIR = Path.of("target/hf-tokenizers");

    @Test
    void sameMergesAsTheLibraryOnAwkwardText(@TempDir Path tmp) throws Exception {
        Requirements.assumeNode();
        NodePackages.install(NODE_DIR, PACKAGE);
        Path corpus = tmp.resolve("corpus.txt");
        Files.writeString(corpus, awkwardText(), StandardCharsets.UTF_8);
        List<String> sequences = BpeTrainerTest.lines(corpus);
        for (PreTokenization split : PreTokenization.values()) {
            for (boolean prefix : new boolean[] {false, true}) {
                BpeTrainer t = new BpeTrainer(new BpeTrainer.Settings(1_000_000, 0, List.of(), split, prefix));
                t.feed(sequences);
                BpeTrainer.Model m = t.train(null);
                Path ours = t.save(m, tmp.resolve("nemoh"));
                Path theirs = tmp.resolve("hf.json");
                ProcessBuilder pb = new ProcessBuilder("node", Path.of("tools/reference/bpe_trainer_node.js").toAbsolutePath().toString(),
                        ours.toString(), theirs.toString(), corpus.toString());
                pb.environment().put("NODE_PATH", NODE_DIR.resolve("node_modules").toAbsolutePath().toString());
                NodePackages.Result r = NodePackages.run(pb, 120);
                assertEquals(0, r.code(), "node failed:\n" + r.output());
                BpeTrainerTest.assertSameAsLibrary(t, m, new ObjectMapper().readTree(theirs.toFile()));
            }
        }
    }

    static String awkwardText() {
        String[] words = {"the", "keeper", "lamp", "North", "Café", "naïve", "北京", "東京", "😀", "🌊", "123", "4.5",
                "--", "...", "\t", "  ", "'s", "'re", "don't", "I'm", "x_y", "a/b", "<s>", "http://x.y/z", "ΑΒΓ", "Ünïcödé"};
        String[] endings = {"\n", "\r\n", "  \n", "\n\n", "\r\n"};
        Random r = new Random(5);
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < 400; i++) {
            List<String> line = new ArrayList<>();
            for (int k = r.nextInt(13); k > 0; k--) line.add(words[r.nextInt(words.length)]);
            sb.append(String.join(" ", line)).append(endings[r.nextInt(endings.length)]);
        }
        return sb.append("no line ending at the end  ").toString();
    }
}
