//! `tinyllama`: a Llama-architecture transformer — token embedding, RMSNorm, rotary
//! position embeddings, multi-head attention with a KV cache, SwiGLU feed-forward, final
//! RMSNorm, classifier and softmax — decoding greedily from a fixed prompt.
//!
//! The model is synthetic: its weights come from a [`SplitMix64`] stream seeded with
//! [`SEED`] (uniform, scaled to unit variance per layer), so nothing is downloaded and
//! the output is a pure function of the code. The vocabulary is the 256 byte values;
//! the prompt is the bytes of `"BareFlow JIT"`. The layout and the computation follow
//! Karpathy's `llama2.c` (`f32` everywhere, interleaved RoPE pairs); the RoPE table is
//! precomputed as Meta's reference does (`precompute_freqs_cis`).
//!
//! | hyper-parameter | value |
//! |---|---|
//! | `dim` | 128 |
//! | `hidden_dim` (SwiGLU) | 384 |
//! | layers | 2 |
//! | heads / KV heads | 4 / 4 (head size 32) |
//! | vocabulary | 256 |
//! | max sequence | 32 |
//! | RoPE θ | 10000 |
//! | RMSNorm ε | 1e-5 |
//!
//! 492,160 parameters (1.9 MiB of `f32` in `.bss`); one forward pass is 458,752
//! multiply-adds in [`matmul`] plus a few thousand in [`attention`]. Generating 16 tokens after the 12-token
//! prompt takes 27 forward passes. Weight generation happens before the timed section.
#![no_std]

use bf_app_abi::math::{exp_f32, exp_f64, sin_cos_f64, sqrt_f32};
use bf_app_abi::rng::SplitMix64;
use bf_app_abi::{Fnv1a, Scratch, opaque, print, print_u64, print_verdict, timed};

/// Width of the residual stream.
pub const DIM: usize = 128;
/// Width of the SwiGLU feed-forward layer.
pub const HIDDEN_DIM: usize = 384;
/// Transformer blocks.
pub const N_LAYERS: usize = 2;
/// Query heads.
pub const N_HEADS: usize = 4;
/// Key/value heads (fewer than [`N_HEADS`] would be grouped-query attention).
pub const N_KV_HEADS: usize = 4;
/// Size of one head.
pub const HEAD_DIM: usize = DIM / N_HEADS;
/// Width of the keys and values of one position.
pub const KV_DIM: usize = N_KV_HEADS * HEAD_DIM;
/// Tokens: the 256 byte values.
pub const VOCAB_SIZE: usize = 256;
/// Longest sequence (prompt + generated tokens) the KV cache holds.
pub const SEQ_LEN: usize = 32;
/// ln(10000): RoPE's θ = 10000.
pub const LN_ROPE_THETA: f64 = 9.210_340_371_976_184;
/// RMSNorm's ε.
pub const RMS_EPS: f32 = 1e-5;
/// Seed of the weights.
pub const SEED: u64 = 0x7469_6e79_6c6c_616d; // "tinyllam"
/// The prompt, one token per byte.
pub const PROMPT: &[u8] = b"BareFlow JIT";
/// Tokens generated.
pub const STEPS: usize = 16;
/// The tokens greedy decoding produces (an independent `f64` Python transcription of
/// the model, with libm's `exp`/`sin`/`cos`, produces the same ones).
pub const EXPECTED_TOKENS: [u8; STEPS] = [53, 60, 128, 253, 83, 90, 246, 19, 75, 153, 186, 49, 108, 126, 87, 125];
/// FNV-1a over the generated tokens and the bits of their probabilities.
pub const EXPECTED_CHECKSUM: u64 = 14_650_656_926_978_356_090;

const _: () = assert!(PROMPT.len() + STEPS - 1 <= SEQ_LEN, "the KV cache is too short");
const _: () = assert!(
    N_HEADS.is_multiple_of(N_KV_HEADS) && DIM.is_multiple_of(N_HEADS) && HEAD_DIM.is_multiple_of(2),
    "bad head layout"
);

/// The model's parameters. Matrices are row-major `out × in`, one after the other per
/// layer, as in `llama2.c`'s checkpoint layout.
pub struct Weights {
    token_embedding: [f32; VOCAB_SIZE * DIM],
    rms_att: [f32; N_LAYERS * DIM],
    wq: [f32; N_LAYERS * DIM * DIM],
    wk: [f32; N_LAYERS * KV_DIM * DIM],
    wv: [f32; N_LAYERS * KV_DIM * DIM],
    wo: [f32; N_LAYERS * DIM * DIM],
    rms_ffn: [f32; N_LAYERS * DIM],
    w1: [f32; N_LAYERS * HIDDEN_DIM * DIM],
    w2: [f32; N_LAYERS * DIM * HIDDEN_DIM],
    w3: [f32; N_LAYERS * HIDDEN_DIM * DIM],
    rms_final: [f32; DIM],
    wcls: [f32; VOCAB_SIZE * DIM],
    /// cos(pos·θ_i), `SEQ_LEN × HEAD_DIM/2`.
    rope_cos: [f32; SEQ_LEN * HEAD_DIM / 2],
    /// sin(pos·θ_i), `SEQ_LEN × HEAD_DIM/2`.
    rope_sin: [f32; SEQ_LEN * HEAD_DIM / 2],
}

/// Activations and the KV cache.
pub struct RunState {
    x: [f32; DIM],
    xb: [f32; DIM],
    xb2: [f32; DIM],
    hb: [f32; HIDDEN_DIM],
    hb2: [f32; HIDDEN_DIM],
    q: [f32; DIM],
    att: [f32; N_HEADS * SEQ_LEN],
    logits: [f32; VOCAB_SIZE],
    key_cache: [f32; N_LAYERS * SEQ_LEN * KV_DIM],
    value_cache: [f32; N_LAYERS * SEQ_LEN * KV_DIM],
}

static WEIGHTS: Scratch<Weights> = Scratch::new(Weights {
    token_embedding: [0.0; VOCAB_SIZE * DIM],
    rms_att: [0.0; N_LAYERS * DIM],
    wq: [0.0; N_LAYERS * DIM * DIM],
    wk: [0.0; N_LAYERS * KV_DIM * DIM],
    wv: [0.0; N_LAYERS * KV_DIM * DIM],
    wo: [0.0; N_LAYERS * DIM * DIM],
    rms_ffn: [0.0; N_LAYERS * DIM],
    w1: [0.0; N_LAYERS * HIDDEN_DIM * DIM],
    w2: [0.0; N_LAYERS * DIM * HIDDEN_DIM],
    w3: [0.0; N_LAYERS * HIDDEN_DIM * DIM],
    rms_final: [0.0; DIM],
    wcls: [0.0; VOCAB_SIZE * DIM],
    rope_cos: [0.0; SEQ_LEN * HEAD_DIM / 2],
    rope_sin: [0.0; SEQ_LEN * HEAD_DIM / 2],
});

static STATE: Scratch<RunState> = Scratch::new(RunState {
    x: [0.0; DIM],
    xb: [0.0; DIM],
    xb2: [0.0; DIM],
    hb: [0.0; HIDDEN_DIM],
    hb2: [0.0; HIDDEN_DIM],
    q: [0.0; DIM],
    att: [0.0; N_HEADS * SEQ_LEN],
    logits: [0.0; VOCAB_SIZE],
    key_cache: [0.0; N_LAYERS * SEQ_LEN * KV_DIM],
    value_cache: [0.0; N_LAYERS * SEQ_LEN * KV_DIM],
});

/// Fills `values` with `center + amplitude · U[-1, 1)`.
fn fill_uniform(values: &mut [f32], rng: &mut SplitMix64, center: f32, amplitude: f32) {
    for v in values {
        *v = center + amplitude * rng.next_f32_signed();
    }
}

/// Generates the synthetic model from `seed` and precomputes the RoPE table.
///
/// Matrices with `n` inputs get amplitude √(3/n) (unit output variance for unit input
/// variance); norm weights are 1 ± 0.1; embeddings are U[-1, 1).
#[inline(never)]
pub fn init_weights(w: &mut Weights, seed: u64) {
    let mut rng = SplitMix64::new(seed);
    let from_dim = sqrt_f32(3.0 / DIM as f32);
    let from_hidden = sqrt_f32(3.0 / HIDDEN_DIM as f32);
    fill_uniform(&mut w.token_embedding, &mut rng, 0.0, 1.0);
    fill_uniform(&mut w.rms_att, &mut rng, 1.0, 0.1);
    fill_uniform(&mut w.wq, &mut rng, 0.0, from_dim);
    fill_uniform(&mut w.wk, &mut rng, 0.0, from_dim);
    fill_uniform(&mut w.wv, &mut rng, 0.0, from_dim);
    fill_uniform(&mut w.wo, &mut rng, 0.0, from_dim);
    fill_uniform(&mut w.rms_ffn, &mut rng, 1.0, 0.1);
    fill_uniform(&mut w.w1, &mut rng, 0.0, from_dim);
    fill_uniform(&mut w.w2, &mut rng, 0.0, from_hidden);
    fill_uniform(&mut w.w3, &mut rng, 0.0, from_dim);
    fill_uniform(&mut w.rms_final, &mut rng, 1.0, 0.1);
    fill_uniform(&mut w.wcls, &mut rng, 0.0, from_dim);
    // θ_i = 10000^(-2i/HEAD_DIM); the table holds cos and sin of pos·θ_i.
    let half = HEAD_DIM / 2;
    for i in 0..half {
        let theta = exp_f64(-((2 * i) as f64 / HEAD_DIM as f64) * LN_ROPE_THETA);
        for pos in 0..SEQ_LEN {
            let (sin, cos) = sin_cos_f64(pos as f64 * theta);
            w.rope_cos[pos * half + i] = cos as f32;
            w.rope_sin[pos * half + i] = sin as f32;
        }
    }
}

/// `out = weight ⊙ x / rms(x)`, with rms(x) = √(mean(x²) + ε).
#[inline(never)]
pub fn rmsnorm(out: &mut [f32], x: &[f32], weight: &[f32]) {
    let mut ss = 0.0f32;
    for &v in x {
        ss += v * v;
    }
    let scale = 1.0 / sqrt_f32(ss / x.len() as f32 + RMS_EPS);
    for ((o, &v), &w) in out.iter_mut().zip(x).zip(weight) {
        *o = w * (scale * v);
    }
}

/// `out = W · x` for a row-major `out.len() × x.len()` matrix `w`: one dot product per
/// output, summed in order.
#[inline(never)]
pub fn matmul(out: &mut [f32], x: &[f32], w: &[f32]) {
    let n = x.len();
    assert!(w.len() >= out.len() * n);
    for (o, row) in out.iter_mut().zip(w.chunks_exact(n)) {
        let mut acc = 0.0f32;
        for (&a, &b) in row.iter().zip(x) {
            acc += a * b;
        }
        *o = acc;
    }
}

/// Rotary position embedding: rotates each (even, odd) pair of every head of `q` and
/// `k` by the angles of one position (`cos`, `sin`: `HEAD_DIM/2` entries).
#[inline(never)]
pub fn rope(q: &mut [f32], k: &mut [f32], cos: &[f32], sin: &[f32]) {
    for head in q.chunks_exact_mut(HEAD_DIM).chain(k.chunks_exact_mut(HEAD_DIM)) {
        for ((pair, &c), &s) in head.chunks_exact_mut(2).zip(cos).zip(sin) {
            let (x0, x1) = (pair[0], pair[1]);
            pair[0] = x0 * c - x1 * s;
            pair[1] = x0 * s + x1 * c;
        }
    }
}

/// In-place softmax: `x_i = e^(x_i - max) / Σ e^(x_j - max)`.
#[inline(never)]
pub fn softmax(x: &mut [f32]) {
    let mut max = x[0];
    for &v in x.iter() {
        if v > max {
            max = v;
        }
    }
    let mut sum = 0.0f32;
    for v in x.iter_mut() {
        *v = exp_f32(*v - max);
        sum += *v;
    }
    for v in x.iter_mut() {
        *v /= sum;
    }
}

/// Causal multi-head attention of the query `q` (all heads) over positions `0..=pos` of
/// one layer's KV cache, into `out`. `att` is scratch for the scores
/// (`N_HEADS × SEQ_LEN`).
#[inline(never)]
pub fn attention(out: &mut [f32], q: &[f32], key_cache: &[f32], value_cache: &[f32], att: &mut [f32], pos: usize) {
    let scale = 1.0 / sqrt_f32(HEAD_DIM as f32);
    let kv_mul = N_HEADS / N_KV_HEADS;
    for h in 0..N_HEADS {
        let qh = &q[h * HEAD_DIM..(h + 1) * HEAD_DIM];
        let kv_offset = (h / kv_mul) * HEAD_DIM;
        let scores = &mut att[h * SEQ_LEN..h * SEQ_LEN + pos + 1];
        for (t, score) in scores.iter_mut().enumerate() {
            let k = &key_cache[t * KV_DIM + kv_offset..][..HEAD_DIM];
            let mut dot = 0.0f32;
            for (&a, &b) in qh.iter().zip(k) {
                dot += a * b;
            }
            *score = dot * scale;
        }
        softmax(scores);
        let oh = &mut out[h * HEAD_DIM..(h + 1) * HEAD_DIM];
        oh.fill(0.0);
        for (t, &a) in scores.iter().enumerate() {
            let v = &value_cache[t * KV_DIM + kv_offset..][..HEAD_DIM];
            for (o, &vi) in oh.iter_mut().zip(v) {
                *o += a * vi;
            }
        }
    }
}

/// SwiGLU's gate: `hb = silu(hb) ⊙ hb2`, silu(v) = v·σ(v).
#[inline(never)]
pub fn swiglu(hb: &mut [f32], hb2: &[f32]) {
    for (h, &g) in hb.iter_mut().zip(hb2) {
        let v = *h;
        *h = v / (1.0 + exp_f32(-v)) * g;
    }
}

/// `x += y` (a residual connection).
fn add(x: &mut [f32], y: &[f32]) {
    for (a, &b) in x.iter_mut().zip(y) {
        *a += b;
    }
}

/// One forward pass: feeds `token` at position `pos` (filling the KV cache there) and
/// leaves the next-token logits in the state.
#[inline(never)]
pub fn forward(w: &Weights, s: &mut RunState, token: usize, pos: usize) {
    s.x.copy_from_slice(&w.token_embedding[token * DIM..(token + 1) * DIM]);
    let half = HEAD_DIM / 2;
    let cos = &w.rope_cos[pos * half..(pos + 1) * half];
    let sin = &w.rope_sin[pos * half..(pos + 1) * half];
    for l in 0..N_LAYERS {
        // Attention block.
        rmsnorm(&mut s.xb, &s.x, &w.rms_att[l * DIM..(l + 1) * DIM]);
        let layer_cache = l * SEQ_LEN * KV_DIM..(l + 1) * SEQ_LEN * KV_DIM;
        let slot = l * SEQ_LEN * KV_DIM + pos * KV_DIM..l * SEQ_LEN * KV_DIM + (pos + 1) * KV_DIM;
        let k = &mut s.key_cache[slot.clone()];
        let v = &mut s.value_cache[slot];
        matmul(&mut s.q, &s.xb, &w.wq[l * DIM * DIM..(l + 1) * DIM * DIM]);
        matmul(k, &s.xb, &w.wk[l * KV_DIM * DIM..(l + 1) * KV_DIM * DIM]);
        matmul(v, &s.xb, &w.wv[l * KV_DIM * DIM..(l + 1) * KV_DIM * DIM]);
        rope(&mut s.q, k, cos, sin);
        attention(&mut s.xb, &s.q, &s.key_cache[layer_cache.clone()], &s.value_cache[layer_cache], &mut s.att, pos);
        matmul(&mut s.xb2, &s.xb, &w.wo[l * DIM * DIM..(l + 1) * DIM * DIM]);
        add(&mut s.x, &s.xb2);
        // Feed-forward block.
        rmsnorm(&mut s.xb, &s.x, &w.rms_ffn[l * DIM..(l + 1) * DIM]);
        matmul(&mut s.hb, &s.xb, &w.w1[l * HIDDEN_DIM * DIM..(l + 1) * HIDDEN_DIM * DIM]);
        matmul(&mut s.hb2, &s.xb, &w.w3[l * HIDDEN_DIM * DIM..(l + 1) * HIDDEN_DIM * DIM]);
        swiglu(&mut s.hb, &s.hb2);
        matmul(&mut s.xb, &s.hb, &w.w2[l * DIM * HIDDEN_DIM..(l + 1) * DIM * HIDDEN_DIM]);
        add(&mut s.x, &s.xb);
    }
    rmsnorm(&mut s.xb, &s.x, &w.rms_final);
    matmul(&mut s.logits, &s.xb, &w.wcls);
}

/// The index of the largest value (the first one on ties).
#[inline(never)]
pub fn argmax(values: &[f32]) -> usize {
    let mut best = 0;
    for (i, &v) in values.iter().enumerate() {
        if v > values[best] {
            best = i;
        }
    }
    best
}

/// Feeds `prompt`, then decodes greedily: each step takes the most probable token after
/// softmax. Fills `tokens` and the probability each one had.
#[inline(never)]
pub fn generate(w: &Weights, s: &mut RunState, prompt: &[u8], tokens: &mut [u8], probabilities: &mut [f32]) {
    assert!(!prompt.is_empty() && prompt.len() + tokens.len() - 1 <= SEQ_LEN);
    let mut token = usize::from(prompt[0]);
    let mut generated = 0;
    let mut pos = 0;
    while generated < tokens.len() {
        forward(w, s, token, pos);
        if pos + 1 < prompt.len() {
            token = usize::from(prompt[pos + 1]);
        } else {
            softmax(&mut s.logits);
            token = argmax(&s.logits);
            tokens[generated] = token as u8;
            probabilities[generated] = s.logits[token];
            generated += 1;
        }
        pos += 1;
    }
}

/// Runs the app: 0 when the generated tokens and the checksum are right, 1 if the
/// tokens differ, 2 if only the checksum (the probabilities' bits) does.
pub fn run() -> i32 {
    let mut tokens = [0u8; STEPS];
    let mut probabilities = [0.0f32; STEPS];
    WEIGHTS.with(|w| {
        STATE.with(|s| {
            init_weights(w, opaque(SEED));
            s.key_cache.fill(0.0);
            s.value_cache.fill(0.0);
            timed(|| generate(w, s, PROMPT, &mut tokens, &mut probabilities));
        })
    });
    let mut hash = Fnv1a::new();
    hash.bytes(&tokens);
    for p in probabilities {
        hash.u32(p.to_bits());
    }
    print("tinyllama: \"BareFlow JIT\" ->");
    for t in tokens {
        print(" ");
        print_u64(u64::from(t));
    }
    print(" checksum ");
    print_u64(hash.0);
    let status = if tokens != EXPECTED_TOKENS {
        1
    } else if hash.0 != EXPECTED_CHECKSUM {
        2
    } else {
        0
    };
    print_verdict(status == 0);
    status
}

bf_app_abi::app_entry!(run);
