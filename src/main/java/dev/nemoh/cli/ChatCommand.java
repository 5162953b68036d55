package dev.nemoh.cli;

import dev.nemoh.chat.ChatTemplate;
import dev.nemoh.chat.Reasoning;
import dev.nemoh.chat.ThinkingBudget;
import dev.nemoh.generate.SamplingParams;
import dev.nemoh.generate.TextGenerator;
import dev.nemoh.generate.TextSequence;
import dev.nemoh.model.PrefixCache;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;

@Command(name = "chat", mixinStandardHelpOptions = true,
        description = "Interactive chat through the model's chat template. Commands: /reset, /think, /no_think, /exit.")
final class ChatCommand implements Runnable {
    @Mixin
    ModelOption model;

    @Mixin
    AdapterOption adapter;

    @Mixin
    SamplingOptions sampling;

    @Mixin
    PrefixCacheOptions prefixCache;

    @Option(names = "--system", paramLabel = "TEXT", description = "System prompt.")
    String system = "";

    @Option(names = "--think", negatable = true, defaultValue = "true", description = "Nano v2 reasoning on (/think) or off (/no_think). Default: on.")
    boolean think;

    @Option(names = "--thinking-budget", paramLabel = "N", description = "End reasoning after N tokens by injecting </think>.")
    Integer thinkingBudget;

    @Option(names = "--thinking-budget-mode", defaultValue = "STRICT", paramLabel = "MODE",
            description = "STRICT: close exactly at the budget (NVIDIA's reference client); NEWLINE: at the next newline, within a 500-token grace (the model card). Default: ${DEFAULT-VALUE}.")
    ThinkingBudget.Mode thinkingBudgetMode;

    @Override
    public void run() {
        PrintStream out = new PrintStream(System.out, true, StandardCharsets.UTF_8);
        prefixCache.bytes(); // refuses a bad value before the model loads
        try (TextModel tm = TextModel.open(model, adapter)) {
            ChatTemplate template = ChatTemplate.of(tm.tokenizer());
            // each turn re-renders the whole conversation (the template drops reasoning from the history), and resumes
            // from the longest prefix of it that an earlier turn prefilled
            PrefixCache cache = prefixCache.open(tm.model());
            TextGenerator generator = new TextGenerator(tm.model(), tm.tokenizer(), cache, tm.adapter());
            SamplingParams params = sampling.params(tm.stopTokens());
            List<Map<String, Object>> history = new ArrayList<>();
            BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
            out.println("chat with " + model.resolve() + " — /reset clears history, /think and /no_think switch reasoning, /exit quits");
            while (true) {
                out.print("> ");
                out.flush();
                String line = in.readLine();
                if (line == null || line.strip().equals("/exit")) break;
                switch (line.strip()) {
                    case "" -> { continue; }
                    case "/reset" -> { history.clear(); out.println("(history cleared)"); continue; }
                    case "/think" -> { think = true; out.println("(reasoning on)"); continue; }
                    case "/no_think" -> { think = false; out.println("(reasoning off)"); continue; }
                    default -> { }
                }
                history.add(Map.of("role", "user", "content", line));
                List<Map<String, Object>> messages = new ArrayList<>();
                String sys = (system + (think ? " /think" : " /no_think")).strip();
                messages.add(Map.of("role", "system", "content", sys));
                messages.addAll(history);
                String prompt = template.render(messages, true);
                boolean opensThinking = prompt.stripTrailing().endsWith(Reasoning.OPEN);
                TextSequence.Steering budget = thinkingBudget == null ? null
                        : ThinkingBudget.of(tm.tokenizer(), thinkingBudget, thinkingBudgetMode, opensThinking).steering();
                long t0 = System.nanoTime();
                TextGenerator.Result r = generator.generate(tm.tokenizer().encode(prompt, false), params, List.of(), budget, piece -> {
                    out.print(piece);
                    out.flush();
                });
                out.println();
                Reasoning.Parts parts = Reasoning.split(r.text(), opensThinking);
                if (!parts.reasoning().isEmpty()) {
                    out.printf(Locale.ROOT, "[reasoning: %d chars] [answer]: %s%n", parts.reasoning().length(), parts.answer());
                }
                System.err.printf(Locale.ROOT, "(%d tokens, %.1f tok/s, %s%s)%n", r.completionTokens(),
                        r.completionTokens() / Math.max(1e-9, (System.nanoTime() - t0) / 1e9), r.finish().openAiName(),
                        cache == null ? "" : String.format(Locale.ROOT, "; %d of %d prompt tokens from the prefix cache",
                                r.cachedPromptTokens(), r.promptTokens()));
                history.add(Map.of("role", "assistant", "content", parts.answer()));
            }
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }
}
