package dev.nemoh.cli;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class RecipeTest {
    @Command(name = "demo", mixinStandardHelpOptions = true)
    static final class Demo {
        @Option(names = "--recipe") Path recipe;
        @Option(names = "--lr") double lr;
        @Option(names = "--batch-size") int batchSize;
        @Option(names = "--pack", negatable = true) boolean pack;
        @Option(names = "--targets", split = ",") List<String> targets;
    }

    private static Demo parse(Path recipe, String... cli) {
        Demo d = new Demo();
        CommandLine c = new CommandLine(d);
        c.parseArgs(cli);
        Recipe.apply(recipe, c.getCommandSpec());
        return d;
    }

    @Test
    void yamlKeysBecomeOptionsAndTheCommandLineWins(@TempDir Path dir) throws IOException {
        Path y = dir.resolve("r.yaml");
        Files.writeString(y, "lr: 2.0e-4\nbatch_size: 4\npack: true\ntargets: [in_proj, q_proj]\n");
        Demo d = parse(y, "--batch-size", "8");
        assertEquals(2e-4, d.lr);
        assertEquals(8, d.batchSize);
        assertTrue(d.pack);
        assertEquals(List.of("in_proj", "q_proj"), d.targets);
        assertFalse(parse(y, "--no-pack").pack);
    }

    @Test
    void jsonWorksAlikeAndFalseNegates(@TempDir Path dir) throws IOException {
        Path j = dir.resolve("r.json");
        Files.writeString(j, "{\"lr\": 0.5, \"pack\": false, \"targets\": \"up_proj\"}");
        Demo d = parse(j, "--pack");
        assertEquals(0.5, d.lr);
        assertTrue(d.pack);
        assertEquals(List.of("up_proj"), d.targets);
    }

    @Test
    void mistakesAreNamed(@TempDir Path dir) throws IOException {
        Path y = dir.resolve("r.yaml");
        Files.writeString(y, "learning_rate: 1\n");
        var e = assertThrows(IllegalArgumentException.class, () -> parse(y));
        assertTrue(e.getMessage().contains("unknown key 'learning_rate'; keys are the long options of 'demo': "
                + "batch-size, lr, pack, targets"), e.getMessage());
        Files.writeString(y, "pack: 3\n");
        e = assertThrows(IllegalArgumentException.class, () -> parse(y));
        assertTrue(e.getMessage().contains("'pack' takes true or false"), e.getMessage());
        Files.writeString(y, "lr: {a: 1}\n");
        e = assertThrows(IllegalArgumentException.class, () -> parse(y));
        assertTrue(e.getMessage().contains("'lr' takes a plain value"), e.getMessage());
        Files.writeString(y, "- 1\n- 2\n");
        e = assertThrows(IllegalArgumentException.class, () -> parse(y));
        assertTrue(e.getMessage().contains("must be a mapping"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> parse(dir.resolve("none.yaml")));
        assertTrue(e.getMessage().contains("none.yaml does not exist"), e.getMessage());
    }
}
