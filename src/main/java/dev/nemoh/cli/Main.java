package dev.nemoh.cli;

import dev.nemoh.cuda.Cuda;
import dev.nemoh.cuda.CudaException;
import dev.nemoh.chat.ChatTemplateException;
import dev.nemoh.config.ConfigException;
import dev.nemoh.io.CheckpointException;
import dev.nemoh.tokenizer.TokenizerException;
import dev.nemoh.train.TrainingDiverged;
import picocli.CommandLine;
import picocli.CommandLine.Command;

/** Entry point of the {@code nemoh} command. */
@Command(name = "nemoh", mixinStandardHelpOptions = true, version = "nemoh 0.1.0",
        description = "Runs NVIDIA Nemotron-H hybrid Mamba-2/Transformer models on the JVM.",
        subcommands = {InfoCommand.class, ForwardCommand.class, GenerateCommand.class, ChatCommand.class, InitCommand.class,
                BenchCommand.class, ServeCommand.class, BenchServeCommand.class, FinetuneCommand.class, TrainBenchCommand.class, ExportGgufCommand.class, PreprocessCommand.class, PretrainCommand.class,
                TrainTokenizerCommand.class,
                CommandLine.HelpCommand.class})
public final class Main {
    public static void main(String[] args) {
        System.exit(run(args));
    }

    /** Runs the CLI and returns its exit code; user errors print one line, not a stack trace. */
    public static int run(String... args) {
        CommandLine cli = new CommandLine(new Main());
        // a mistyped or unknown option: one line naming it and where the options are, not the whole usage text
        cli.setParameterExceptionHandler((e, given) -> {
            CommandLine cmd = e.getCommandLine();
            cmd.getErr().println("error: " + e.getMessage() + "; see '" + cmd.getCommandSpec().qualifiedName(" ")
                    + " --help'");
            return 2;
        });
        cli.setExecutionExceptionHandler((e, cmd, parsed) -> {
            if (e instanceof ConfigException || e instanceof CheckpointException || e instanceof IllegalArgumentException
                    || e instanceof TokenizerException || e instanceof ChatTemplateException || e instanceof CudaException) {
                cmd.getErr().println("error: " + e.getMessage());
                return 2;
            }
            if (e instanceof TrainingDiverged) {
                cmd.getErr().println("error: " + e.getMessage());
                return 1;
            }
            throw e;
        });
        try {
            return cli.execute(args);
        } finally {
            Cuda.endCommand(); // a command's --gpu-memory is its own
        }
    }
}
