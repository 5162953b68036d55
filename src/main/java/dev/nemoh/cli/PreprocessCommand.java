package dev.nemoh.cli;

import dev.nemoh.io.IndexedDataset;
import dev.nemoh.tokenizer.Tokenizer;
import dev.nemoh.train.data.Preprocess;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;

@Command(name = "preprocess", mixinStandardHelpOptions = true, sortOptions = false,
        description = "Tokenizes JSONL text into Megatron-LM's indexed dataset (PREFIX_KEY_document.bin + .idx), as "
                + "Megatron-LM's tools/preprocess_data.py does without sentence splitting: pretraining data for "
                + "nemoh and for Megatron-LM or Megatron Bridge.")
final class PreprocessCommand implements Runnable {
    @Option(names = "--input", required = true, arity = "1..*", paramLabel = "FILE",
            description = "JSONL files, one document a line, written one after another into the dataset.")
    List<Path> inputs;

    @Option(names = "--tokenizer", required = true, paramLabel = "DIR",
            description = "A model or tokenizer directory holding tokenizer.json (or the file itself).")
    Path tokenizer;

    @Option(names = "--output-prefix", required = true, paramLabel = "PREFIX",
            description = "Writes PREFIX_KEY_document.bin and .idx (KEY: --json-key), as Megatron names them.")
    Path outputPrefix;

    @Option(names = "--json-key", defaultValue = "text", paramLabel = "KEY",
            description = "The field of each line that holds the text. Default: ${DEFAULT-VALUE}.")
    String jsonKey;

    @Option(names = "--append-eod", description = "End each document with the tokenizer's EOS token.")
    boolean appendEod;

    @Option(names = "--workers", paramLabel = "N", description = "Tokenizing threads. Default: the processors.")
    Integer workers;

    @Override
    public void run() {
        Tokenizer tok = Tokenizer.load(tokenizer);
        Path data = Preprocess.dataPath(outputPrefix, jsonKey);
        long total = 0;
        for (Path p : inputs) {
            try {
                total += Files.size(p);
            } catch (java.io.IOException e) {
                throw new IllegalArgumentException("input " + p + " does not exist: pass JSONL files");
            }
        }
        Progress progress = new Progress(System.err, System.console() != null, total);
        long t0 = System.nanoTime();
        Preprocess.Summary s = Preprocess.run(inputs, tok, jsonKey, appendEod, data,
                workers == null ? Runtime.getRuntime().availableProcessors() : workers, progress::bytes);
        progress.done();
        double seconds = (System.nanoTime() - t0) / 1e9;
        System.out.printf(Locale.ROOT, "wrote %s and %s: %,d documents (%,d empty), %,d tokens as %s, from %.1f MB "
                        + "in %.1f s (%.1f MB/s)%s%n", IndexedDataset.bin(data), IndexedDataset.idx(data).getFileName(),
                s.documents(), s.emptyDocuments(), s.tokens(), IndexedDataset.TokenType.forVocabulary(tok.vocabSize())
                        .name().toLowerCase(Locale.ROOT), s.bytes() / 1e6, seconds, s.bytes() / 1e6 / seconds,
                s.blankLines() > 0 ? "; " + s.blankLines() + " blank lines skipped" : "");
        System.out.println("data path: " + data);
    }

    /** A progress line on stderr by input bytes: redrawn on a terminal, a line every 10% elsewhere. */
    private static final class Progress {
        private final PrintStream out;
        private final boolean terminal;
        private final long total;
        private final long start = System.nanoTime();
        private int lastTenth = -1;

        Progress(PrintStream out, boolean terminal, long total) {
            this.out = out;
            this.terminal = terminal;
            this.total = Math.max(1, total);
        }

        void bytes(long done) {
            int tenth = (int) Math.min(10, done * 10 / total);
            if (!terminal && tenth == lastTenth) return;
            lastTenth = tenth;
            int filled = (int) Math.min(24, done * 24 / total);
            double seconds = (System.nanoTime() - start) / 1e9;
            String line = String.format(Locale.ROOT, "preprocess [%s%s] %.1f of %.1f MB, %.1f MB/s",
                    "#".repeat(filled), ".".repeat(24 - filled), done / 1e6, total / 1e6, done / 1e6 / Math.max(seconds, 1e-3));
            if (terminal) out.print("\r" + line);
            else out.println(line);
            out.flush();
        }

        void done() {
            if (terminal) out.println();
        }
    }
}
