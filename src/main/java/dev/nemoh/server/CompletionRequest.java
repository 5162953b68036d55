package dev.nemoh.server;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.nemoh.chat.ChatTemplate;
import dev.nemoh.chat.ChatTemplateException;
import dev.nemoh.chat.Reasoning;
import dev.nemoh.chat.ThinkingBudget;
import dev.nemoh.generate.JsonGrammar;
import dev.nemoh.generate.JsonSchema;
import dev.nemoh.generate.SamplingParams;
import dev.nemoh.model.LoraAdapter;
import dev.nemoh.generate.TextSequence;
import dev.nemoh.generate.TokenMask;
import dev.nemoh.generate.TokenVocabulary;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.regex.Pattern;

/**
 * A {@code /v1/chat/completions} or {@code /v1/completions} body, checked field by field: a wrong type, a value out of
 * range, an unknown model or a prompt that does not fit gives an {@link ApiException} naming the field. Fields
 * OpenAI defines that do not change what is generated (user, metadata...) are ignored; those nemoh cannot honour
 * (n > 1, echo, best_of) are refused rather than silently dropped. Besides OpenAI's fields it takes vLLM's
 * {@code top_k}, {@code min_p}, {@code repetition_penalty} and {@code ignore_eos}, and for Nano v2 reasoning
 * {@code thinking_budget} and {@code thinking_budget_mode} ("strict" or "newline"). {@code response_format}
 * ({@code json_object}, or {@code json_schema} within {@link JsonSchema}'s subset) becomes a {@link TokenMask}, and
 * so does {@code tool_choice} {@code "required"} or a named function (calls in Nano v2's format).
 *
 * @param model the model id the request asked for (the base's when it named none), which the answer repeats
 * @param adapter what the request's tokens run through: the adapter its {@code model} names, or null
 * @param opensThinking whether the rendered chat prompt ends inside a reasoning block
 * @param splitReasoning whether to report reasoning apart from the answer (chat, with a model that has {@code </think>})
 * @param logprobs -1 for none, else the number of alternatives per token (0: the chosen token's only)
 * @param mask the structured-output constraint of this request's one sequence, or null
 * @param tools the function tools offered to the model, whose calls the answer is parsed for; null for none
 *              (no {@code tools}, or {@code tool_choice: "none"})
 */
record CompletionRequest(boolean chat, String model, LoraAdapter adapter, int[] prompt, boolean stream,
                         boolean includeUsage, SamplingParams params, List<String> stops, int logprobs,
                         boolean splitReasoning, boolean opensThinking, TextSequence.Steering steering, TokenMask mask,
                         JsonNode tools) {

    /** Server-wide bounds a request must stay within. */
    record Bounds(int maxTokens, long maxCacheBytes) {}

    static final int MAX_MESSAGES = 1024;
    static final int MAX_STOPS = 16;
    static final int MAX_STOP_CHARS = 256;
    static final int MAX_TOP_LOGPROBS = 20;

    Job job(ServedModel m) {
        long cache = m.model().cacheBytes((long) prompt.length + params.maxTokens());
        return new Job(adapter, prompt, params, stops, steering, mask, cache);
    }

    @SuppressWarnings("unchecked")
    static CompletionRequest parse(JsonNode body, boolean chat, ServedModel m, Bounds bounds) {
        if (!(body instanceof ObjectNode o)) throw ApiException.invalid(null, "the request body must be a JSON object");
        Fields f = new Fields(o);
        String model = f.string("model");
        LoraAdapter adapter = m.adapterFor(model);
        if (model == null) model = m.id();
        Integer n = f.integer("n", 1, Integer.MAX_VALUE);
        if (n != null && n != 1) throw ApiException.invalid("n", "only n = 1 is supported (one choice per request), got " + n);

        JsonGrammar grammar = responseFormat(o);
        JsonNode tools = chat ? tools(o) : null;
        if (tools != null && grammar != null) {
            throw ApiException.invalid("tools", "tools cannot be combined with a JSON response_format yet: the grammar"
                    + " would rule out every tool call; send one or the other");
        }
        boolean forcedCall = tools != null && forcesCall(o);
        if (forcedCall) grammar = toolCallGrammar(o, tools, m);
        if (Boolean.FALSE.equals(f.bool("parallel_tool_calls")) && tools != null && !forcedCall) {
            throw ApiException.invalid("parallel_tool_calls", "parallel_tool_calls false is enforced only with tool_choice"
                    + " \"required\" or a named function (which constrain the answer to calls); with \"auto\" the model's"
                    + " calls are returned as written: drop it, or force the call");
        }
        String constraint = forcedCall ? "tool_choice" : "response_format";
        int[] prompt;
        boolean opensThinking = false, split = false;
        TextSequence.Steering steering = null;
        if (chat) {
            if (m.template() == null) {
                throw ApiException.invalid("messages", "the model '" + m.id() + "' has no chat template; use /v1/completions");
            }
            String text = render(m.template(), messages(o), tools == null ? null : (List<Map<String, Object>>) Json.toJava(tools));
            prompt = m.tokenizer().encode(text, false);
            opensThinking = text.stripTrailing().endsWith(Reasoning.OPEN);
            split = m.tokenizer().id(Reasoning.CLOSE) >= 0;
            Integer budget = f.integer("thinking_budget", 0, bounds.maxTokens());
            String mode = f.string("thinking_budget_mode");
            if (budget != null) {
                ThinkingBudget.Mode parsedMode = mode == null ? ThinkingBudget.Mode.STRICT : switch (mode) {
                    case "strict" -> ThinkingBudget.Mode.STRICT;
                    case "newline" -> ThinkingBudget.Mode.NEWLINE;
                    default -> throw ApiException.invalid("thinking_budget_mode", "thinking_budget_mode must be \"strict\" or \"newline\", got \"" + mode + "\"");
                };
                try {
                    steering = ThinkingBudget.of(m.tokenizer(), budget, parsedMode, opensThinking,
                            grammar == null ? ThinkingBudget.DEFAULT_CLOSING_TEXT : Reasoning.CLOSE).steering();
                } catch (IllegalArgumentException e) {
                    throw ApiException.invalid("thinking_budget", e.getMessage());
                }
            } else if (mode != null) {
                throw ApiException.invalid("thinking_budget_mode", "thinking_budget_mode needs thinking_budget");
            }
        } else {
            prompt = completionPrompt(o, m);
            if (o.hasNonNull("suffix")) throw ApiException.invalid("suffix", "suffix is not supported");
            if (Boolean.TRUE.equals(f.bool("echo"))) throw ApiException.invalid("echo", "echo is not supported");
            Integer bestOf = f.integer("best_of", 1, Integer.MAX_VALUE);
            if (bestOf != null && bestOf != 1) throw ApiException.invalid("best_of", "only best_of = 1 is supported, got " + bestOf);
        }

        int context = m.model().config().maxPositionEmbeddings;
        String promptField = chat ? "messages" : "prompt";
        if (prompt.length == 0) throw ApiException.invalid(promptField, "the prompt is empty: it encodes to no tokens");
        if (prompt.length >= context) {
            throw ApiException.invalid(promptField, "the prompt is " + prompt.length + " tokens but the model's context is "
                    + context + " tokens; shorten it");
        }
        String maxField = chat && o.hasNonNull("max_completion_tokens") ? "max_completion_tokens" : "max_tokens";
        Integer maxTokens = f.integer(maxField, 1, bounds.maxTokens());
        if (maxTokens == null) {
            // OpenAI's defaults: chat may fill the context, a completion gets 16 tokens
            maxTokens = Math.min(Math.min(bounds.maxTokens(), context - prompt.length),
                    chat ? Integer.MAX_VALUE : SamplingParams.DEFAULT_MAX_TOKENS);
        } else if (prompt.length + maxTokens > context) {
            throw ApiException.invalid(maxField, "the prompt (" + prompt.length + " tokens) + " + maxField + " (" + maxTokens
                    + ") exceeds the model's context of " + context + " tokens; lower " + maxField + " or shorten the prompt");
        }
        long cache = m.model().cacheBytes((long) prompt.length + maxTokens);
        if (cache > bounds.maxCacheBytes()) {
            throw ApiException.invalid(maxField, String.format(Locale.ROOT,
                    "this request needs %.1f MiB of cache (prompt + %s) but the server's cache bound is %.1f MiB; lower %s",
                    cache / 1048576.0, maxField, bounds.maxCacheBytes() / 1048576.0, maxField));
        }

        int logprobs = -1;
        if (chat) {
            Boolean want = f.bool("logprobs");
            Integer top = f.integer("top_logprobs", 0, MAX_TOP_LOGPROBS);
            if (top != null && !Boolean.TRUE.equals(want)) throw ApiException.invalid("top_logprobs", "top_logprobs needs logprobs = true");
            if (Boolean.TRUE.equals(want)) logprobs = top == null ? 0 : top;
        } else {
            Integer want = f.integer("logprobs", 0, MAX_TOP_LOGPROBS);
            if (want != null) logprobs = want;
        }

        boolean ignoreEos = Boolean.TRUE.equals(f.bool("ignore_eos"));
        double topP = f.number("top_p", 0, 1, 1);
        if (topP == 0) throw ApiException.invalid("top_p", "top_p must be in (0, 1] (1 = off), got 0");
        double repetitionPenalty = f.number("repetition_penalty", 0, Double.MAX_VALUE, 1);
        if (repetitionPenalty == 0) throw ApiException.invalid("repetition_penalty", "repetition_penalty must be > 0 (1 = off), got 0");
        SamplingParams params;
        try {
            params = SamplingParams.builder()
                    .temperature(f.number("temperature", 0, 2, 1))
                    .topP(topP)
                    .topK(orElse(f.integer("top_k", -1, Integer.MAX_VALUE), 0))
                    .minP(f.number("min_p", 0, 1, 0))
                    .presencePenalty(f.number("presence_penalty", -2, 2, 0))
                    .frequencyPenalty(f.number("frequency_penalty", -2, 2, 0))
                    .repetitionPenalty(repetitionPenalty)
                    .seed(f.longInteger("seed"))
                    .logprobs(logprobs)
                    .maxTokens(maxTokens)
                    .stopTokenIds(ignoreEos ? List.of() : m.stopTokens())
                    .build();
        } catch (IllegalArgumentException e) {
            throw ApiException.invalid(null, e.getMessage());
        }
        List<String> stops = stops(o);
        TokenMask mask = null;
        if (grammar != null) {
            if (!stops.isEmpty()) {
                throw ApiException.invalid("stop", "stop cannot be combined with " + (forcedCall ? "a tool_choice that"
                        + " forces a call" : "a JSON response_format") + ": a stop string could cut the JSON short; the"
                        + " grammar ends the answer itself");
            }
            int reasoningEnd = opensThinking && split ? m.tokenizer().id(Reasoning.CLOSE) : -1;
            int[] opening = forcedCall ? m.tokenizer().encode(NANO_V2_CALL_OPEN, false) : new int[0];
            int[] closing = forcedCall ? m.tokenizer().encode(NANO_V2_CALL_CLOSE, false) : new int[0];
            try {
                mask = new TokenMask(grammar, TokenVocabulary.of(m.tokenizer(), m.model().config().vocabSize),
                        params.stopTokenIds(), reasoningEnd, opening, closing);
            } catch (IllegalArgumentException e) {
                throw ApiException.invalid(constraint, e.getMessage());
            }
            if (maxTokens < mask.minTokens()) {
                throw ApiException.invalid(maxField, "the shortest answer the " + constraint + " allows takes " + mask.minTokens()
                        + " tokens" + (reasoningEnd >= 0 ? " (with the token that closes the reasoning)" : "") + " but "
                        + maxField + " is " + maxTokens + "; raise " + maxField);
            }
        }
        boolean stream = Boolean.TRUE.equals(f.bool("stream"));
        boolean includeUsage = false;
        JsonNode so = o.get("stream_options");
        if (so != null && !so.isNull()) {
            if (!so.isObject()) throw ApiException.invalid("stream_options", "stream_options must be an object");
            if (!stream) throw ApiException.invalid("stream_options", "stream_options is only allowed with stream = true");
            includeUsage = Boolean.TRUE.equals(new Fields((ObjectNode) so).bool("include_usage"));
        }
        return new CompletionRequest(chat, model, adapter, prompt, stream, includeUsage, params, stops, logprobs, split,
                opensThinking, steering, mask, tools);
    }

    /**
     * OpenAI's {@code response_format}: null for none or {@code "text"}, else the grammar of {@code json_object} (any
     * object) or of {@code json_schema.schema}.
     */
    private static JsonGrammar responseFormat(ObjectNode o) {
        JsonNode rf = o.get("response_format");
        if (rf == null || rf.isNull()) return null;
        String use = "; use {\"type\": \"json_object\"} or {\"type\": \"json_schema\", \"json_schema\": {\"name\": ..., \"schema\": {...}}}";
        if (!rf.isObject()) throw ApiException.invalid("response_format", "response_format must be an object" + use);
        JsonNode type = rf.get("type");
        if (type == null || !type.isTextual()) throw ApiException.invalid("response_format.type", "response_format.type is required" + use);
        for (var names = rf.fieldNames(); names.hasNext(); ) {
            String k = names.next();
            if (!k.equals("type") && !(k.equals("json_schema") && type.asText().equals("json_schema"))) {
                throw ApiException.invalid("response_format." + k, "response_format." + k + " is not a field of a "
                        + type.asText() + " response_format" + use);
            }
        }
        switch (type.asText()) {
            case "text" -> {
                return null;
            }
            case "json_object" -> {
                return JsonGrammar.anyObject();
            }
            case "json_schema" -> {
                String where = "response_format.json_schema";
                if (!(rf.get("json_schema") instanceof ObjectNode js)) {
                    throw ApiException.invalid(where, where + " must be an object with a name and a schema");
                }
                for (var names = js.fieldNames(); names.hasNext(); ) {
                    String k = names.next();
                    if (!List.of("name", "description", "schema", "strict").contains(k)) {
                        throw ApiException.invalid(where + "." + k, where + "." + k + " is not supported (name, description,"
                                + " schema and strict are)");
                    }
                }
                Fields f = new Fields(js);
                f.string("name");
                f.string("description");
                f.bool("strict"); // strict or not, the schema is enforced
                JsonNode schema = js.get("schema");
                if (schema == null || schema.isNull()) throw ApiException.invalid(where + ".schema", where + ".schema is required");
                try {
                    return JsonSchema.compile(Json.toJava(schema));
                } catch (IllegalArgumentException e) {
                    throw ApiException.invalid(where + ".schema", e.getMessage());
                }
            }
            default -> throw ApiException.invalid("response_format.type", "response_format.type must be \"text\","
                    + " \"json_object\" or \"json_schema\", got \"" + type.asText() + "\"");
        }
    }

    private static int orElse(Integer v, int otherwise) {
        return v == null ? otherwise : v;
    }

    private static String render(ChatTemplate template, List<Map<String, Object>> messages, List<Map<String, Object>> tools) {
        try {
            ChatTemplate.Options opts = ChatTemplate.Options.generationPrompt(true);
            if (tools != null) opts = opts.withTools(tools);
            synchronized (template) {
                return template.render(messages, opts);
            }
        } catch (ChatTemplateException e) {
            throw ApiException.invalid("messages", "the chat template rejected the messages: " + e.getMessage());
        }
    }

    private static List<Map<String, Object>> messages(ObjectNode o) {
        JsonNode list = o.get("messages");
        if (list == null || list.isNull()) throw ApiException.invalid("messages", "messages is required");
        if (!list.isArray()) throw ApiException.invalid("messages", "messages must be an array of message objects");
        if (list.isEmpty()) throw ApiException.invalid("messages", "messages must not be empty");
        if (list.size() > MAX_MESSAGES) {
            throw ApiException.invalid("messages", "at most " + MAX_MESSAGES + " messages are allowed, got " + list.size());
        }
        List<Map<String, Object>> out = new ArrayList<>();
        for (int i = 0; i < list.size(); i++) {
            String where = "messages[" + i + "]";
            if (!(list.get(i) instanceof ObjectNode msg)) throw ApiException.invalid(where, where + " must be an object");
            JsonNode role = msg.get("role");
            if (role == null || !role.isTextual()) throw ApiException.invalid(where + ".role", where + ".role must be a string");
            String r = switch (role.asText()) {
                case "system", "developer" -> "system";
                case "user", "assistant", "tool" -> role.asText();
                default -> throw ApiException.invalid(where + ".role", where + ".role must be system, developer, user,"
                        + " assistant or tool, got \"" + role.asText() + "\"");
            };
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("role", r);
            m.put("content", content(msg.get("content"), where + ".content", r.equals("assistant")));
            JsonNode calls = msg.get("tool_calls");
            if (calls != null && !calls.isNull()) {
                if (!r.equals("assistant")) throw ApiException.invalid(where + ".tool_calls", "only assistant messages have tool_calls");
                m.put("tool_calls", toolCalls(calls, where + ".tool_calls"));
            }
            for (String key : List.of("tool_call_id", "name")) {
                JsonNode v = msg.get(key);
                if (v == null || v.isNull()) continue;
                if (!v.isTextual()) throw ApiException.invalid(where + "." + key, where + "." + key + " must be a string");
                m.put(key, v.asText());
            }
            out.add(m);
        }
        return out;
    }

    /** A message's text: a string, or an array of {"type": "text", "text": ...} parts joined. */
    private static String content(JsonNode c, String where, boolean mayBeEmpty) {
        if (c == null || c.isNull()) {
            if (mayBeEmpty) return "";
            throw ApiException.invalid(where, where + " is required");
        }
        if (c.isTextual()) return c.asText();
        if (!c.isArray()) throw ApiException.invalid(where, where + " must be a string or an array of text parts");
        StringBuilder text = new StringBuilder();
        for (JsonNode part : c) {
            if (!part.isObject() || !"text".equals(part.path("type").asText(null)) || !part.path("text").isTextual()) {
                throw ApiException.invalid(where, where + ": only {\"type\": \"text\", \"text\": ...} parts are supported");
            }
            text.append(part.get("text").asText());
        }
        return text.toString();
    }

    /**
     * An assistant message's calls as the chat templates read them: {@code function.arguments}, a JSON string in
     * OpenAI's API, becomes the object it holds (as vLLM passes it to the template).
     */
    private static Object toolCalls(JsonNode calls, String where) {
        if (!calls.isArray()) throw ApiException.invalid(where, where + " must be an array");
        List<Object> out = new ArrayList<>();
        for (int i = 0; i < calls.size(); i++) {
            String at = where + "[" + i + "]";
            if (!(calls.get(i) instanceof ObjectNode call) || !(call.get("function") instanceof ObjectNode fn)
                    || !fn.path("name").isTextual()) {
                throw ApiException.invalid(at, at + " must be {\"id\": ..., \"type\": \"function\", \"function\": {\"name\": ..., \"arguments\": \"{...}\"}}");
            }
            ObjectNode copy = call.deepCopy();
            JsonNode args = fn.get("arguments");
            if (args != null && args.isTextual()) {
                try {
                    ((ObjectNode) copy.get("function")).set("arguments", Json.MAPPER.readTree(args.asText()));
                } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
                    throw ApiException.invalid(at + ".function.arguments", at + ".function.arguments must be a JSON object's text: "
                            + e.getOriginalMessage());
                }
            }
            out.add(Json.toJava(copy));
        }
        return out;
    }

    private static final Pattern FUNCTION_NAME = Pattern.compile("[a-zA-Z0-9_-]{1,64}");

    /** Nano v2's tool-call tags, around the JSON list of calls. */
    static final String NANO_V2_CALL_OPEN = "<TOOLCALL>", NANO_V2_CALL_CLOSE = "</TOOLCALL>";

    /** Whether the (already checked) {@code tool_choice} is {@code "required"} or names a function. */
    private static boolean forcesCall(ObjectNode o) {
        JsonNode choice = o.get("tool_choice");
        return choice != null && (choice.isObject() || choice.isTextual() && choice.asText().equals("required"));
    }

    /**
     * For {@code tool_choice} {@code "required"} or a named function: the grammar of the calls the answer must be,
     * Nano v2's {@code [{"name": ..., "arguments": {...}}]} whose arguments follow each function's {@code parameters}
     * (one call when {@code parallel_tool_calls} is false, or a function is named). Only chat templates that write
     * Nano v2's {@code <TOOLCALL>} format are constrained; others are refused, naming the limitation.
     */
    @SuppressWarnings("unchecked")
    private static JsonGrammar toolCallGrammar(ObjectNode o, JsonNode tools, ServedModel m) {
        String source = m.template().source();
        if (!source.contains(NANO_V2_CALL_OPEN)) {
            throw ApiException.invalid("tool_choice", source.contains("<tool_call>")
                    ? "tool_choice \"required\" or a named function is supported for Nano v2's <TOOLCALL> format only;"
                    + " this model's chat template writes Qwen3-Coder XML calls (<tool_call><function=...>), which have no"
                    + " grammar yet; use \"auto\""
                    : "tool_choice \"required\" or a named function needs a chat template that writes Nano v2's"
                    + " <TOOLCALL> calls, and this model's template shows no tool-call format; use \"auto\"");
        }
        JsonNode choice = o.get("tool_choice");
        String named = null;
        if (choice.isObject()) {
            String use = "; name a function as {\"type\": \"function\", \"function\": {\"name\": ...}}";
            if (!"function".equals(choice.path("type").asText(null)) || !choice.path("function").path("name").isTextual()) {
                throw ApiException.invalid("tool_choice", "tool_choice must be a string or {\"type\": \"function\","
                        + " \"function\": {\"name\": ...}}" + use);
            }
            named = choice.at("/function/name").asText();
        }
        Boolean parallel = new Fields(o).bool("parallel_tool_calls");
        Map<String, Object> parameters = new LinkedHashMap<>();
        for (JsonNode tool : tools) {
            JsonNode fn = tool.get("function");
            String name = fn.get("name").asText();
            if (named == null || named.equals(name)) parameters.put(name, fn.hasNonNull("parameters") ? Json.toJava(fn.get("parameters")) : null);
        }
        if (parameters.isEmpty()) {
            throw ApiException.invalid("tool_choice", "tool_choice names the function \"" + named + "\", which is not"
                    + " among tools; name one of the tools' functions");
        }
        try {
            return JsonSchema.toolCalls(parameters, named == null && !Boolean.FALSE.equals(parallel));
        } catch (IllegalArgumentException e) {
            throw ApiException.invalid("tools", e.getMessage());
        }
    }

    /**
     * The function tools the model is offered and its answer is parsed for, or null: none given, or
     * {@code tool_choice: "none"}. With {@code "required"} or a named function, {@link #toolCallGrammar} constrains
     * the answer to calls.
     */
    private static JsonNode tools(ObjectNode o) {
        JsonNode t = o.get("tools");
        JsonNode choice = o.get("tool_choice");
        boolean none = false;
        if (choice != null && !choice.isNull()) {
            String c = choice.isTextual() ? choice.asText() : choice.isObject() ? "named" : "?";
            switch (c) {
                case "none" -> none = true;
                case "auto", "required", "named" -> { }
                default -> throw ApiException.invalid("tool_choice", "tool_choice must be \"none\", \"auto\", \"required\" or"
                        + " {\"type\": \"function\", \"function\": {\"name\": ...}}, got " + choice);
            }
            if (!none && (t == null || t.isNull())) {
                throw ApiException.invalid("tool_choice", "tool_choice is only allowed when tools are specified");
            }
        }
        if (t == null || t.isNull()) return null;
        if (!t.isArray()) throw ApiException.invalid("tools", "tools must be an array of tool objects");
        if (t.isEmpty() && !none && forcesCall(o)) {
            throw ApiException.invalid("tool_choice", "tool_choice " + choice + " needs at least one tool in tools");
        }
        java.util.Set<String> names = new java.util.HashSet<>();
        for (int i = 0; i < t.size(); i++) {
            String at = "tools[" + i + "]";
            String use = "; a tool is {\"type\": \"function\", \"function\": {\"name\": ..., \"description\": ..., \"parameters\": {...}}}";
            if (!(t.get(i) instanceof ObjectNode tool)) throw ApiException.invalid(at, at + " must be an object" + use);
            if (!"function".equals(tool.path("type").asText(null))) {
                throw ApiException.invalid(at + ".type", at + ".type must be \"function\" (the only tool type supported)" + use);
            }
            if (!(tool.get("function") instanceof ObjectNode fn)) throw ApiException.invalid(at + ".function", at + ".function must be an object" + use);
            JsonNode name = fn.get("name");
            if (name == null || !name.isTextual() || !FUNCTION_NAME.matcher(name.asText()).matches()) {
                throw ApiException.invalid(at + ".function.name", at + ".function.name must be 1 to 64 letters, digits, _ or -" + use);
            }
            if (!names.add(name.asText())) throw ApiException.invalid(at + ".function.name", "two tools are named \"" + name.asText() + "\"");
            JsonNode description = fn.get("description");
            if (description != null && !description.isNull() && !description.isTextual()) {
                throw ApiException.invalid(at + ".function.description", at + ".function.description must be a string");
            }
            JsonNode parameters = fn.get("parameters");
            if (parameters != null && !parameters.isNull() && !parameters.isObject()) {
                throw ApiException.invalid(at + ".function.parameters", at + ".function.parameters must be a JSON Schema object");
            }
        }
        return none || t.isEmpty() ? null : t;
    }

    /** A string, or an array of token ids (OpenAI's two single-prompt forms). */
    private static int[] completionPrompt(ObjectNode o, ServedModel m) {
        JsonNode p = o.get("prompt");
        if (p == null || p.isNull()) throw ApiException.invalid("prompt", "prompt is required");
        if (p.isTextual()) return m.tokenizer().encode(p.asText(), true);
        if (!p.isArray()) throw ApiException.invalid("prompt", "prompt must be a string or an array of token ids");
        if (p.size() > m.model().config().maxPositionEmbeddings) {
            throw ApiException.invalid("prompt", "the prompt has " + p.size() + " tokens, more than the model's context of "
                    + m.model().config().maxPositionEmbeddings);
        }
        int vocab = m.model().config().vocabSize;
        int[] ids = new int[p.size()];
        for (int i = 0; i < ids.length; i++) {
            JsonNode id = p.get(i);
            if (!id.isIntegralNumber() || !id.canConvertToInt() || id.asInt() < 0 || id.asInt() >= vocab) {
                throw ApiException.invalid("prompt", "prompt[" + i + "] must be a token id in [0, " + vocab + "), got " + id
                        + " (several prompts per request are not supported)");
            }
            ids[i] = id.asInt();
        }
        return ids;
    }

    private static List<String> stops(ObjectNode o) {
        JsonNode s = o.get("stop");
        if (s == null || s.isNull()) return List.of();
        List<JsonNode> items = new ArrayList<>();
        if (s.isArray()) s.forEach(items::add);
        else items.add(s);
        if (items.size() > MAX_STOPS) throw ApiException.invalid("stop", "at most " + MAX_STOPS + " stop sequences, got " + items.size());
        List<String> out = new ArrayList<>();
        for (JsonNode item : items) {
            if (!item.isTextual()) throw ApiException.invalid("stop", "stop must be a string or an array of strings");
            String text = item.asText();
            if (text.isEmpty() || text.length() > MAX_STOP_CHARS) {
                throw ApiException.invalid("stop", "each stop sequence must have 1 to " + MAX_STOP_CHARS + " characters");
            }
            out.add(text);
        }
        return out;
    }

    /** Typed reads of optional fields; JSON null counts as absent, as OpenAI's API treats it. */
    private record Fields(ObjectNode o) {
        JsonNode get(String name) {
            JsonNode v = o.get(name);
            return v == null || v.isNull() ? null : v;
        }

        String string(String name) {
            JsonNode v = get(name);
            if (v == null) return null;
            if (!v.isTextual()) throw ApiException.invalid(name, name + " must be a string, got " + kind(v));
            return v.asText();
        }

        Boolean bool(String name) {
            JsonNode v = get(name);
            if (v == null) return null;
            if (!v.isBoolean()) throw ApiException.invalid(name, name + " must be true or false, got " + kind(v));
            return v.asBoolean();
        }

        Integer integer(String name, int min, int max) {
            JsonNode v = get(name);
            if (v == null) return null;
            if (!v.isIntegralNumber()) throw ApiException.invalid(name, name + " must be an integer, got " + kind(v));
            if (!v.canConvertToInt() || v.asInt() < min || v.asInt() > max) {
                throw ApiException.invalid(name, name + " must be in [" + min + ", " + max + "], got " + v);
            }
            return v.asInt();
        }

        Long longInteger(String name) {
            JsonNode v = get(name);
            if (v == null) return null;
            if (!v.isIntegralNumber() || !v.canConvertToLong()) {
                throw ApiException.invalid(name, name + " must be a 64-bit integer, got " + kind(v));
            }
            return v.asLong();
        }

        double number(String name, double min, double max, double otherwise) {
            JsonNode v = get(name);
            if (v == null) return otherwise;
            if (!v.isNumber()) throw ApiException.invalid(name, name + " must be a number, got " + kind(v));
            double d = v.asDouble();
            if (!(d >= min && d <= max)) throw ApiException.invalid(name, name + " must be in [" + min + ", " + max + "], got " + v);
            return d;
        }

        private static String kind(JsonNode v) {
            return v.isTextual() ? "a string" : v.isBoolean() ? "a boolean" : v.isArray() ? "an array"
                    : v.isObject() ? "an object" : v.isNumber() ? "the number " + v : v.getNodeType().toString().toLowerCase(Locale.ROOT);
        }
    }
}
