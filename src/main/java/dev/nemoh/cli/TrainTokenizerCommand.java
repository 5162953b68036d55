package dev.nemoh.cli;

import dev.nemoh.tokenizer.BpeTrainer;
import dev.nemoh.tokenizer.BpeTrainer.PreTokenization;
import dev.nemoh.tokenizer.TrainingCorpus;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

@Command(name = "train-tokenizer", mixinStandardHelpOptions = true,
        description = "Trains a byte-level BPE tokenizer on text and writes DIR/tokenizer.json, with the vocabulary and"
                + " merges of the `tokenizers` library's BpeTrainer for the same input and settings.")
final class TrainTokenizerCommand implements Runnable {
    /** Seconds between progress lines. */
    private static final double PROGRESS_EVERY_S = 5;

    @Option(names = "--input", required = true, paramLabel = "FILE", split = ",",
            description = "Training text: text files (one sequence a line) and/or .jsonl files (the --json-key string"
                    + " of each line's object); repeat or separate with commas.")
    List<Path> inputs;

    @Option(names = "--vocab-size", required = true, paramLabel = "N",
            description = "Vocabulary size: special tokens + the 256 byte characters + merges.")
    int vocabSize;

    @Option(names = "--out", required = true, paramLabel = "DIR", description = "Output directory for tokenizer.json.")
    Path out;

    @Option(names = "--min-frequency", defaultValue = "0", paramLabel = "N",
            description = "Stop when the most frequent pair occurs fewer times. Default: ${DEFAULT-VALUE}.")
    long minFrequency;

    @Option(names = "--special-tokens", split = ",", paramLabel = "TOKEN",
            description = "Special tokens, given the first ids in this order (e.g. <unk>,<s>,</s>).")
    List<String> specialTokens = new ArrayList<>();

    @Option(names = "--pre-tokenizer", defaultValue = "nemotron", paramLabel = "NAME",
            description = "How text is split into words: nemotron (Nemotron-H's split regex, then ByteLevel) or gpt2"
                    + " (ByteLevel with GPT-2's regex). Default: ${DEFAULT-VALUE}.")
    String preTokenizer;

    @Option(names = "--add-prefix-space",
            description = "ByteLevel's add_prefix_space: a space before each sequence that does not start with one.")
    boolean addPrefixSpace;

    @Option(names = "--json-key", paramLabel = "KEY",
            description = "The key of the text in each line of the .jsonl inputs. Default: text.")
    String jsonKey;

    @Override
    public void run() {
        PreTokenization split = switch (preTokenizer.toLowerCase(Locale.ROOT)) {
            case "nemotron" -> PreTokenization.NEMOTRON;
            case "gpt2" -> PreTokenization.GPT2;
            default -> throw new IllegalArgumentException("unknown --pre-tokenizer " + preTokenizer
                    + ": use nemotron or gpt2");
        };
        if (jsonKey != null && inputs.stream().noneMatch(TrainingCorpus::isJsonLines)) {
            throw new IllegalArgumentException("--json-key applies to .jsonl inputs and none was given;"
                    + " drop it, or name the JSON-lines files with a .jsonl extension");
        }
        if (java.nio.file.Files.exists(out) && !java.nio.file.Files.isDirectory(out)) {
            throw new IllegalArgumentException("--out " + out + " is a file: pass a directory (tokenizer.json is written"
                    + " into it)");
        }
        int floor = 256 + (int) specialTokens.stream().distinct().count();
        if (vocabSize <= floor) {
            throw new IllegalArgumentException("--vocab-size " + vocabSize + " leaves no room for merges: the "
                    + specialTokens.stream().distinct().count() + " special tokens and 256 byte characters take "
                    + floor + " ids; pass a larger size");
        }
        BpeTrainer trainer = new BpeTrainer(new BpeTrainer.Settings(vocabSize, minFrequency, specialTokens, split,
                addPrefixSpace));

        long t0 = System.nanoTime();
        long[] lastReport = {t0};
        long[] bytes = {0};
        TrainingCorpus.read(inputs, jsonKey == null ? "text" : jsonKey, (batch, bytesRead) -> {
            trainer.feed(batch);
            bytes[0] = bytesRead;
            long now = System.nanoTime();
            if ((now - lastReport[0]) / 1e9 >= PROGRESS_EVERY_S) {
                lastReport[0] = now;
                System.err.printf(Locale.ROOT, "read %.1f MB: %,d words, %,d distinct%n", bytesRead / 1e6,
                        trainer.words(), trainer.distinctWords());
            }
        });
        if (trainer.words() == 0) {
            throw new IllegalArgumentException("the inputs hold no text (" + inputs.size() + " file(s), " + bytes[0]
                    + " bytes): nothing to learn from");
        }
        double readS = (System.nanoTime() - t0) / 1e9;
        System.err.printf(Locale.ROOT, "read %.1f MB in %.1f s (%.1f MB/s): %,d words, %,d distinct%n",
                bytes[0] / 1e6, readS, bytes[0] / 1e6 / readS, trainer.words(), trainer.distinctWords());

        long t1 = System.nanoTime();
        lastReport[0] = t1;
        BpeTrainer.Model model = trainer.train(size -> {
            long now = System.nanoTime();
            if ((now - lastReport[0]) / 1e9 >= PROGRESS_EVERY_S) {
                lastReport[0] = now;
                System.err.printf(Locale.ROOT, "merging: %,d/%,d tokens%n", size, vocabSize);
            }
        });
        double mergeS = (System.nanoTime() - t1) / 1e9;
        Path file = trainer.save(model, out);
        System.out.printf(Locale.ROOT, "wrote %s: %,d tokens, %,d merges (reading %.1f s, merging %.1f s)%n", file,
                model.vocab().size(), model.merges().size(), readS, mergeS);
    }
}
