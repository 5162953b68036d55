package dev.nemoh.cli;

import dev.nemoh.generate.Generation;
import dev.nemoh.generate.JsonGrammar;
import dev.nemoh.generate.JsonSchema;
import dev.nemoh.generate.SamplingParams;
import dev.nemoh.generate.TextSequence;
import dev.nemoh.generate.TokenMask;
import dev.nemoh.generate.TokenVocabulary;
import dev.nemoh.model.LanguageModel;
import dev.nemoh.model.LoraAdapter;
import dev.nemoh.tokenizer.Tokenizer;
import dev.nemoh.io.NemotronHGguf;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;

@Command(name = "generate", mixinStandardHelpOptions = true,
        description = "Generates from a text prompt or prompt token ids through the cached (recurrent) path; prints the text as it is decoded, or the token ids with --print-ids; greedy unless --temperature > 0.")
final class GenerateCommand implements Runnable {
    @Mixin
    ModelOption model;

    @Mixin
    AdapterOption adapter;

    @picocli.CommandLine.ArgGroup(multiplicity = "0..1")
    Input input;

    static final class Input {
        @Option(names = "--ids", required = true, paramLabel = "IDS", description = "Comma-separated prompt token ids.")
        String ids;

        @Option(names = {"-p", "--prompt"}, required = true, paramLabel = "TEXT", description = "Prompt text (default: read standard input).")
        String prompt;
    }

    @Option(names = "--stop", paramLabel = "TEXT", description = "Stop before this text (repeatable; needs the model's tokenizer).")
    List<String> stop = new java.util.ArrayList<>();

    @Mixin
    SamplingOptions sampling;

    @Option(names = "--print-ids", description = "Print the generated token ids, comma-separated, on one line, instead of the text.")
    boolean printIds;

    @Option(names = "--logprobs", defaultValue = "-1", paramLabel = "N",
            description = "With --print-ids: print each token's log-probability and its N most likely alternatives.")
    int logprobs;

    @Option(names = "--ignore-eos", description = "Keep generating past the model's eos_token_id.")
    boolean ignoreEos;

    @Option(names = "--json-schema", paramLabel = "FILE",
            description = "Constrain the output to JSON that validates against the JSON Schema in FILE (README lists the subset).")
    Path jsonSchema;

    @Option(names = "--json-object", description = "Constrain the output to a JSON object.")
    boolean jsonObject;

    @Override
    public void run() {
        if (logprobs >= 0 && !printIds) {
            throw new IllegalArgumentException("--logprobs prints a line per token after the ids: add --print-ids");
        }
        if (jsonSchema != null && jsonObject) throw new IllegalArgumentException("give --json-schema or --json-object, not both");
        JsonGrammar grammar = grammar(); // before the model loads: a bad schema fails at once
        Path dir = model.resolve();
        boolean fromIds = input != null && input.ids != null;
        int[] ids = fromIds ? TokenIds.parse(input.ids) : null;
        if (fromIds && !NemotronHGguf.isGguf(dir) && !Files.exists(dir.resolve("tokenizer.json"))) {
            // without a tokenizer there is no text: only the ids can be printed, and stop strings cannot be found
            if (!stop.isEmpty()) {
                throw new IllegalArgumentException("--stop needs the model's tokenizer to find the text, and " + dir
                        + " has no tokenizer.json: drop --stop (or --ignore-eos and --max-tokens bound the output)");
            }
            if (!printIds) {
                throw new IllegalArgumentException(dir + " has no tokenizer.json to decode the generated tokens: add"
                        + " --print-ids to print their ids");
            }
            AdapterOption.checkDevice(model.device, adapter.dir != null, "--adapter");
            if (jsonSchema != null || jsonObject) {
                throw new IllegalArgumentException("--json-schema and --json-object need the model's tokenizer to know"
                        + " each token's bytes, and " + dir + " has no tokenizer.json");
            }
            try (LanguageModel m = model.openOnDevice()) {
                generate(m, adapter.load(m), null, ids, TextModel.stopTokens(dir, m.config().eosTokenIds), null);
            }
            return;
        }
        String prompt = fromIds ? null : input != null ? input.prompt : readStdin();
        try (TextModel tm = TextModel.open(model, adapter)) {
            generate(tm.model(), tm.adapter(), tm.tokenizer(), fromIds ? ids : tm.tokenizer().encode(prompt, true),
                    tm.stopTokens(), grammar);
        }
    }

    /** The grammar of --json-schema or --json-object, or null without either. */
    private JsonGrammar grammar() {
        if (jsonObject) return JsonGrammar.anyObject();
        if (jsonSchema == null) return null;
        Object schema;
        try {
            schema = new com.fasterxml.jackson.databind.ObjectMapper().readValue(Files.readString(jsonSchema), Object.class);
        } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
            throw new IllegalArgumentException(jsonSchema + " is not valid JSON: " + e.getOriginalMessage());
        } catch (java.io.IOException e) {
            throw new IllegalArgumentException("cannot read the schema " + jsonSchema + ": " + e);
        }
        return JsonSchema.compile(schema);
    }

    /** The constrained decoding of {@code grammar} for this generation. */
    private TokenMask mask(JsonGrammar grammar, Tokenizer tokenizer, LanguageModel m, SamplingParams params) {
        String option = jsonObject ? "--json-object" : "--json-schema";
        if (!stop.isEmpty()) throw new IllegalArgumentException(option + " takes no --stop: a stop text could cut the JSON short");
        if (ignoreEos) throw new IllegalArgumentException(option + " takes no --ignore-eos: the JSON ends with the eos token");
        TokenMask mask = new TokenMask(grammar, TokenVocabulary.of(tokenizer, m.config().vocabSize), params.stopTokenIds(), -1);
        if (params.maxTokens() < mask.minTokens()) {
            throw new IllegalArgumentException("the shortest answer " + option + " allows takes " + mask.minTokens()
                    + " tokens but --max-tokens is " + params.maxTokens() + "; raise --max-tokens");
        }
        return mask;
    }

    private static String readStdin() {
        try {
            String text = new String(System.in.readAllBytes(), StandardCharsets.UTF_8);
            if (text.isEmpty()) throw new IllegalArgumentException("no prompt: pass --prompt TEXT, --ids IDS, or text on standard input");
            return text;
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    /**
     * Generates from {@code prompt}: streams the text (stop strings held back and cut), or with --print-ids prints the
     * ids of every token generated (up to the one that completes a stop string) and the --logprobs lines. With no
     * {@code tokenizer} only ids can be printed.
     */
    private void generate(LanguageModel m, LoraAdapter loaded, Tokenizer tokenizer, int[] prompt, List<Integer> stopTokens,
                          JsonGrammar grammar) {
        if (tokenizer != null && tokenizer.vocabSize() > m.config().vocabSize) {
            throw new IllegalArgumentException("the tokenizer has " + tokenizer.vocabSize() + " tokens but the model only "
                    + m.config().vocabSize + "; they do not belong together");
        }
        SamplingParams params = sampling.params(ignoreEos ? List.of() : stopTokens, logprobs);
        PrintStream out = new PrintStream(System.out, true, StandardCharsets.UTF_8);
        long t0 = System.nanoTime(), firstToken = 0;
        Generation g = new Generation(m, prompt, params, null, loaded,
                grammar == null ? null : mask(grammar, tokenizer, m, params));
        TextSequence text = tokenizer == null ? null : new TextSequence(g, tokenizer, stop, null);
        StringBuilder idLine = new StringBuilder();
        StringBuilder logprobLines = new StringBuilder();
        while (text != null ? !text.finished() : !g.done()) {
            int id = g.next();
            if (firstToken == 0) firstToken = System.nanoTime();
            if (!idLine.isEmpty()) idLine.append(',');
            idLine.append(id);
            var lp = g.lastLogprobs();
            if (lp != null) {
                logprobLines.append(String.format(Locale.ROOT, "%d\t%.6f\trank %d", lp.token(), lp.logprob(), lp.rank()));
                for (var alt : lp.top()) logprobLines.append(String.format(Locale.ROOT, "\t%d:%.6f", alt.token(), alt.logprob()));
                logprobLines.append('\n');
            }
            if (text != null) {
                String piece = text.accept(id);
                if (!printIds && !piece.isEmpty()) out.print(piece);
            }
        }
        if (printIds) {
            out.println(idLine);
            out.print(logprobLines);
        } else {
            out.println();
        }
        String finish = text != null ? text.finish().openAiName() : g.stoppedAtStopToken() ? "stop" : "length";
        double decodeTokens = Math.max(1, g.generated() - 1);
        System.err.printf(Locale.ROOT, "prompt %d tokens, generated %d (%s); time to first token %.0f ms (prefill %.1f"
                        + " tok/s), decode %.1f tok/s%s%n", prompt.length, g.generated(), finish,
                ((firstToken == 0 ? System.nanoTime() : firstToken) - t0) / 1e6, prompt.length / (g.prefillNanos() / 1e9),
                decodeTokens / Math.max(1e-9, g.decodeNanos() / 1e9), params.isGreedy() ? "" : ", seed " + g.seed());
    }
}
