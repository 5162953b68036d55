/**
 * Hugging Face {@code tokenizer.json} tokenizers, encoding and decoding exactly as the Rust `tokenizers` library.
 *
 * <p>Supported: model BPE (merges as "a b" or ["a", "b"], ignore_merges, byte_fallback, unk_token with fuse_unk,
 * continuing_subword_prefix, end_of_word_suffix); added tokens (special, normalized, lstrip, rstrip, single_word),
 * cut out leftmost-longest before everything else; normalizers NFC, NFD, NFKC, NFKD, Lowercase, Strip, Replace,
 * Prepend, Sequence; pre-tokenizers Split (Regex or String; Isolated, Removed, MergedWithPrevious, MergedWithNext,
 * Contiguous; invert), ByteLevel (with or without its GPT-2 regex, add_prefix_space), Sequence, Digits, Metaspace,
 * Whitespace, WhitespaceSplit, Punctuation; post-processors TemplateProcessing (single sequences), ByteLevel,
 * BertProcessing, RobertaProcessing, Sequence; decoders ByteLevel, ByteFallback, Fuse, Strip, Replace, Metaspace,
 * Sequence. Oniguruma regexes are translated to java.util.regex ({@code OnigRegex}).
 *
 * <p>Not supported (loading names the type and the file): models WordPiece, WordLevel, Unigram; BPE dropout;
 * normalizers BertNormalizer, Precompiled, StripAccents, NMT, ByteLevel; pre-tokenizers BertPreTokenizer,
 * UnicodeScripts, CharDelimiterSplit, FixedLength; decoders WordPiece, BPEDecoder, CTC; pair encodings, offsets,
 * truncation and padding.
 *
 * <p>Training: {@code BpeTrainer} learns a byte-level BPE with the `tokenizers` library's BpeTrainer semantics from
 * sequences that {@code TrainingCorpus} streams out of text and JSONL files, and writes its tokenizer.json.
 */
package dev.nemoh.tokenizer;
