package dev.nemoh.model;

/**
 * Where the Mamba-2 time step dt is clamped into [max(time_step_min, time_step_limit[0]), time_step_limit[1]].
 * transformers 5.17 clamps it in the chunked scan (prompt processing) but not in the single-token recurrent step,
 * so its cached decoding departs from its own full forward wherever softplus(dt + dt_bias) falls below
 * time_step_min. {@link #TRANSFORMERS} reproduces that (and the reference fixtures); {@link #EVERYWHERE} clamps in
 * both paths, so that decoding token by token reaches exactly the state of one prefill. {@link #LLAMA_CPP} is
 * llama.cpp's ssm_scan, which GGUF files run with: no clamp anywhere, and a prompt scanned token by token with the
 * recurrent step (the order of llama.cpp's sums) instead of the chunked scan.
 */
public enum TimeStepClamp {
    TRANSFORMERS,
    EVERYWHERE,
    LLAMA_CPP
}
