package dev.nemoh.cli;

import dev.nemoh.generate.Generation;
import dev.nemoh.generate.SamplingParams;
import dev.nemoh.generate.TextGenerator;
import dev.nemoh.model.LanguageModel;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.util.Locale;

@Command(name = "generate", mixinStandardHelpOptions = true,
        description = "Generates from a text prompt (streamed) or prompt token ids, through the cached (recurrent) path; greedy unless --temperature > 0.")
final class GenerateCommand implements Runnable {
    @Mixin
    ModelOption model;

    @picocli.CommandLine.ArgGroup(multiplicity = "0..1")
    Input input;

    static final class Input {
        @Option(names = "--ids", required = true, paramLabel = "IDS", description = "Comma-separated prompt token ids.")
        String ids;

        @Option(names = {"-p", "--prompt"}, required = true, paramLabel = "TEXT", description = "Prompt text (default: read standard input).")
        String prompt;
    }

    @Option(names = "--stop", paramLabel = "TEXT", description = "Stop before this text (repeatable).")
    java.util.List<String> stop = new java.util.ArrayList<>();

    @Mixin
    SamplingOptions sampling;

    @Option(names = "--print-ids", description = "Print the generated token ids, comma-separated, on one line.")
    boolean printIds;

    @Option(names = "--ignore-eos", description = "Keep generating past the model's eos_token_id.")
    boolean ignoreEos;

    @Override
    public void run() {
        if (input != null && input.ids != null) {
            runIds(TokenIds.parse(input.ids));
        } else {
            runText(input != null ? input.prompt : readStdin());
        }
    }

    private static String readStdin() {
        try {
            String text = new String(System.in.readAllBytes(), java.nio.charset.StandardCharsets.UTF_8);
            if (text.isEmpty()) throw new IllegalArgumentException("no prompt: pass --prompt TEXT, --ids IDS, or text on standard input");
            return text;
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    private void runText(String prompt) {
        try (TextModel tm = TextModel.open(model)) {
            SamplingParams params = sampling.params(ignoreEos ? java.util.List.of() : tm.stopTokens());
            long t0 = System.nanoTime();
            long[] first = {0};
            var out = new java.io.PrintStream(System.out, true, java.nio.charset.StandardCharsets.UTF_8);
            TextGenerator.Result r = new TextGenerator(tm.model(), tm.tokenizer()).generate(prompt, true, params, stop, null, piece -> {
                if (first[0] == 0) first[0] = System.nanoTime();
                out.print(piece);
                out.flush();
            });
            out.println();
            double decodeTokens = Math.max(1, r.completionTokens() - 1);
            System.err.printf(Locale.ROOT, "prompt %d tokens, generated %d (%s); time to first token %.0f ms, decode %.1f tok/s%s%n",
                    r.promptTokens(), r.completionTokens(), r.finish().openAiName(),
                    ((first[0] == 0 ? System.nanoTime() : first[0]) - t0) / 1e6,
                    decodeTokens / Math.max(1e-9, r.decodeNanos() / 1e9), params.isGreedy() ? "" : ", seed " + r.seed());
        }
    }

    private void runIds(int[] prompt) {
        try (LanguageModel m = model.openOnDevice()) {
            SamplingParams params = sampling.params(ignoreEos ? java.util.List.of() : m.config().eosTokenIds);
            Generation g = new Generation(m, prompt, params);
            StringBuilder line = new StringBuilder();
            StringBuilder logprobLines = new StringBuilder();
            while (!g.done()) {
                int id = g.next();
                if (!line.isEmpty()) line.append(',');
                line.append(id);
                var lp = g.lastLogprobs();
                if (lp != null) {
                    logprobLines.append(String.format(Locale.ROOT, "%d\t%.6f\trank %d", lp.token(), lp.logprob(), lp.rank()));
                    for (var alt : lp.top()) logprobLines.append(String.format(Locale.ROOT, "\t%d:%.6f", alt.token(), alt.logprob()));
                    logprobLines.append('\n');
                }
            }
            if (printIds) System.out.println(line);
            if (printIds && !logprobLines.isEmpty()) System.out.print(logprobLines);
            double decodeTokens = Math.max(1, g.generated() - 1);
            System.err.printf(Locale.ROOT, "prompt %d tokens in %.1f ms (%.1f tok/s); generated %d tokens, decode %.1f tok/s%s%s%n",
                    prompt.length, g.prefillNanos() / 1e6, prompt.length / (g.prefillNanos() / 1e9), g.generated(),
                    decodeTokens / Math.max(1e-9, g.decodeNanos() / 1e9), g.stoppedAtStopToken() ? " (stopped at eos)" : "",
                    params.isGreedy() ? "" : ", seed " + g.seed());
        }
    }
}
