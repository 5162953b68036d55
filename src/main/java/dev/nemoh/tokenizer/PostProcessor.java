package dev.nemoh.tokenizer;

import com.fasterxml.jackson.databind.JsonNode;

import java.util.ArrayList;
import java.util.List;

/** tokenizer.json's "post_processor", for a single sequence: adds the special tokens around the ids on request. */
interface PostProcessor {
    int[] process(int[] ids, boolean addSpecialTokens);

    String SUPPORTED = "TemplateProcessing, ByteLevel, Sequence, BertProcessing, RobertaProcessing";

    static PostProcessor parse(JsonNode node, String where) {
        if (node == null || node.isNull()) return null;
        String type = Json.type(node, where);
        return switch (type) {
            case "ByteLevel" -> (ids, add) -> ids; // only trims offsets
            case "TemplateProcessing" -> {
                String w = where + " (TemplateProcessing)";
                JsonNode single = Json.require(node, "single", w);
                JsonNode specials = node.get("special_tokens");
                List<int[]> parts = new ArrayList<>(); // null entry = the sequence
                List<Boolean> isSeq = new ArrayList<>();
                for (JsonNode piece : single) {
                    if (piece.has("Sequence")) {
                        String id = Json.requireStr(piece.get("Sequence"), "id", w);
                        if (!id.equals("A")) {
                            throw new TokenizerException(w + ": the single template refers to sequence " + id
                                    + "; only A exists when encoding one text");
                        }
                        parts.add(null);
                        isSeq.add(true);
                    } else if (piece.has("SpecialToken")) {
                        String id = Json.requireStr(piece.get("SpecialToken"), "id", w);
                        JsonNode tok = specials == null ? null : specials.get(id);
                        if (tok == null || !tok.has("ids")) {
                            throw new TokenizerException(w + ": special token " + id + " is used in the template but not"
                                    + " listed in special_tokens");
                        }
                        JsonNode idList = tok.get("ids");
                        if (!idList.isArray()) throw new TokenizerException(w + ": special token " + id + " has no ids list");
                        int[] tids = new int[idList.size()];
                        for (int i = 0; i < tids.length; i++) tids[i] = Json.id(idList.get(i), w + ": special token " + id);
                        parts.add(tids);
                        isSeq.add(false);
                    } else {
                        throw new TokenizerException(w + ": unknown template piece " + Json.shorten(piece));
                    }
                }
                yield (ids, add) -> {
                    if (!add) return ids;
                    int total = 0;
                    for (int[] p : parts) total += p == null ? ids.length : p.length;
                    int[] out = new int[total];
                    int k = 0;
                    for (int[] p : parts) {
                        int[] src = p == null ? ids : p;
                        System.arraycopy(src, 0, out, k, src.length);
                        k += src.length;
                    }
                    return out;
                };
            }
            case "BertProcessing", "RobertaProcessing" -> {
                String w = where + " (" + type + ")";
                int cls = tokenPair(node, "cls", w);
                int sep = tokenPair(node, "sep", w);
                yield (ids, add) -> {
                    if (!add) return ids;
                    int[] out = new int[ids.length + 2];
                    out[0] = cls;
                    System.arraycopy(ids, 0, out, 1, ids.length);
                    out[ids.length + 1] = sep;
                    return out;
                };
            }
            case "Sequence" -> {
                List<PostProcessor> list = new ArrayList<>();
                for (JsonNode n : Json.require(node, "processors", where + " (Sequence post-processor)")) {
                    PostProcessor p = parse(n, where);
                    if (p != null) list.add(p);
                }
                yield (ids, add) -> {
                    for (PostProcessor p : list) ids = p.process(ids, add);
                    return ids;
                };
            }
            default -> throw Json.unsupported("post_processor", type, where, SUPPORTED);
        };
    }

    /** BertProcessing's cls / sep: ["[CLS]", 101]. */
    private static int tokenPair(JsonNode node, String field, String where) {
        JsonNode pair = Json.require(node, field, where);
        if (!pair.isArray() || pair.size() != 2) {
            throw new TokenizerException(where + ": " + field + " must be a [token, id] pair, found " + Json.shorten(pair));
        }
        return Json.id(pair.get(1), where + " " + field);
    }
}
