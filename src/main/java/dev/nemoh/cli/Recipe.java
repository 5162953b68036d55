package dev.nemoh.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import picocli.CommandLine;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Model.OptionSpec;
import picocli.CommandLine.ParseResult;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;

/**
 * A recipe file (YAML or JSON) turned into the command-line arguments it stands for: each key is a long option of
 * the command without its dashes ({@code batch-size}, or {@code batch_size}), each value that option's value. A list
 * becomes a comma-separated value, {@code true} the bare flag and {@code false} its {@code --no-} form.
 */
final class Recipe {
    private Recipe() {}

    /**
     * Sets each option of the parsed {@code command} that its command line left out to the recipe's value, converted
     * and checked by picocli as a command-line value would be; returns the long names of the options it set.
     */
    static java.util.Set<String> apply(Path file, CommandSpec command) {
        CommandLine fromRecipe = new CommandLine(command.userObject().getClass());
        ParseResult recipe = fromRecipe.parseArgs(arguments(file, command).toArray(String[]::new));
        ParseResult given = command.commandLine().getParseResult();
        java.util.Set<String> set = new java.util.LinkedHashSet<>();
        for (OptionSpec o : recipe.matchedOptions()) {
            if (!given.hasMatchedOption(o.longestName())) {
                command.findOption(o.longestName()).setValue(o.getValue());
                set.add(o.longestName());
            }
        }
        return set;
    }

    /** The arguments of {@code file} for {@code command}; names the key and the fix for anything it cannot use. */
    static List<String> arguments(Path file, CommandSpec command) {
        JsonNode root = read(file);
        if (!root.isObject()) {
            throw new IllegalArgumentException("recipe " + file + " must be a mapping of option names to values,"
                    + " such as 'lr: 2e-4'");
        }
        List<String> args = new ArrayList<>();
        for (Iterator<Map.Entry<String, JsonNode>> it = root.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> e = it.next();
            String name = "--" + e.getKey().replace('_', '-');
            OptionSpec option = command.findOption(name);
            if (option == null || name.equals("--recipe") || option.usageHelp() || option.versionHelp()) {
                throw new IllegalArgumentException("recipe " + file + ": unknown key '" + e.getKey() + "'; keys are"
                        + " the long options of '" + command.name() + "': " + keys(command));
            }
            JsonNode value = e.getValue();
            if (option.type() == boolean.class || option.type() == Boolean.class) {
                if (!value.isBoolean()) {
                    throw new IllegalArgumentException("recipe " + file + ": '" + e.getKey() + "' takes true or false,"
                            + " not " + value);
                }
                args.add(value.booleanValue() ? name : "--no-" + name.substring(2));
            } else if (value.isArray()) {
                List<String> parts = new ArrayList<>();
                value.forEach(v -> parts.add(scalar(file, e.getKey(), v)));
                args.add(name + "=" + String.join(",", parts));
            } else {
                args.add(name + "=" + scalar(file, e.getKey(), value));
            }
        }
        return args;
    }

    private static JsonNode read(Path file) {
        String name = file.getFileName().toString().toLowerCase(java.util.Locale.ROOT);
        ObjectMapper mapper = name.endsWith(".json") ? new ObjectMapper() : new ObjectMapper(new YAMLFactory());
        try {
            JsonNode root = mapper.readTree(Files.readString(file));
            if (root == null) throw new IllegalArgumentException("recipe " + file + " is empty");
            return root;
        } catch (java.nio.file.NoSuchFileException e) {
            throw new IllegalArgumentException("recipe " + file + " does not exist");
        } catch (IOException e) {
            throw new IllegalArgumentException("recipe " + file + " is not valid " + (name.endsWith(".json") ? "JSON"
                    : "YAML") + ": " + e.getMessage().lines().findFirst().orElse(""));
        }
    }

    private static String scalar(Path file, String key, JsonNode v) {
        if (v.isContainerNode() || v.isNull()) {
            throw new IllegalArgumentException("recipe " + file + ": '" + key + "' takes a plain value or a list of"
                    + " them, not " + v);
        }
        return v.asText();
    }

    private static String keys(CommandSpec command) {
        TreeSet<String> keys = new TreeSet<>();
        for (OptionSpec o : command.options()) {
            if (!o.usageHelp() && !o.versionHelp() && !o.longestName().equals("--recipe")) {
                keys.add(o.longestName().substring(2));
            }
        }
        return String.join(", ", keys);
    }
}
