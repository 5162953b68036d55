// Runs a GGUF model in llama.cpp on given token ids and prints what nemoh's `forward` and greedy `generate --ids`
// print, so the two engines can be compared token for token. Written against llama.h's public API only.
//
//   logits MODEL.gguf IDS N_PREDICT [LOGITS.f32]
//
// IDS: comma-separated token ids (no BOS is added). Prints "greedy: id,id,..." (N_PREDICT tokens, decoded one at a
// time after the prompt, as a chat would) and "argmax: ..." (the argmax of the logits of every prompt position).
// With LOGITS.f32 it also writes the prompt's logits as raw little-endian float32 [len, vocab].
// K/V are cached in float32 and flash attention is off: llama.cpp's defaults (f16 K/V cache, flash attention on CPU)
// round attention to f16, which moves the logits of the tiny models by ~6e-4; with these settings an f32 GGUF agrees
// with nemoh to float32 round-off.
#include "llama.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void quiet(enum ggml_log_level level, const char * text, void * user) {
    (void) user;
    if (level >= GGML_LOG_LEVEL_WARN) fputs(text, stderr);
}

static int argmax(const float * v, int n) {
    int best = 0;
    for (int i = 1; i < n; i++) if (v[i] > v[best]) best = i;
    return best;
}

int main(int argc, char ** argv) {
    if (argc < 4) {
        fprintf(stderr, "usage: %s MODEL.gguf IDS N_PREDICT [LOGITS.f32]\n", argv[0]);
        return 2;
    }
    int ids[4096];
    int n = 0;
    for (char * s = strtok(argv[2], ","); s != NULL && n < 4096; s = strtok(NULL, ",")) ids[n++] = atoi(s);
    int n_predict = atoi(argv[3]);

    llama_log_set(quiet, NULL);
    llama_backend_init();
    struct llama_model * model = llama_model_load_from_file(argv[1], llama_model_default_params());
    if (model == NULL) { fprintf(stderr, "cannot load %s\n", argv[1]); return 1; }
    int vocab = llama_vocab_n_tokens(llama_model_get_vocab(model));

    struct llama_context_params cp = llama_context_default_params();
    cp.n_ctx = n + n_predict + 8;
    cp.n_batch = n;
    cp.n_ubatch = n;
    cp.n_threads = 2;
    cp.n_threads_batch = 2;
    cp.type_k = GGML_TYPE_F32;
    cp.type_v = GGML_TYPE_F32;
    cp.flash_attn_type = LLAMA_FLASH_ATTN_TYPE_DISABLED;
    struct llama_context * ctx = llama_init_from_model(model, cp);
    if (ctx == NULL) { fprintf(stderr, "cannot create a context\n"); return 1; }

    struct llama_batch batch = llama_batch_init(n, 0, 1);
    for (int i = 0; i < n; i++) {
        batch.token[i] = ids[i];
        batch.pos[i] = i;
        batch.n_seq_id[i] = 1;
        batch.seq_id[i][0] = 0;
        batch.logits[i] = 1;
    }
    batch.n_tokens = n;
    if (llama_decode(ctx, batch) != 0) { fprintf(stderr, "prompt decode failed\n"); return 1; }

    FILE * out = argc > 4 ? fopen(argv[4], "wb") : NULL;
    printf("argmax:");
    for (int i = 0; i < n; i++) {
        const float * l = llama_get_logits_ith(ctx, i);
        printf("%s%d", i ? "," : " ", argmax(l, vocab));
        if (out) fwrite(l, sizeof(float), vocab, out);
    }
    printf("\n");
    if (out) fclose(out);

    int next = argmax(llama_get_logits_ith(ctx, n - 1), vocab);
    printf("greedy:");
    for (int k = 0; k < n_predict; k++) {
        printf("%s%d", k ? "," : " ", next);
        batch.token[0] = next;
        batch.pos[0] = n + k;
        batch.n_seq_id[0] = 1;
        batch.seq_id[0][0] = 0;
        batch.logits[0] = 1;
        batch.n_tokens = 1;
        if (llama_decode(ctx, batch) != 0) { fprintf(stderr, "decode failed\n"); return 1; }
        next = argmax(llama_get_logits_ith(ctx, 0), vocab);
    }
    printf("\n");

    llama_batch_free(batch);
    llama_free(ctx);
    llama_model_free(model);
    return 0;
}
