package dev.nemoh.cli;

import dev.nemoh.model.LanguageModel;
import dev.nemoh.model.LoraAdapter;
import picocli.CommandLine.Option;

import java.nio.file.Path;

/**
 * {@code --adapter DIR}: a PEFT LoRA or DoRA adapter (finetune's or PEFT's) that every token runs through, applied
 * unmerged on top of the loaded weights; named after its directory. CPU only for now.
 */
final class AdapterOption {
    @Option(names = "--adapter", paramLabel = "DIR",
            description = "A PEFT LoRA/DoRA adapter directory (adapter_config.json + adapter_model.safetensors, as finetune or PEFT writes it), applied unmerged. CPU only.")
    Path dir;

    /**
     * Refuses an adapter on any device but the CPU before a GPU is looked for, so the answer does not depend on
     * the machine ({@code auto} too).
     */
    static void checkDevice(String device, boolean adapters, String option) {
        if (adapters && !device.equals("cpu")) {
            throw new IllegalArgumentException(option + " runs on the CPU only for now; --device " + device
                    + " cannot apply it: drop --device or use --device cpu");
        }
    }

    /** The adapter for {@code model}, or null without --adapter; reports it on stderr. */
    LoraAdapter load(LanguageModel model) {
        return dir == null ? null : load(model, dir.toAbsolutePath().normalize().getFileName().toString(), dir);
    }

    static LoraAdapter load(LanguageModel model, String name, Path dir) {
        LoraAdapter a = model.loadAdapter(name, dir);
        System.err.printf("adapter %s (%s, r %d, %d layers%s) from %s%n", name, a.identity(),
                a.config.r(), a.adaptedLayers(), a.config.useDora() ? ", DoRA" : "", dir);
        if (a.baseModelWarning != null) System.err.println("warning: " + a.baseModelWarning);
        return a;
    }
}
