package dev.nemoh.cli;

import picocli.CommandLine.Option;

/**
 * {@code --device} of the training commands ({@code finetune}, {@code train-bench}). Training runs on the CPU only for
 * now; {@link #check()} is the one place that says so, and the place a GPU training path will hook in.
 */
final class TrainingDevice {
    @Option(names = "--device", defaultValue = "cpu", paramLabel = "cpu",
            description = "Where training runs: cpu (GPU fine-tuning is not implemented yet). Default: ${DEFAULT-VALUE}.")
    String device;

    /** Refuses any device but the CPU, in one line. */
    void check() {
        switch (device) {
            case "cpu" -> { }
            case "cuda", "auto" -> throw new IllegalArgumentException("--device " + device + ": GPU fine-tuning is not"
                    + " implemented yet; training runs on the CPU (--device cpu, the default)");
            default -> throw new IllegalArgumentException("--device must be cpu (GPU fine-tuning is not implemented yet),"
                    + " not \"" + device + "\"");
        }
    }
}
