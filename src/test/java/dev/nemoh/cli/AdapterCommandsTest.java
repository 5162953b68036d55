package dev.nemoh.cli;

import static dev.nemoh.cli.CliTest.assertOneLineError;
import static dev.nemoh.cli.CliTest.join;
import static dev.nemoh.cli.CliTest.run;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.nemoh.Fixtures;
import dev.nemoh.generate.Generation;
import dev.nemoh.generate.SamplingParams;
import dev.nemoh.io.SafetensorsFile;
import dev.nemoh.model.LoraAdapter;
import dev.nemoh.model.NemotronHModel;
import java.nio.file.Path;
import java.util.Arrays;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/** {@code --adapter} on forward, generate, chat and bench, {@code serve --lora}, and their one-line refusals. */
class AdapterCommandsTest {
    static final String FIXTURE = "nemotron-h-tiny";
    static final String MODEL = Fixtures.model(FIXTURE).toString();

    static String adapter(String kind) {
        return Fixtures.dir(FIXTURE).resolve(kind + "_adapter").toString();
    }

    /** The issue's check: {@code forward --adapter} equals PEFT's logits on input row 0 within 1e-4. */
    @ParameterizedTest
    @CsvSource({"nemotron-h-tiny, lora", "nemotron-h-tiny, dora", "nano-v2-tiny, lora", "nano-v2-tiny, dora"})
    void forwardWithAnAdapterWritesPeftsLogits(String fixture, String kind, @TempDir Path tmp) {
        try (SafetensorsFile ref = SafetensorsFile.open(Fixtures.dir(fixture).resolve("training.safetensors"))) {
            int[] ids = Arrays.copyOf(ref.get("input_ids").toIntArray(), ref.get("input_ids").dim(1));
            Path out = tmp.resolve("logits.safetensors");
            CliTest.Run r = run("forward", "--model", Fixtures.model(fixture).toString(), "--adapter",
                    Fixtures.dir(fixture).resolve(kind + "_adapter").toString(), "--ids", join(ids), "--out", out.toString());
            assertEquals(0, r.code(), r.err());
            assertTrue(r.err().contains("adapter " + kind + "_adapter (" + kind + "_adapter@"), r.err());
            try (SafetensorsFile written = SafetensorsFile.open(out)) {
                double err = Fixtures.maxAbs(written.get("logits").toFloatArray(), ref.get(kind + ".logits.0").toFloatArray());
                System.out.printf("forward --adapter %s %s against PEFT, max abs %.3g%n", fixture, kind, err);
                assertTrue(err < 1e-4, fixture + " " + kind + ": " + err);
            }
        }
    }

    @Test
    void generateAndBenchRunThroughTheAdapter() {
        int[] prompt = {1, 5, 9, 2, 7, 30, 4};
        int tokens = 12;
        int[] expected;
        try (NemotronHModel m = NemotronHModel.load(Fixtures.model(FIXTURE))) {
            LoraAdapter a = m.loadAdapter("dora", Path.of(adapter("dora")));
            Generation g = new Generation(m, prompt, SamplingParams.builder().temperature(0).maxTokens(tokens).build(), null, a);
            expected = new int[tokens];
            for (int i = 0; i < tokens; i++) expected[i] = g.next();
        }
        CliTest.Run adapted = run("generate", "--model", MODEL, "--adapter", adapter("dora"), "--ids", join(prompt),
                "--max-tokens", String.valueOf(tokens), "--print-ids", "--ignore-eos");
        assertEquals(0, adapted.code(), adapted.err());
        assertEquals(join(expected), adapted.out().strip());
        CliTest.Run base = run("generate", "--model", MODEL, "--ids", join(prompt), "--max-tokens", String.valueOf(tokens),
                "--print-ids", "--ignore-eos");
        assertNotEquals(adapted.out(), base.out(), "the adapter changes the greedy tokens");

        CliTest.Run bench = run("bench", "--model", MODEL, "--adapter", adapter("lora"), "--prefill", "8", "--context", "16",
                "--decode-tokens", "2", "--rounds", "1", "--bandwidth-mib", "16", "--batch", "2");
        assertEquals(0, bench.code(), bench.err());
        assertTrue(bench.out().contains("adapter      lora_adapter@") && bench.out().contains("| decode batch of 2 after 16 | 4 |"),
                bench.out());
    }

    @Test
    void chatRunsThroughTheAdapter(@TempDir Path tmp) {
        // an adapter of the bundled model (which has a chat template), trained a step so that it changes the replies
        dev.nemoh.train.LoraModel lora = dev.nemoh.train.LoraModel.create(Path.of("models/nemoh-tiny"),
                new dev.nemoh.config.LoraConfig(4, 8, 0, dev.nemoh.config.LoraConfig.MODULES, false, false, 1));
        int[][] batch = {{5, 17, 42, 7, 99, 3, 250, 1}};
        lora.lossAndBackward(batch, batch, 7);
        new dev.nemoh.train.AdamW(lora.parameters(), 0.9, 0.95, 1e-8, 0).step(0.1);
        lora.save(tmp.resolve("tiny-lora"));
        String[] args = {"chat", "--model", "models/nemoh-tiny", "--no-think", "--max-tokens", "12"};
        CliTest.Run base = CliTest.runWithInput("hello\n/exit\n", args);
        String[] adapted = Arrays.copyOf(args, args.length + 2);
        adapted[args.length] = "--adapter";
        adapted[args.length + 1] = tmp.resolve("tiny-lora").toString();
        CliTest.Run withAdapter = CliTest.runWithInput("hello\n/exit\n", adapted);
        assertEquals(0, withAdapter.code(), withAdapter.err());
        assertTrue(withAdapter.err().contains("adapter tiny-lora (tiny-lora@"), withAdapter.err());
        assertNotEquals(base.out(), withAdapter.out());
        // a model of the fixture's shape with other weights: an adapter that finetune saved on the fixture runs on it
        // with a warning
        Path otherBase = tmp.resolve("other-base");
        assertEquals(0, run("init", "--config", Fixtures.model(FIXTURE).resolve("config.json").toString(), "--seed", "5",
                "--out", otherBase.toString()).code());
        dev.nemoh.train.LoraModel.create(Fixtures.model(FIXTURE), dev.nemoh.config.LoraConfig.defaults()).save(tmp.resolve("other"));
        CliTest.Run other = run("generate", "--model", otherBase.toString(), "--adapter", tmp.resolve("other").toString(),
                "--ids", "1,2", "--max-tokens", "2", "--print-ids");
        assertEquals(0, other.code(), other.err());
        assertTrue(other.err().lines().anyMatch(l -> l.startsWith("warning: the adapter in ") && l.contains("was trained on "
                + Fixtures.model(FIXTURE).toAbsolutePath())), other.err());
        assertTrue(withAdapter.err().lines().noneMatch(l -> l.startsWith("warning")), withAdapter.err());
    }

    @Test
    void adaptersAreRefusedInOneLine(@TempDir Path tmp) {
        assertOneLineError(run("generate", "--model", MODEL, "--adapter", adapter("lora"), "--device", "cuda", "--ids", "1",
                "--print-ids"), "--adapter", "CPU only", "--device cuda");
        assertOneLineError(run("bench", "--model", MODEL, "--adapter", adapter("lora"), "--device", "cuda"),
                "--adapter", "CPU only", "--device cuda");
        assertOneLineError(run("generate", "--model", MODEL, "--adapter", adapter("lora"), "--device", "auto", "--ids", "1",
                "--print-ids"), "--adapter", "CPU only", "--device auto");
        assertOneLineError(run("serve", "--model", MODEL, "--lora", "a=" + adapter("lora"), "--device", "cuda"), "--lora", "CPU only");
        assertOneLineError(run("serve", "--model", MODEL, "--lora", "nodir"), "--lora takes NAME=DIR", "nodir");
        assertOneLineError(run("serve", "--model", MODEL, "--lora", "a=x", "--lora", "a=y"), "--lora a is given twice");
        assertOneLineError(run("forward", "--model", MODEL, "--adapter", tmp.resolve("missing").toString(), "--ids", "1",
                "--out", tmp.resolve("o.safetensors").toString()), "adapter directory", "not found");
        // an adapter of another base model
        assertOneLineError(run("generate", "--model", MODEL, "--adapter",
                Fixtures.dir("nano-v2-tiny").resolve("lora_adapter").toString(), "--ids", "1", "--print-ids"), "base model");
    }
}
