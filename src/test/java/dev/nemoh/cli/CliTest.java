package dev.nemoh.cli;

import dev.nemoh.Fixtures;
import dev.nemoh.io.SafetensorsFile;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.stream.Collectors;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The nemoh commands, run in-process, on the fixtures. */
class CliTest {
    record Run(int code, String out, String err) {}

    static synchronized Run runWithInput(String stdin, String... args) {
        java.io.InputStream oldIn = System.in;
        try {
            System.setIn(new java.io.ByteArrayInputStream(stdin.getBytes(java.nio.charset.StandardCharsets.UTF_8)));
            return run(args);
        } finally {
            System.setIn(oldIn);
        }
    }

    static synchronized Run run(String... args) {
        PrintStream oldOut = System.out, oldErr = System.err;
        ByteArrayOutputStream out = new ByteArrayOutputStream(), err = new ByteArrayOutputStream();
        try {
            System.setOut(new PrintStream(out, true));
            System.setErr(new PrintStream(err, true));
            int code = Main.run(args);
            return new Run(code, out.toString(), err.toString());
        } finally {
            System.setOut(oldOut);
            System.setErr(oldErr);
        }
    }

    static String join(int[] ids) {
        return Arrays.stream(ids).mapToObj(Integer::toString).collect(Collectors.joining(","));
    }

    @ParameterizedTest
    @ValueSource(strings = {"nemotron-h-tiny", "nano-v2-tiny", "moe-tiny"})
    void generatePrintsTheReferenceGreedyTokens(String fixture) {
        try (SafetensorsFile ref = Fixtures.reference(fixture)) {
            int[] prompt = Fixtures.ids(ref.get("input_ids"));
            int[] expected = Fixtures.ids(ref.get("greedy_tokens"));
            Run r = run("generate", "--model", Fixtures.model(fixture).toString(), "--ids", join(prompt),
                    "--max-tokens", String.valueOf(expected.length), "--greedy", "--print-ids", "--ignore-eos");
            assertEquals(0, r.code(), r.err());
            assertEquals(join(expected), r.out().strip());
            assertTrue(r.err().contains("tok/s"), r.err());
        }
    }

    @Test
    void forwardWritesTheReferenceLogits(@TempDir Path tmp) {
        String fixture = "nemotron-h-tiny";
        try (SafetensorsFile ref = Fixtures.reference(fixture)) {
            Path out = tmp.resolve("logits.safetensors");
            Run r = run("forward", "--model", Fixtures.model(fixture).toString(),
                    "--ids", join(Fixtures.ids(ref.get("input_ids"))), "--out", out.toString());
            assertEquals(0, r.code(), r.err());
            try (SafetensorsFile written = SafetensorsFile.open(out)) {
                var logits = written.get("logits");
                assertEquals(40, logits.dim(0));
                assertEquals(320, logits.dim(1));
                // the CPU model's uncached logits (ForwardFixtureTest's LOGITS_ABS)
                dev.nemoh.Tolerance.check("forward command's logits max abs", Fixtures.maxAbs(logits.toFloatArray(),
                        ref.get("logits_f64").toDoubleArray()), FORWARD_ABS);
            }
        }
    }

    @Test
    void infoDescribesLayersAndParameters() {
        Run r = run("info", "--model", Fixtures.model("moe-tiny").toString());
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().contains("M E * E M - E".replace(" ", "")), r.out());
        assertTrue(r.out().contains("6 experts (top 2)"), r.out());
        Run preset = run("info", "--preset", "nemotron-h-8b");
        assertTrue(preset.out().contains("8,100,852,736"), preset.out());
    }

    @Test
    void badInputsGiveOneLineErrors(@TempDir Path tmp) throws Exception {
        String model = Fixtures.model("nemotron-h-tiny").toString();
        Run missing = run("generate", "--model", tmp.resolve("nope").toString(), "--ids", "1,2");
        assertEquals(2, missing.code());
        assertTrue(missing.err().startsWith("error: ") && missing.err().contains("nope"), missing.err());

        Run badIds = run("generate", "--model", model, "--ids", "1,x");
        assertEquals(2, badIds.code());
        assertTrue(badIds.err().contains("\"x\" is not a token id"), badIds.err());

        Run outOfVocab = run("forward", "--model", model, "--ids", "1,999", "--out", tmp.resolve("o.safetensors").toString());
        assertEquals(2, outOfVocab.code());
        assertTrue(outOfVocab.err().contains("999") && outOfVocab.err().contains("vocabulary"), outOfVocab.err());

        Run tooLong = run("generate", "--model", model, "--ids", "1,2", "--max-tokens", "5000", "--print-ids");
        assertEquals(2, tooLong.code());
        assertTrue(tooLong.err().contains("max_position_embeddings"), tooLong.err());

        Path emptyModel = Files.createDirectory(tmp.resolve("empty"));
        Files.writeString(emptyModel.resolve("config.json"), Files.readString(Path.of(model, "config.json")));
        Run noWeights = run("generate", "--model", emptyModel.toString(), "--ids", "1", "--print-ids");
        assertEquals(2, noWeights.code());
        assertTrue(noWeights.err().contains("no safetensors weights"), noWeights.err());
        assertEquals(1, noWeights.err().strip().lines().count(), "one line, no stack trace");

        Run badKv = run("generate", "--model", model, "--ids", "1", "--print-ids", "--kv-cache-dtype", "fp8");
        assertEquals(2, badKv.code());
        assertTrue(badKv.err().contains("\"fp8\"") && badKv.err().contains("auto, float32 or bfloat16"), badKv.err());
        Run cudaFloat32Kv = run("generate", "--model", model, "--ids", "1", "--print-ids", "--device", "cuda", "--kv-cache-dtype", "float32");
        assertEquals(2, cudaFloat32Kv.code());
        assertTrue(cudaFloat32Kv.err().contains("CPU-only"), cudaFloat32Kv.err());
    }

    @Test
    void initThenBenchOnATruncatedShape(@TempDir Path tmp) {
        Path dir = tmp.resolve("m");
        String config = Fixtures.model("moe-tiny").resolve("config.json").toString();
        Run init = run("init", "--config", config, "--layers", "3", "--out", dir.toString());
        assertEquals(0, init.code(), init.err());
        assertTrue(init.out().contains("parameters"), init.out());
        Run again = run("init", "--config", config, "--out", dir.toString());
        assertEquals(2, again.code());
        assertTrue(again.err().contains("--force"), again.err());
        Run bench = run("bench", "--model", dir.toString(), "--prefill", "8", "--context", "16,32", "--decode-tokens", "3",
                "--rounds", "2", "--bandwidth-mib", "16", "--batch", "3", "--weights", "q8_0");
        assertEquals(0, bench.code(), bench.err());
        // 3 steps in 2 rounds visiting both contexts: every context still gets all 3
        assertTrue(bench.out().contains("| prefill | 8 |") && bench.out().contains("| decode after 16 | 3 |")
                && bench.out().contains("| decode after 32 | 3 |"), bench.out());
        assertTrue(bench.out().contains("| decode batch of 3 after 16 | 9 |"), bench.out());
        assertTrue(bench.out().contains("kv cache     bfloat16 (--kv-cache-dtype auto)"), bench.out());
        Run tooManyRounds = run("bench", "--model", dir.toString(), "--decode-tokens", "2", "--rounds", "3");
        assertEquals(2, tooManyRounds.code());
        assertTrue(tooManyRounds.err().contains("--rounds"), tooManyRounds.err());
        Run neither = run("init", "--out", dir.toString());
        assertEquals(2, neither.code());
        assertTrue(neither.err().contains("--preset") && neither.err().contains("--config"), neither.err());
    }

    @Test
    void exportGgufWritesTheBundledModelAndRefusesWhatItCannotWrite(@TempDir Path tmp) {
        Path out = tmp.resolve("tiny.gguf");
        Run ok = run("export-gguf", "--model", TINY, "--out", out.toString(), "--type", "q8_0");
        assertEquals(0, ok.code(), ok.err());
        assertTrue(ok.out().contains("64 tensors, matrices q8_0"), ok.out());
        assertTrue(java.nio.file.Files.exists(out));
        Run badType = run("export-gguf", "--model", TINY, "--out", out.toString(), "--type", "q4_k");
        assertEquals(2, badType.code());
        assertTrue(badType.err().contains("use bf16, f32 or q8_0"), badType.err());
        Run moe = run("export-gguf", "--model", Fixtures.model("moe-tiny").toString(), "--out", tmp.resolve("m.gguf").toString());
        assertEquals(2, moe.code());
        assertEquals(1, moe.err().strip().lines().count(), moe.err());
    }

    @Test
    void aGgufFileRunsWhereAModelDirectoryDoesAndIsRefusedElsewhere(@TempDir Path tmp) {
        String gguf = tmp.resolve("tiny.gguf").toString();
        assertEquals(0, run("export-gguf", "--model", TINY, "--out", gguf, "--type", "q8_0").code());
        Run fromGguf = run("generate", "--model", gguf, "--ids", "1,5,17", "--max-tokens", "6", "--print-ids", "--ignore-eos");
        assertEquals(0, fromGguf.code(), fromGguf.err());
        assertEquals(6, fromGguf.out().strip().split(",").length, fromGguf.out());
        Run text = run("generate", "--model", gguf, "--prompt", "Hello", "--max-tokens", "4");
        assertEquals(0, text.code(), text.err());
        for (String[] bad : new String[][] {
                {"generate", "--model", gguf, "--device", "cuda", "--prompt", "hi"},
                {"generate", "--model", gguf, "--weights", "q4_0", "--prompt", "hi"},
                {"info", "--model", gguf},
                {"export-gguf", "--model", gguf, "--out", tmp.resolve("again.gguf").toString()},
                {"generate", "--model", tmp.resolve("missing.gguf").toString(), "--prompt", "hi"}}) {
            Run r = run(bad);
            assertEquals(2, r.code(), String.join(" ", bad) + ": " + r.err());
            assertEquals(1, r.err().strip().lines().count(), r.err());
        }
    }

    @Test
    void sampledGenerationIsReproducibleForASeed() {
        String model = Fixtures.model("nemotron-h-tiny").toString();
        String[] args = {"generate", "--model", model, "--ids", "5,17,42", "--max-tokens", "24", "--temperature", "1.5",
                "--top-p", "0.95", "--print-ids", "--ignore-eos", "--seed"};
        Run a = run(concat(args, "7")), b = run(concat(args, "7")), c = run(concat(args, "8"));
        assertEquals(0, a.code(), a.err());
        assertEquals(a.out(), b.out(), "same seed, same tokens");
        assertTrue(!a.out().equals(c.out()), "another seed, other tokens");
        assertTrue(a.err().contains("seed 7"), a.err());
        Run bad = run("generate", "--model", model, "--ids", "1", "--print-ids", "--temperature", "-1");
        assertEquals(2, bad.code());
        assertTrue(bad.err().contains("temperature"), bad.err());
    }

    static String[] concat(String[] a, String last) {
        String[] out = java.util.Arrays.copyOf(a, a.length + 1);
        out[a.length] = last;
        return out;
    }

    static final String TINY = Path.of("models/nemoh-tiny").toString();

    @Test
    void generateStreamsTextFromAPromptOrStandardInput() {
        Run a = run("generate", "--model", TINY, "--prompt", "Hello world", "--max-tokens", "12");
        assertEquals(0, a.code(), a.err());
        assertTrue(a.err().contains("time to first token") && a.err().contains("generated 12"), a.err());
        Run b = runWithInput("Hello world", "generate", "--model", TINY, "--max-tokens", "12");
        assertEquals(a.out(), b.out(), "stdin and --prompt give the same greedy text");
        Run none = runWithInput("", "generate", "--model", TINY);
        assertEquals(2, none.code());
        assertTrue(none.err().contains("no prompt"), none.err());
    }

    @Test
    void generateConstrainsTheOutputToAJsonSchema(@TempDir Path dir) throws Exception {
        Path schema = dir.resolve("schema.json");
        Files.writeString(schema, """
                {"type": "object", "properties": {"name": {"type": "string"}, "n": {"type": "integer"},
                 "tags": {"type": "array", "items": {"enum": ["a", "b"]}, "maxItems": 3}}, "required": ["name", "n"]}""");
        var mapper = new com.fasterxml.jackson.databind.ObjectMapper();
        var validator = com.networknt.schema.JsonSchemaFactory.getInstance(com.networknt.schema.SpecVersion.VersionFlag.V202012)
                .getSchema(mapper.readTree(schema.toFile()));
        for (int seed = 0; seed < 3; seed++) {
            Run r = run("generate", "--model", TINY, "--prompt", "JSON:", "--json-schema", schema.toString(),
                    "--temperature", "1", "--seed", Integer.toString(seed), "--max-tokens", "40");
            assertEquals(0, r.code(), r.err());
            assertTrue(validator.validate(mapper.readTree(r.out())).isEmpty(), r.out());
            assertTrue(r.err().contains("(stop)"), r.err());
        }
        Run object = run("generate", "--model", TINY, "--prompt", "JSON:", "--json-object", "--temperature", "1", "--seed", "5");
        assertEquals(0, object.code(), object.err());
        assertTrue(mapper.readTree(object.out()).isObject(), object.out());

        Files.writeString(schema, "{\"type\": \"integer\", \"minimum\": 0}");
        Run bad = run("generate", "--model", TINY, "--prompt", "x", "--json-schema", schema.toString());
        assertEquals(2, bad.code());
        assertTrue(bad.err().contains("'minimum'") && bad.err().strip().lines().count() == 1, "one line, before the model loads: " + bad.err());
        Run missing = run("generate", "--model", TINY, "--prompt", "x", "--json-schema", dir.resolve("none.json").toString());
        assertEquals(2, missing.code());
        assertTrue(missing.err().contains("none.json"), missing.err());
        Files.writeString(schema, "{\"type\": \"object\", \"properties\": {\"long_property_name\": {\"type\": \"string\"}},"
                + " \"required\": [\"long_property_name\"]}");
        Run tooShort = run("generate", "--model", TINY, "--prompt", "x", "--json-schema", schema.toString(), "--max-tokens", "8");
        assertEquals(2, tooShort.code());
        assertTrue(tooShort.err().contains("raise --max-tokens"), tooShort.err());
        Run withStop = run("generate", "--model", TINY, "--prompt", "x", "--json-object", "--stop", "}");
        assertEquals(2, withStop.code());
        assertTrue(withStop.err().contains("--stop"), withStop.err());
    }

    @Test
    void chatAppliesTheTemplateAndEnforcesTheThinkingBudget() {
        Run r = runWithInput("Hi there\n/no_think\nAnd now?\n/exit\n", "chat", "--model", TINY,
                "--max-tokens", "20", "--thinking-budget", "4");
        assertEquals(0, r.code(), r.err());
        String[] turns = r.out().split("> ");
        assertTrue(turns[1].contains("</think>"), "the budget closes the reasoning of the first turn: " + turns[1]);
        assertTrue(turns[1].contains("[reasoning:"), turns[1]);
        assertTrue(r.out().contains("(reasoning off)"), r.out());
        Run noTemplate = runWithInput("hi\n", "chat", "--model", Fixtures.model("nemotron-h-tiny").toString());
        assertEquals(2, noTemplate.code());
        assertEquals(1, noTemplate.err().strip().lines().filter(l -> l.startsWith("error:")).count(), noTemplate.err());
    }

    @Test
    void chatResumesEachTurnFromTheCachedPrefixOfTheConversation() {
        String input = "Tell me about hybrid models and why their state is fixed\nAnd attention?\nThanks\n/exit\n";
        String[] args = {"chat", "--model", TINY, "--no-think", "--temperature", "0", "--max-tokens", "12",
                "--system", "You are a careful assistant who answers briefly and never guesses."};
        Run plain = runWithInput(input, args);
        String[] cachedArgs = java.util.Arrays.copyOf(args, args.length + 4);
        System.arraycopy(new String[] {"--prefix-cache-mib", "16", "--prefix-cache-interval", "16"}, 0, cachedArgs, args.length, 4);
        Run cached = runWithInput(input, cachedArgs);
        assertEquals(0, cached.code(), cached.err());
        assertEquals(plain.out(), cached.out(), "the same answers with the cache");
        java.util.regex.Matcher m = java.util.regex.Pattern.compile("(\\d+) of (\\d+) prompt tokens from the prefix cache")
                .matcher(cached.err());
        int[][] turns = new int[3][];
        for (int i = 0; i < 3; i++) {
            assertTrue(m.find(), cached.err());
            turns[i] = new int[] {Integer.parseInt(m.group(1)), Integer.parseInt(m.group(2))};
        }
        assertEquals(0, turns[0][0], "the first turn finds nothing");
        for (int i = 1; i < 3; i++) {
            // a later turn resumes within one interval of where the previous turn's prompt ended, never past it
            assertTrue(turns[i][0] % 16 == 0 && turns[i][0] > turns[i - 1][1] - 2 * 16 && turns[i][0] <= turns[i - 1][1],
                    java.util.Arrays.deepToString(turns));
        }
        assertTrue(!plain.err().contains("prefix cache"), plain.err());
    }

    /** Measured when the bounds were set; each bound is about ten times ({@link dev.nemoh.Tolerance}). */
    static final double LOGPROB = 5.0e-7, FORWARD_ABS = 3.4e-6;

    @Test
    void logprobsAreTheLogSoftmaxOfTheModelsLogits() {
        String model = Fixtures.model("nemotron-h-tiny").toString();
        Run r = run("generate", "--model", model, "--ids", "5,17,42", "--max-tokens", "2", "--print-ids", "--logprobs", "3", "--ignore-eos");
        assertEquals(0, r.code(), r.err());
        String[] lines = r.out().strip().split("\n");
        assertEquals(3, lines.length, r.out());
        String[] first = lines[1].split("\t");
        assertEquals("rank 1", first[2], "greedy picks the most likely token");
        assertEquals(first[0] + ":" + first[1], first[3], "and it heads the alternatives");
        try (var m = dev.nemoh.model.NemotronHModel.load(Fixtures.model("nemotron-h-tiny"))) {
            float[] logits = m.forwardLast(new int[] {5, 17, 42}, m.newCache());
            double max = Double.NEGATIVE_INFINITY, sum = 0;
            for (float v : logits) max = Math.max(max, v);
            for (float v : logits) sum += Math.exp(v - max);
            int id = Integer.parseInt(first[0]);
            // printed with 6 decimals: the difference is the print's rounding (at most 5e-7) on top of the float32 math
            dev.nemoh.Tolerance.check("generate --logprobs against the log-softmax of the logits",
                    Math.abs(logits[id] - max - Math.log(sum) - Double.parseDouble(first[1])), LOGPROB);
        }
    }

    @Test
    void benchServeGivesTheSameTextsBatchedAndOneAtATime() {
        Run r = run("bench-serve", "--model", "models/nemoh-tiny", "--clients", "3", "--max-tokens", "4");
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().contains("continuous batching") && r.out().contains("one at a time"), r.out());
        assertTrue(r.out().contains("same texts both ways: yes"), r.out());
    }

    @Test
    void serveRejectsBadBoundsInOneLine() {
        Run r = run("serve", "--model", "models/nemoh-tiny", "--max-batch", "0");
        assertEquals(2, r.code());
        assertEquals("error: --max-batch must be >= 1, got 0", r.err().strip());
        r = run("serve", "--model", "models/nemoh-tiny", "--request-timeout", "0");
        assertEquals(2, r.code());
        assertEquals("error: --request-timeout must be between 1 and 31536000 seconds, got 0", r.err().strip());
    }

    @Test
    void aBadPrefixCacheIntervalIsRefusedInOneLine() {
        for (String command : new String[] {"serve", "chat"}) {
            Run r = run(command, "--model", TINY, "--prefix-cache-mib", "64", "--prefix-cache-interval", "1");
            assertEquals(2, r.code(), r.err());
            assertEquals("error: --prefix-cache-interval must be at least 2 tokens, got 1", r.err().strip());
            r = run(command, "--model", TINY, "--prefix-cache-interval", "256");
            assertEquals(2, r.code(), r.err());
            assertEquals("error: --prefix-cache-interval sets the prefix cache, which is off: give --prefix-cache-mib too,"
                    + " or drop --prefix-cache-interval", r.err().strip());
        }
    }

    @Test
    void serveRefusesBadAccessOptionsInOneLine() throws Exception {
        Path missing = Path.of("target/no-such-cert.pem");
        for (String[] c : new String[][] {
                {"error: --ssl-certfile and --ssl-keyfile go together; give both (PEM files) or neither", "--ssl-certfile", "x.pem"},
                {"error: --ssl-certfile and --ssl-keyfile go together; give both (PEM files) or neither", "--ssl-keyfile", "x.pem"},
                {"error: --ssl-certfile " + missing + ": no such file", "--ssl-certfile", missing.toString(), "--ssl-keyfile", missing.toString()},
                {"error: --api-key (or NEMOH_API_KEY) is empty; give a key, or leave it out to serve without one", "--api-key", ""},
                {"error: --metrics-key is empty; give a key, or leave it out to serve without one", "--metrics-key", ""}}) {
            String[] args = new String[c.length + 1];
            args[0] = "serve";
            args[1] = "--port=0";
            System.arraycopy(c, 1, args, 2, c.length - 1);
            Run r = org.junit.jupiter.api.Assertions.assertTimeoutPreemptively(java.time.Duration.ofSeconds(60), () -> run(args));
            assertEquals(2, r.code(), String.join(" ", args) + ": " + r.err());
            assertEquals(c[0], r.err().strip(), String.join(" ", args));
        }
    }

    @Test
    void theApiKeyComesFromTheOptionOrNemohApiKey() {
        ServeCommand cmd = new ServeCommand();
        new picocli.CommandLine(cmd).parseArgs("--api-key", "from-option");
        assertEquals("from-option", cmd.server.options("127.0.0.1", 0, java.util.Map.of("NEMOH_API_KEY", "from-env"), cmd.model).apiKey());
        cmd = new ServeCommand();
        new picocli.CommandLine(cmd).parseArgs();
        assertEquals("from-env", cmd.server.options("127.0.0.1", 0, java.util.Map.of("NEMOH_API_KEY", "from-env"), cmd.model).apiKey());
        assertEquals(null, cmd.server.options("127.0.0.1", 0, java.util.Map.of(), cmd.model).apiKey());
        ServeCommand plain = cmd;
        IllegalArgumentException e = org.junit.jupiter.api.Assertions.assertThrows(IllegalArgumentException.class,
                () -> plain.server.options("127.0.0.1", 0, java.util.Map.of("NEMOH_API_KEY", ""), plain.model));
        assertTrue(e.getMessage().startsWith("--api-key (or NEMOH_API_KEY) is empty"), e.getMessage());
    }

    @Test
    void listeningBeyondLoopbackWithoutAKeyWarns() {
        assertEquals(java.util.List.of(), ServeCommand.warnings("127.0.0.1", false, false));
        assertEquals(java.util.List.of(), ServeCommand.warnings("localhost", false, false));
        assertEquals(java.util.List.of(), ServeCommand.warnings("::1", false, false));
        java.util.List<String> open = ServeCommand.warnings("0.0.0.0", false, false);
        assertEquals(1, open.size());
        assertTrue(open.getFirst().startsWith("warning: listening on 0.0.0.0 without an API key"), open.getFirst());
        assertTrue(open.getFirst().contains("--api-key") && open.getFirst().contains("NEMOH_API_KEY"), open.getFirst());
        java.util.List<String> clear = ServeCommand.warnings("0.0.0.0", true, false);
        assertEquals(1, clear.size());
        assertTrue(clear.getFirst().contains("--ssl-certfile"), clear.getFirst());
        assertEquals(java.util.List.of(), ServeCommand.warnings("0.0.0.0", true, true));
    }

    @Test
    void serveRefusesACacheBoundTheHeapCannotHold() {
        long mib = Runtime.getRuntime().maxMemory() >> 20;
        Run r = org.junit.jupiter.api.Assertions.assertTimeoutPreemptively(java.time.Duration.ofSeconds(60),
                () -> run("serve", "--model", "models/nemoh-tiny", "--port", "0", "--max-cache-memory", String.valueOf(mib)));
        assertEquals(2, r.code(), r.err());
        String last = r.err().strip().lines().reduce((a, b) -> b).orElseThrow();
        assertTrue(last.startsWith("error: --max-cache-memory " + mib + " MiB does not fit in the Java heap"), last);
    }

    @Test
    void preprocessWritesMegatronsDatasetAndNamesBadInput(@TempDir Path tmp) throws Exception {
        Path in = tmp.resolve("docs.jsonl");
        Files.write(in, java.util.List.of("{\"text\": \"Hello world\"}", "{\"text\": \"Bye\"}"));
        Run ok = run("preprocess", "--input", in.toString(), "--tokenizer", "models/nemoh-tiny", "--output-prefix",
                tmp.resolve("corpus").toString(), "--append-eod");
        assertEquals(0, ok.code(), ok.err());
        assertTrue(ok.out().contains("2 documents (0 empty)"), ok.out());
        assertTrue(ok.out().contains("data path: " + tmp.resolve("corpus_text_document")), ok.out());
        assertTrue(Files.isRegularFile(tmp.resolve("corpus_text_document.bin")));
        assertTrue(Files.isRegularFile(tmp.resolve("corpus_text_document.idx")));

        Files.write(in, java.util.List.of("{\"text\": \"Hello world\"}", "not json"));
        Run bad = run("preprocess", "--input", in.toString(), "--tokenizer", "models/nemoh-tiny", "--output-prefix",
                tmp.resolve("bad").toString());
        assertEquals(2, bad.code(), bad.err());
        String last = bad.err().strip().lines().reduce((a, b) -> b).orElseThrow();
        assertTrue(last.startsWith("error: " + in + ":2: not valid JSON"), last);
        assertOneLineError(run("preprocess", "--input", in.toString(), "--tokenizer", tmp.resolve("none").toString(),
                "--output-prefix", tmp.resolve("x").toString()), "does not exist");
    }

    /** Exit code 2 and one line on stderr, which names the problem ({@code expected}, all of them). */
    static void assertOneLineError(Run r, String... expected) {
        assertEquals(2, r.code(), r.out() + r.err());
        String err = r.err().strip();
        assertEquals(1, err.lines().count(), err);
        assertTrue(err.startsWith("error: "), err);
        for (String e : expected) assertTrue(err.contains(e), "no '" + e + "' in: " + err);
    }

    @Test
    void commandsThatOnlyReadTheModelDirectoryOfferNoInferenceOptions(@TempDir Path tmp) {
        String model = Fixtures.model("nemotron-h-tiny").toString();
        String[][] commands = {{"info", "--model", model}, {"export-gguf", "--model", TINY, "--out", tmp.resolve("t.gguf").toString()},
                {"train-bench", "--model", model, "--seq-len", "4", "--batch", "1", "--steps", "1"},
                {"forward", "--model", model, "--ids", "1,2", "--out", tmp.resolve("f.safetensors").toString()}};
        for (String[] command : commands) {
            for (String[] option : new String[][] {{"--weights", "q8_0"}, {"--device", "auto"}, {"--kv-cache-dtype", "bfloat16"}}) {
                if (command[0].equals("forward") && option[0].equals("--weights")) continue; // forward honours it
                if (command[0].equals("train-bench") && option[0].equals("--device")) continue; // its own, below
                String[] args = java.util.stream.Stream.concat(Arrays.stream(command), Arrays.stream(option)).toArray(String[]::new);
                assertOneLineError(run(args), "Unknown option", "'" + option[0] + "'", "nemoh " + command[0] + " --help");
            }
        }
        Run q8 = run("forward", "--model", model, "--ids", "1,2", "--weights", "q8_0", "--out", tmp.resolve("q.safetensors").toString());
        assertEquals(0, q8.code(), q8.err());
        assertOneLineError(run("info", "--model", model, "--preset", "nemotron-h-8b"), "--model", "--preset");
    }

    @Test
    void fineTuningDevicesAndPrecisions(@TempDir Path tmp) throws Exception {
        String model = Fixtures.model("nemotron-h-tiny").toString();
        Path data = tmp.resolve("d.jsonl");
        Files.writeString(data, "{\"input\": \"a\", \"output\": \"b\"}\n");
        // cuda: runs where a GPU (or the CUDA emulator) is, else one line naming what is missing
        Run cuda = run("train-bench", "--model", model, "--device", "cuda", "--seq-len", "8", "--batch", "1", "--steps", "1");
        if (dev.nemoh.cuda.Cuda.available()) assertEquals(0, cuda.code(), cuda.err());
        else assertOneLineError(cuda, "no CUDA driver");
        assertOneLineError(run("finetune", "--model", TINY, "--data", data.toString(), "--out", tmp.resolve("o").toString(),
                "--precision", "bf16"), "--precision bf16 is for --device cuda");
        assertOneLineError(run("train-bench", "--model", model, "--precision", "fp16"), "--precision must be fp32 or bf16");
        assertOneLineError(run("train-bench", "--model", model, "--recompute-from", "0"), "--recompute-from must be >= 1");
        assertOneLineError(run("train-bench", "--model", model, "--device", "tpu"), "--device must be cpu, cuda or auto");
        Run cpu = run("train-bench", "--model", model, "--device", "cpu", "--seq-len", "4", "--batch", "1", "--steps", "1");
        assertEquals(0, cpu.code(), cpu.err());
        assertOneLineError(run("train-bench", "--model", model, "--dora"), "--dora", "--lora-r");
    }

    @Test
    void benchRefusesWhatItsDeviceWouldIgnore() {
        String model = Fixtures.model("nemotron-h-tiny").toString();
        // checked before any GPU is looked for, so the same on a machine with one
        assertOneLineError(run("bench", "--model", model, "--device", "cuda", "--weights", "q8_0"),
                "--weights q8_0", "CPU-only", "--device cuda");
        assertOneLineError(run("bench", "--model", model, "--device", "cuda", "--weights", "q4_0"), "--weights q4_0", "CPU-only");
        assertOneLineError(run("bench", "--model", model, "--device", "cuda", "--kv-cache-dtype", "float32"),
                "--kv-cache-dtype float32", "CPU-only");
        assertOneLineError(run("bench", "--model", model, "--device", "cuda", "--rounds", "3"), "--rounds", "CPU");
        assertOneLineError(run("bench", "--model", model, "--device", "cuda", "--bandwidth-mib", "64"), "--bandwidth-mib", "CPU");
        assertOneLineError(run("bench", "--model", model, "--profile"), "--profile", "--device cuda");
    }

    @Test
    void gpuMemoryAndPrefillChunkAreRefusedOffTheGpuAndWhenMalformed() {
        String model = Fixtures.model("nemotron-h-tiny").toString();
        for (String[] command : new String[][] {{"generate", "--ids", "1", "--print-ids"}, {"bench"},
                {"train-bench", "--steps", "1"}, {"finetune", "--data", "x.jsonl", "--out", "/tmp/nemoh-never"}}) {
            String[] args = java.util.stream.Stream.concat(java.util.Arrays.stream(command),
                    java.util.stream.Stream.of("--model", model, "--device", "cpu", "--gpu-memory", "8")).toArray(String[]::new);
            assertOneLineError(run(args), "--gpu-memory bounds the GPU's memory: use it with --device cuda or drop it");
        }
        assertOneLineError(run("generate", "--model", model, "--ids", "1", "--print-ids", "--device", "cpu", "--prefill-chunk", "512"),
                "--prefill-chunk sets the GPU's prefill");
        assertOneLineError(run("bench", "--model", model, "--device", "cuda", "--gpu-memory", "lots"),
                "--gpu-memory must be a number of GiB (e.g. 22) or a fraction of the GPU below 1 (e.g. 0.9), not \"lots\"");
        assertOneLineError(run("bench", "--model", model, "--device", "cuda", "--prefill-chunk", "0"),
                "--prefill-chunk must be at least 1 token, got 0");
        Run tooSmall = run("bench", "--model", model, "--device", "cuda", "--gpu-memory", "0.0000001", "--prefill", "0",
                "--context", "8", "--decode-tokens", "1");
        if (dev.nemoh.cuda.Cuda.available()) {
            assertOneLineError(tooSmall, "--gpu-memory 0.0000001 (", "cannot hold the weights (");
            // the command's budget ends with it: the next cuda command and this JVM's other tests run unbounded
            assertEquals(Long.MAX_VALUE, dev.nemoh.cuda.Cuda.get().memory.limit());
            assertEquals(0, run("bench", "--model", model, "--device", "cuda", "--prefill", "0", "--context", "8",
                    "--decode-tokens", "1").code());
            assertEquals(Long.MAX_VALUE, dev.nemoh.cuda.Cuda.get().memory.limit());
        } else {
            assertOneLineError(tooSmall, "no CUDA driver");
        }
    }

    @Test
    void generateFromIdsPrintsTextThroughTheTokenizerAndHonoursStop() {
        var tok = dev.nemoh.tokenizer.Tokenizer.load(Path.of(TINY));
        String ids = join(tok.encode("Hello world", true));
        Run text = run("generate", "--model", TINY, "--prompt", "Hello world", "--max-tokens", "12");
        Run fromIds = run("generate", "--model", TINY, "--ids", ids, "--max-tokens", "12");
        assertEquals(0, fromIds.code(), fromIds.err());
        assertTrue(!text.out().isBlank(), text.out());
        assertEquals(text.out(), fromIds.out(), "the same prompt as text or as ids gives the same text");

        String whole = text.out().strip();
        String stop = whole.substring(whole.length() / 2, whole.length() / 2 + 2);
        Run stopped = run("generate", "--model", TINY, "--ids", ids, "--max-tokens", "12", "--stop", stop);
        assertEquals(0, stopped.code(), stopped.err());
        assertEquals(text.out().substring(0, text.out().indexOf(stop)), stopped.out().stripTrailing().isEmpty() ? ""
                : stopped.out().substring(0, stopped.out().length() - System.lineSeparator().length()));
        assertTrue(stopped.err().contains("(stop)"), stopped.err());

        Run allIds = run("generate", "--model", TINY, "--ids", ids, "--max-tokens", "12", "--print-ids");
        Run stoppedIds = run("generate", "--model", TINY, "--ids", ids, "--max-tokens", "12", "--print-ids", "--stop", stop);
        String[] all = allIds.out().strip().split(","), cut = stoppedIds.out().strip().split(",");
        assertEquals(12, all.length, allIds.out());
        assertTrue(cut.length < all.length && Arrays.equals(cut, Arrays.copyOf(all, cut.length)), stoppedIds.out());
        assertEquals(tok.decode(Arrays.stream(all).mapToInt(Integer::parseInt).toArray(), true), whole);

        Run promptIds = run("generate", "--model", TINY, "--prompt", "Hello world", "--max-tokens", "12", "--print-ids");
        assertEquals(allIds.out(), promptIds.out(), "--print-ids prints ids whatever the prompt's form");
    }

    @Test
    void generateFromIdsWithoutATokenizerNeedsPrintIdsAndTakesNoStop() {
        String model = Fixtures.model("nemotron-h-tiny").toString();
        assertOneLineError(run("generate", "--model", model, "--ids", "1,2", "--max-tokens", "2"),
                "no tokenizer.json", "--print-ids");
        assertOneLineError(run("generate", "--model", model, "--ids", "1,2", "--print-ids", "--stop", "x"),
                "--stop", "tokenizer");
        assertOneLineError(run("generate", "--model", model, "--ids", "1,2", "--logprobs", "2"), "--logprobs", "--print-ids");
        assertOneLineError(run("chat", "--model", TINY, "--logprobs", "2"), "Unknown option", "'--logprobs'");
    }
}
