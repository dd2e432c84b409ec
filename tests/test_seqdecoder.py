"""The box-sequence decoder: vocabulary, causal / cached auto-regression, one-pass exits."""
import math

import pytest
import torch
from torch import nn

from trackkit.models.seqdecoder import (SeqDecoder, Vocabulary, WordHead, causal_mask, confidence_score,
                                        decode_autoregressive, decode_one_pass, hanning_window, sinusoid_table)

D, BINS = 32, 50


def test_quantization_round_trips():
    v = Vocabulary(4000)
    words = torch.arange(4000)
    assert torch.equal(v.quantize(v.dequantize(words)), words)  # float32 values back to their words
    x = torch.rand(10000, dtype=torch.float64)
    back = v.dequantize(v.quantize(x), torch.float64)
    # truncation: within one bin below (1e-3 bin above at most, the documented tolerance)
    assert ((x - back) >= -1e-3 / 3999).all() and ((x - back) < 1.0 / 3999).all()
    assert v.quantize(torch.tensor([-0.5, 0.0, 1.0, 2.0])).tolist() == [0, 0, 3999, 3999]  # clamped
    assert (v.end, v.start, v.size) == (4000, 4001, 4002)
    assert v.class_weights()[3999] == 1 and v.class_weights()[4000] == v.class_weights()[4001] == 0.01


def test_sinusoid_table_matches_formula():
    t = sinusoid_table(7, 8)[0]
    assert t.shape == (7, 8)
    assert math.isclose(float(t[3, 2]), math.sin(3 / 10000 ** (2 / 8)), rel_tol=1e-6)
    assert math.isclose(float(t[3, 3]), math.cos(3 / 10000 ** (2 / 8)), rel_tol=1e-6)


def _parts(layers=2, seed=0):
    torch.manual_seed(seed)
    vocab = Vocabulary(BINS)
    dec = SeqDecoder(D, 4, 64, layers, dropout=0.1).eval()
    embed = nn.Embedding(vocab.size, D)
    head = WordHead(D, vocab.size)
    memory = torch.randn(3, 20, D)
    mem_pos = torch.randn(1, 20, D)
    qpos = torch.randn(1, 5, D)
    return vocab, dec, embed, head, memory, mem_pos, qpos


def test_causal_forward_equals_step_by_step_with_and_without_cache():
    vocab, dec, embed, head, memory, mem_pos, qpos = _parts()
    with torch.no_grad():
        ar = decode_autoregressive(dec, embed, head, vocab, memory, mem_pos, qpos, kv_cache=False)
        cached = decode_autoregressive(dec, embed, head, vocab, memory, mem_pos, qpos, kv_cache=True)
        assert torch.equal(ar["words"], cached["words"])
        torch.testing.assert_close(ar["conf"], cached["conf"], rtol=1e-5, atol=1e-6)
        # teacher forcing the decoded words through one causal pass gives the same picks / probabilities
        seq = torch.cat([torch.full((3, 1), vocab.start), ar["words"]], 1)
        logits = head(dec(embed(seq), qpos, memory, mem_pos, causal=True))
        p = logits.softmax(-1)[..., :BINS]
        conf, words = p.max(-1)
        assert torch.equal(words[:, :4], ar["words"])
        torch.testing.assert_close(conf[:, :4], ar["conf"], rtol=1e-5, atol=1e-6)
        # and the mask matters: without it the first position sees the future
        free = head(dec(embed(seq), qpos, memory, mem_pos, causal=False))
        assert not torch.allclose(free[:, 0], logits[:, 0], atol=1e-4)


def test_window_applies_to_centre_words_only():
    vocab, dec, embed, head, memory, mem_pos, qpos = _parts()
    win = hanning_window(BINS)
    with torch.no_grad():
        a = decode_autoregressive(dec, embed, head, vocab, memory, mem_pos, qpos, window=win, kv_cache=True)
        seq = torch.cat([torch.full((3, 1), vocab.start), a["words"]], 1)
        p = head(dec(embed(seq), qpos, memory, mem_pos, causal=True)).softmax(-1)[..., :BINS]
    torch.testing.assert_close(a["conf"][:, :2], (p[:, :2] * win).max(-1).values, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(a["conf"][:, 2:], p[:, 2:4].max(-1).values, rtol=1e-5, atol=1e-6)


def test_causal_mask_shape():
    m = causal_mask(3)
    assert m.tolist() == [[True, False, False], [True, True, False], [True, True, True]]


def _one_pass(shared: bool, layers=2):
    vocab, dec, _, head, memory, mem_pos, qpos = _parts(layers)
    heads = [head] * (layers + 1) if shared else [WordHead(D, vocab.size) for _ in range(layers + 1)]
    q = torch.randn(3, 4, D)
    return vocab, dec, heads, q, qpos[:, :4], memory, mem_pos


def test_shared_exits_share_parameters():
    _, _, heads, *_ = _one_pass(shared=True)
    assert len({id(p) for h in heads for p in h.parameters()}) == len(list(heads[0].parameters()))
    _, _, heads, *_ = _one_pass(shared=False)
    ids = [{id(p) for p in h.parameters()} for h in heads]
    assert not (ids[0] & ids[1]) and not (ids[1] & ids[2])


@pytest.mark.parametrize("shared", [True, False])
def test_tau_inf_is_full_depth_and_minus_inf_the_first_exit(shared):
    vocab, dec, heads, q, qpos, memory, mem_pos = _one_pass(shared)
    with torch.no_grad():
        full = decode_one_pass(dec, heads, vocab, q, qpos, memory, mem_pos, tau=math.inf)
        # reference: every layer, mask-free, the last exit's head on the final normed output
        h = dec(q, qpos, memory, mem_pos, causal=False)
        conf, words = heads[-1](h).softmax(-1)[..., :BINS].max(-1)
        first = decode_one_pass(dec, heads, vocab, q, qpos, memory, mem_pos, tau=-math.inf)
        c0, w0 = heads[0](dec.norm(q)).softmax(-1)[..., :BINS].max(-1)
    assert full["exit"].tolist() == [2, 2, 2] and full["layers_run"] == 2
    assert torch.equal(full["words"], words) and torch.equal(full["conf"], conf)  # exactly
    assert first["exit"].tolist() == [0, 0, 0] and first["layers_run"] == 0
    assert torch.equal(first["words"], w0) and torch.equal(first["conf"], c0)


def test_rows_exit_independently():
    vocab, dec, heads, q, qpos, memory, mem_pos = _one_pass(True)
    with torch.no_grad():
        full = decode_one_pass(dec, heads, vocab, q, qpos, memory, mem_pos, tau=math.inf)
        scores0 = decode_one_pass(dec, heads, vocab, q, qpos, memory, mem_pos, tau=-math.inf)["score"]
        tau = float(scores0.median())  # the row above the median exits at 0, the others go on
        mixed = decode_one_pass(dec, heads, vocab, q, qpos, memory, mem_pos, tau=tau)
        alone = [decode_one_pass(dec, heads, vocab, q[i:i + 1], qpos, memory[i:i + 1], mem_pos, tau=tau)
                 for i in range(3)]
    assert (mixed["exit"] == 0).sum() == 1 and (mixed["exit"] > 0).sum() == 2
    for i in range(3):
        assert torch.equal(mixed["words"][i], alone[i]["words"][0])
        assert mixed["exit"][i] == alone[i]["exit"][0]
    later = mixed["exit"] == 2
    assert torch.equal(mixed["words"][later], full["words"][later]) or not later.any()


def test_confidence_definitions():
    c = torch.tensor([[0.5, 0.4, 0.3, 0.4]])
    assert confidence_score(c, "sum").item() == pytest.approx(1.6)
    assert confidence_score(c, "mean").item() == pytest.approx(0.4)
    assert confidence_score(c, "seqtrack").item() == pytest.approx(16.0)
    with pytest.raises(ValueError, match="confidence"):
        confidence_score(c, "max")
