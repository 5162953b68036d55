package dev.nemoh.chat;

import com.hubspot.jinjava.Jinjava;
import com.hubspot.jinjava.JinjavaConfig;
import com.hubspot.jinjava.LegacyOverrides;
import com.hubspot.jinjava.el.JinjavaInterpreterResolver;
import com.hubspot.jinjava.interpret.JinjavaInterpreter;
import com.hubspot.jinjava.interpret.RenderResult;
import com.hubspot.jinjava.interpret.TemplateError;
import com.hubspot.jinjava.lib.filter.Filter;
import com.hubspot.jinjava.lib.fn.ELFunctionDefinition;
import dev.nemoh.tokenizer.Tokenizer;
import jinjava.javax.el.CompositeELResolver;

import java.time.ZonedDateTime;
import java.time.format.TextStyle;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;

/**
 * Renders a Hugging Face chat template (the Jinja {@code chat_template} of tokenizer_config.json) the way
 * transformers' {@code apply_chat_template(messages, tokenize=False, ...)} does: trim_blocks and lstrip_blocks on,
 * no trailing newline kept, the variables {@code messages}, {@code tools}, {@code add_generation_prompt},
 * {@code bos_token}, {@code eos_token}, {@code unk_token}, {@code pad_token} and any extra keyword arguments, the
 * functions {@code raise_exception} and {@code strftime_now}, a Python-style {@code tojson}, and Python's str
 * methods. With continue_final_message the output is cut after the last message's content, as transformers cuts it.
 *
 * <p>Messages are maps as in the OpenAI / transformers format: {@code role}, {@code content}, and optionally
 * {@code tool_calls} and other keys, which the template sees as they are.
 */
public final class ChatTemplate {
    private final String template;
    private final Map<String, String> specialTokens;
    private final Jinjava jinjava;
    private final String jinjaSource;
    private final Map<String, Object> literals;

    /** Options of one rendering, as apply_chat_template's keyword arguments. */
    public record Options(boolean addGenerationPrompt, boolean continueFinalMessage, List<Map<String, Object>> tools,
                          Map<String, Object> extra) {
        public static Options generationPrompt(boolean add) {
            return new Options(add, false, null, Map.of());
        }

        public Options withTools(List<Map<String, Object>> t) {
            return new Options(addGenerationPrompt, continueFinalMessage, t, extra);
        }

        public Options withContinueFinalMessage(boolean c) {
            return new Options(addGenerationPrompt, c, tools, extra);
        }

        public Options withExtra(Map<String, Object> e) {
            return new Options(addGenerationPrompt, continueFinalMessage, tools, e);
        }
    }

    /**
     * @param template      the Jinja source
     * @param specialTokens bos_token, eos_token, ... as the template sees them (may be empty)
     */
    public ChatTemplate(String template, Map<String, String> specialTokens) {
        Objects.requireNonNull(template, "template");
        // Jinja2's default keep_trailing_newline=False drops one newline at the end of the source
        if (template.endsWith("\r\n")) template = template.substring(0, template.length() - 2);
        else if (template.endsWith("\n")) template = template.substring(0, template.length() - 1);
        this.template = template;
        TemplateSource.Rewritten rw = TemplateSource.rewrite(template);
        this.jinjaSource = rw.source();
        this.literals = rw.literals();
        this.specialTokens = specialTokens == null ? Map.of() : Map.copyOf(specialTokens);
        CompositeELResolver resolver = new CompositeELResolver();
        resolver.add(new PyMethodResolver());
        resolver.add(JinjavaInterpreterResolver.DEFAULT_RESOLVER_READ_WRITE);
        JinjavaConfig config = JinjavaConfig.newBuilder()
                .withTrimBlocks(true)
                .withLstripBlocks(true)
                .withKeepTrailingNewline(true)
                .withLegacyOverrides(LegacyOverrides.newBuilder()
                        .withEvaluateMapKeys(true)
                        .withIterateOverMapKeys(true)
                        .withUsePyishObjectMapper(true)
                        .withUseNaturalOperatorPrecedence(true)
                        .withParseWhitespaceControlStrictly(true)
                        .withUseTrimmingForNotesAndExpressions(true)
                        .withKeepNullableLoopValues(true)
                        .withHandleBackslashInQuotesOnly(true)
                        .build())
                .withElResolver(resolver)
                .withFailOnUnknownTokens(false)
                .withNestedInterpretationEnabled(false)
                // bounds on what a template (from an untrusted model directory) may build; real ones stay far below
                .withMaxOutputSize(MAX_CHARS)
                .withMaxStringLength(MAX_CHARS)
                .withMaxListSize(MAX_ITEMS)
                .withMaxMapSize(MAX_ITEMS)
                .build();
        jinjava = new Jinjava(config);
        // transformers renders with no loader: {% include %}, {% import %} and {% extends %} find nothing
        jinjava.setResourceLocator((name, encoding, interpreter) -> {
            throw new java.io.IOException("a chat template cannot load other templates (" + name + ")");
        });
        var g = jinjava.getGlobalContext();
        g.registerTag(new BoundedForTag());
        g.registerFunction(new ELFunctionDefinition("", "raise_exception", Functions.class, "raiseException",
                Object.class));
        g.registerFunction(new ELFunctionDefinition("", "strftime_now", Functions.class, "strftimeNow", String.class));
        g.registerFilter(new ToJson());
    }

    /** The chat template of {@code tokenizer}'s model directory, with its special tokens. */
    public static ChatTemplate of(Tokenizer tokenizer) {
        String t = tokenizer.chatTemplate();
        if (t == null) {
            throw new ChatTemplateException(tokenizer.source() + " comes without a chat template: neither"
                    + " tokenizer_config.json (\"chat_template\") nor chat_template.jinja is in the model directory;"
                    + " use a prompt without chat formatting or add the model's chat_template.jinja");
        }
        return new ChatTemplate(t, tokenizer.specialTokens());
    }

    public String source() {
        return template;
    }

    /** Renders {@code messages} with {@code add_generation_prompt}. */
    public String render(List<Map<String, Object>> messages, boolean addGenerationPrompt) {
        return render(messages, Options.generationPrompt(addGenerationPrompt));
    }

    public String render(List<Map<String, Object>> messages, Options options) {
        Objects.requireNonNull(messages, "messages");
        if (options.continueFinalMessage() && options.addGenerationPrompt()) {
            throw new ChatTemplateException("continue_final_message and add_generation_prompt are not compatible: use"
                    + " continue_final_message to let the model continue the last message, add_generation_prompt"
                    + " to open a new assistant message");
        }
        Map<String, Object> vars = new LinkedHashMap<>();
        vars.put("messages", messages);
        if (options.tools() != null) vars.put("tools", options.tools());
        vars.put("add_generation_prompt", options.addGenerationPrompt());
        vars.putAll(specialTokens);
        if (options.extra() != null) vars.putAll(options.extra());
        vars.putAll(literals);

        RenderResult result;
        long[] deadline = DEADLINE.get();
        long outer = deadline[0];
        if (outer == 0) deadline[0] = ARMED;
        try {
            result = jinjava.renderForResult(jinjaSource, vars);
        } catch (RuntimeException e) {
            throw failure(e);
        } catch (TimeLimitExceeded e) {
            throw new ChatTemplateException("the chat template ran past its time limit of " + timeLimit.toMillis()
                    + " ms (a loop over too many items)");
        } catch (StackOverflowError e) {
            throw new ChatTemplateException("the chat template nests too deeply to render (blocks, expressions or calls)");
        } finally {
            deadline[0] = outer;
        }
        for (TemplateError err : result.getErrors()) {
            Raised raised = raisedIn(err.getException());
            if (raised != null) throw new ChatTemplateException(raised.getMessage());
        }
        for (TemplateError err : result.getErrors()) {
            if (err.getSeverity() == TemplateError.ErrorType.FATAL) {
                throw new ChatTemplateException("chat template error at line " + err.getLineno() + ": "
                        + err.getMessage());
            }
        }
        String out = result.getOutput();
        if (options.continueFinalMessage()) out = cutAfterFinalMessage(out, messages);
        return out;
    }

    /** Characters of output, of one string, and items of one list or dict a rendering may make. */
    static final long MAX_CHARS = 16L << 20;
    static final int MAX_ITEMS = 1 << 20;
    /**
     * Real templates render in milliseconds; loops are all that can make one run longer, and they check this. Not
     * final only so that the fuzz test can shorten it (mutated inputs that loop would otherwise dominate its time).
     */
    static volatile java.time.Duration timeLimit = java.time.Duration.ofSeconds(5);
    /**
     * When this thread's rendering must end (System.nanoTime); {@link #ARMED} in a rendering that has not reached a loop
     * yet (the clock starts at the first loop item, so that a cold JVM's class loading does not count); 0 outside one.
     */
    private static final ThreadLocal<long[]> DEADLINE = ThreadLocal.withInitial(() -> new long[1]);
    private static final long ARMED = Long.MIN_VALUE;

    /**
     * Thrown from inside jinjava when the time limit passes: an Error, so that jinjava's handlers of Exception, which
     * turn errors into template warnings and go on rendering, let it through.
     */
    static final class TimeLimitExceeded extends Error {
        TimeLimitExceeded() {
            super("chat template time limit", null, false, false);
        }
    }

    static void checkDeadline() {
        long[] deadline = DEADLINE.get();
        long d = deadline[0];
        if (d == ARMED) deadline[0] = System.nanoTime() + timeLimit.toNanos();
        else if (d != 0 && System.nanoTime() - d > 0) throw new TimeLimitExceeded();
    }

    /**
     * jinjava's for tag, with the time limit checked at every item. Loops are the one construct whose work a template
     * can multiply without bound (nested loops over ranges or lists); everything else is bounded by the source size
     * and the size limits.
     */
    static final class BoundedForTag extends com.hubspot.jinjava.lib.tag.ForTag {
        @Override
        public String renderForCollection(com.hubspot.jinjava.tree.TagNode tagNode, JinjavaInterpreter interpreter,
                                          List<String> loopVars, Object collection) {
            checkDeadline();
            return super.renderForCollection(tagNode, interpreter, loopVars, checked(collection, interpreter));
        }

        /** The same items, as ObjectIterator would take them, through an iterator that checks the time limit. */
        private static Object checked(Object c, JinjavaInterpreter interpreter) {
            if (c instanceof Map<?, ?> m) {
                c = interpreter.getConfig().getLegacyOverrides().isIterateOverMapKeys() ? m.keySet() : m.values();
            } else if (c != null && c.getClass().isArray() && c instanceof Object[] a) {
                c = java.util.Arrays.asList(a);
            }
            if (c instanceof java.util.Collection<?> col) {
                return new java.util.AbstractCollection<Object>() {
                    @Override
                    public java.util.Iterator<Object> iterator() {
                        return checked(col.iterator());
                    }

                    @Override
                    public int size() {
                        return col.size();
                    }
                };
            }
            if (c instanceof Iterable<?> it) return (Iterable<Object>) () -> checked(it.iterator());
            if (c instanceof java.util.Iterator<?> it) return checked(it);
            return c;
        }

        private static java.util.Iterator<Object> checked(java.util.Iterator<?> it) {
            return new java.util.Iterator<>() {
                @Override
                public boolean hasNext() {
                    return it.hasNext();
                }

                @Override
                public Object next() {
                    checkDeadline();
                    return it.next();
                }
            };
        }
    }

    private static ChatTemplateException failure(RuntimeException e) {
        Raised raised = raisedIn(e);
        if (raised != null) return new ChatTemplateException(raised.getMessage());
        return new ChatTemplateException("chat template error: " + e.getMessage(), e);
    }

    private static Raised raisedIn(Throwable t) {
        for (int i = 0; t != null && i < 20; i++, t = t.getCause()) {
            if (t instanceof Raised r) return r;
        }
        return null;
    }

    /** transformers' continue_final_message: cut the output right after the final message's content. */
    private static String cutAfterFinalMessage(String rendered, List<Map<String, Object>> messages) {
        if (messages.isEmpty()) throw new ChatTemplateException("continue_final_message needs at least one message");
        Object content = messages.get(messages.size() - 1).get("content");
        String finalMessage = null;
        if (content instanceof List<?> blocks) {
            for (int i = blocks.size() - 1; i >= 0 && finalMessage == null; i--) {
                if (blocks.get(i) instanceof Map<?, ?> b && b.get("text") != null) finalMessage = b.get("text").toString();
            }
            if (finalMessage == null) {
                throw new ChatTemplateException("continue_final_message is set but the final message has no text block");
            }
        } else {
            finalMessage = content == null ? "" : content.toString();
        }
        String stripped = PyStr.strip(finalMessage, null);
        int loc = rendered.lastIndexOf(stripped);
        if (loc < 0) {
            throw new ChatTemplateException("continue_final_message is set but the final message does not appear in"
                    + " the rendered chat: the chat template changes it");
        }
        String lstripped = PyStr.lstrip(finalMessage, null);
        int end = loc + lstripped.length();
        if (end <= rendered.length() && rendered.substring(loc, end).equals(finalMessage)) return rendered.substring(0, end);
        return rendered.substring(0, loc + stripped.length());
    }

    /** raise_exception(msg) and strftime_now(fmt), as transformers defines them. */
    public static final class Functions {
        private Functions() {
        }

        public static Object raiseException(Object message) {
            throw new Raised(String.valueOf(message));
        }

        public static String strftimeNow(String format) {
            return strftime(ZonedDateTime.now(), format);
        }
    }

    /** Python's strftime for the directives chat templates use (dates in system prompts). */
    static String strftime(ZonedDateTime t, String f) {
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < f.length(); i++) {
            char c = f.charAt(i);
            if (c != '%' || i + 1 >= f.length()) {
                sb.append(c);
                continue;
            }
            char d = f.charAt(++i);
            switch (d) {
                case 'Y' -> sb.append(String.format("%04d", t.getYear()));
                case 'y' -> sb.append(String.format("%02d", t.getYear() % 100));
                case 'm' -> sb.append(String.format("%02d", t.getMonthValue()));
                case 'd' -> sb.append(String.format("%02d", t.getDayOfMonth()));
                case 'H' -> sb.append(String.format("%02d", t.getHour()));
                case 'I' -> sb.append(String.format("%02d", (t.getHour() + 11) % 12 + 1));
                case 'M' -> sb.append(String.format("%02d", t.getMinute()));
                case 'S' -> sb.append(String.format("%02d", t.getSecond()));
                case 'p' -> sb.append(t.getHour() < 12 ? "AM" : "PM");
                case 'B' -> sb.append(t.getMonth().getDisplayName(TextStyle.FULL, Locale.ENGLISH));
                case 'b' -> sb.append(t.getMonth().getDisplayName(TextStyle.SHORT, Locale.ENGLISH));
                case 'A' -> sb.append(t.getDayOfWeek().getDisplayName(TextStyle.FULL, Locale.ENGLISH));
                case 'a' -> sb.append(t.getDayOfWeek().getDisplayName(TextStyle.SHORT, Locale.ENGLISH));
                case 'j' -> sb.append(String.format("%03d", t.getDayOfYear()));
                case '%' -> sb.append('%');
                default -> sb.append('%').append(d);
            }
        }
        return sb.toString();
    }

    /** The exception raise_exception() throws; its message becomes the ChatTemplateException's. */
    static final class Raised extends RuntimeException {
        Raised(String message) {
            super(message);
        }
    }

    /** transformers' tojson: json.dumps(x, ensure_ascii=False, indent=indent). */
    static final class ToJson implements Filter {
        @Override
        public String getName() {
            return "tojson";
        }

        @Override
        public Object filter(Object var, JinjavaInterpreter interpreter, String... args) {
            Integer indent = args.length > 0 && args[0] != null ? Integer.valueOf(args[0].trim()) : null;
            return PyJson.dumps(var, indent);
        }

        @Override
        public Object filter(Object var, JinjavaInterpreter interpreter, Object[] args, Map<String, Object> kwargs) {
            Object ind = kwargs.get("indent");
            if (ind == null && args.length > 0) ind = args[0];
            Integer indent = ind == null ? null : ((Number) (ind instanceof String s ? Integer.valueOf(s.trim()) : ind)).intValue();
            return PyJson.dumps(var, indent);
        }
    }

    /** A list of message maps from (role, content) pairs, for callers that have no tool calls. */
    public static List<Map<String, Object>> messages(String... roleContent) {
        if (roleContent.length % 2 != 0) throw new IllegalArgumentException("role/content pairs expected");
        List<Map<String, Object>> out = new ArrayList<>();
        for (int i = 0; i < roleContent.length; i += 2) {
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("role", roleContent[i]);
            m.put("content", roleContent[i + 1]);
            out.add(m);
        }
        return out;
    }
}
