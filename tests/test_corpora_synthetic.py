"""The synthetic language: exact entropy rate and E_T checked against independent computations."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from scalinglab.corpora import SyntheticConfig, SyntheticLanguage, load_corpus
from scalinglab.errors import ScalingLabError


def tiny_language(order: int = 2, vocab: int = 3, seed: int = 1) -> SyntheticLanguage:
    return SyntheticLanguage(SyntheticConfig(vocab_size=vocab, order=order, seed=seed))


def stationary_by_eigenvector(lang: SyntheticLanguage) -> np.ndarray:
    """μ over k-gram states from a dense transition matrix's left eigenvector (not power
    iteration, as the library does)."""
    vocab, order = lang.vocab_size, lang.order
    states = list(itertools.product(range(vocab), repeat=order))
    index = {s: i for i, s in enumerate(states)}
    transition = np.zeros((len(states), len(states)))
    for s in states:
        for x in range(vocab):
            transition[index[s], index[(*s[1:], x)]] += lang.next_token_probs[s + (x,)]
    values, vectors = np.linalg.eig(transition.T)
    mu = np.real(vectors[:, np.argmin(np.abs(values - 1.0))])
    mu = mu / mu.sum()
    return mu.reshape((vocab,) * order)


def brute_force_entropies(lang: SyntheticLanguage, length: int) -> np.ndarray:
    """H(X_i | X_0..X_{i-1}) for i = 1..length-1 by enumerating every sequence of ``length``
    tokens with its exact probability (chain started at the eigenvector stationary law)."""
    vocab, order = lang.vocab_size, lang.order
    mu = stationary_by_eigenvector(lang)
    joint = np.zeros((vocab,) * length)
    for seq in itertools.product(range(vocab), repeat=length):
        p = mu[seq[:order]]
        for t in range(order, length):
            p *= lang.next_token_probs[seq[t - order:t] + (seq[t],)]
        joint[seq] = p
    block = []
    for m in range(1, length + 1):
        marginal = joint.sum(axis=tuple(range(m, length)))
        block.append(-(marginal * np.log(marginal)).sum())
    return np.diff(np.array(block))  # H(X_0..X_i) - H(X_0..X_{i-1}), i = 1..length-1


@pytest.mark.parametrize("order", [1, 2, 3])
def test_stationary_distribution_matches_eigenvector(order):
    lang = tiny_language(order=order)
    np.testing.assert_allclose(lang.stationary, stationary_by_eigenvector(lang), atol=1e-13)


@pytest.mark.parametrize("order", [1, 2, 3])
def test_entropy_rate_and_best_loss_match_brute_force_enumeration(order):
    lang = tiny_language(order=order)
    length = 7  # predictions 1..6, each seeing i previous tokens
    conditional = brute_force_entropies(lang, length)
    # beyond the order, the conditional entropy is exactly the entropy rate
    np.testing.assert_allclose(conditional[order - 1:], lang.entropy_rate(), rtol=1e-10)
    for seq_len in range(1, length):
        expected = conditional[:seq_len].mean()
        assert lang.best_possible_loss(seq_len) == pytest.approx(expected, rel=1e-10)


def test_best_possible_loss_is_above_entropy_rate_and_converges_to_it():
    lang = SyntheticLanguage()  # the default V=64, k=2 language
    h = lang.entropy_rate()
    gaps = [lang.best_possible_loss(t) - h for t in (1, 4, 16, 64, 256, 1024)]
    assert all(g > 0 for g in gaps)
    assert all(a > b for a, b in zip(gaps, gaps[1:], strict=False))
    # for order k the excess is Σ_{i<k} (H_i - h) / T: exactly 1/T scaling
    assert gaps[-2] / gaps[-1] == pytest.approx(4.0, rel=1e-9)
    assert lang.best_possible_loss(10**6) == pytest.approx(h, rel=1e-5)
    assert lang.entropy_rate() < lang.context_entropies(0)[0]  # context helps


def test_plug_in_estimate_from_long_sample_converges_to_exact_entropy_rate():
    """Shannon–McMillan–Breiman: -(1/n) log P(sample) → h; also the plug-in conditional entropy
    of counted trigrams (Miller–Madow corrected) on a small language."""
    lang = SyntheticLanguage(SyntheticConfig(vocab_size=8, order=2, seed=3))
    h = lang.entropy_rate()
    errors, stderrs = [], []
    for n in (10_000, 100_000, 1_000_000):
        tokens = lang.sample(n // 16, n_chains=16, seed=n).astype(np.int64)
        logp = lang.next_token_log_probs[tokens[:, :-2], tokens[:, 1:-1], tokens[:, 2:]]
        stderr = logp.std() / np.sqrt(logp.size)
        errors.append(abs(-logp.mean() - h))
        stderrs.append(stderr)
        assert errors[-1] < 5 * stderr
    assert stderrs[-1] < stderrs[0] / 5
    tokens = lang.sample(1_000_000 // 16, n_chains=16, seed=7).astype(np.int64)
    trigram = np.zeros((8, 8, 8))
    np.add.at(trigram, (tokens[:, :-2], tokens[:, 1:-1], tokens[:, 2:]), 1)
    plug_in = _entropy_counts(trigram) - _entropy_counts(trigram.sum(axis=2))
    miller_madow = (np.count_nonzero(trigram) - np.count_nonzero(trigram.sum(2))) / (
        2 * trigram.sum())
    assert plug_in + miller_madow == pytest.approx(h, abs=0.01)


def _entropy_counts(counts: np.ndarray) -> float:
    p = counts[counts > 0] / counts.sum()
    return float(-(p * np.log(p)).sum())


def test_sample_is_stationary_and_deterministic():
    lang = SyntheticLanguage(SyntheticConfig(vocab_size=16, order=2, seed=5))
    a = lang.sample(20_000, n_chains=32, seed=11)
    b = lang.sample(20_000, n_chains=32, seed=11)
    c = lang.sample(20_000, n_chains=32, seed=12)
    assert a.dtype == np.uint16 and a.shape == (32, 20_000)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    frequencies = np.bincount(a.ravel(), minlength=16) / a.size
    np.testing.assert_allclose(frequencies, lang.unigram(), atol=0.01)
    # the first tokens of each chain follow the stationary law too (no burn-in needed)
    first = np.bincount(lang.sample(3, n_chains=20_000, seed=2)[:, 0], minlength=16) / 20_000
    np.testing.assert_allclose(first, lang.unigram(), atol=0.02)


def test_unigram_frequencies_fall_roughly_as_a_power_law():
    lang = SyntheticLanguage(SyntheticConfig(interaction_scale=0.0, lag_scales=(0.0, 0.0)))
    ranks = np.arange(1, 65)
    slope = np.polyfit(np.log(ranks), np.log(lang.unigram()), 1)[0]
    assert slope == pytest.approx(-1.2, abs=1e-9)  # pure Zipf without the context terms
    lang = SyntheticLanguage()
    sorted_freq = np.sort(lang.unigram())[::-1]
    assert np.polyfit(np.log(ranks), np.log(sorted_freq), 1)[0] < -0.8


def test_conditional_probs_match_brute_force_conditionals():
    lang = tiny_language(order=2)
    length = 5
    mu = stationary_by_eigenvector(lang)
    windows = np.array(list(itertools.product(range(3), repeat=length)))
    probs = lang.conditional_probs(windows)
    assert probs.shape == (len(windows), length, 3)
    np.testing.assert_allclose(probs.sum(-1), 1.0, atol=1e-12)
    for window, p in zip(windows[::17], probs[::17], strict=True):
        # position 0 sees one token: P(x | x0) = μ(x0, x) / μ1(x0)
        np.testing.assert_allclose(p[0], mu[window[0]] / mu[window[0]].sum(), atol=1e-12)
        for i in range(1, length):
            np.testing.assert_allclose(p[i], lang.next_token_probs[window[i - 1], window[i]])


def test_exact_evaluation_of_the_true_model_and_of_counted_ngram_models():
    lang = SyntheticLanguage(SyntheticConfig(vocab_size=16, order=2, seed=1))  # h = 1.26
    seq_len = 16
    val = lang.sample(seq_len + 1, n_chains=2000, seed=99).astype(np.int64)
    inputs, targets = val[:, :-1], val[:, 1:]
    best = lang.best_possible_loss(seq_len)
    truth = lang.evaluate(inputs, np.log(lang.conditional_probs(inputs)), targets)
    assert truth.mean_kl == pytest.approx(0.0, abs=1e-12)
    assert truth.exact_loss == pytest.approx(best)
    # the sampled windows' mean entropy and the sampled loss scatter around E_T (CLT, windows
    # are independent chains)
    true_probs = lang.conditional_probs(inputs)
    per_window_entropy = -(true_probs * np.log(true_probs)).sum(-1).mean(1)
    per_window_loss = -np.log(np.take_along_axis(true_probs, targets[..., None], -1)).mean((1, 2))
    n_windows = len(inputs)
    assert abs(truth.window_entropy - best) < 4 * per_window_entropy.std() / np.sqrt(n_windows)
    assert abs(truth.sampled_loss - best) < 4 * per_window_loss.std() / np.sqrt(n_windows)
    exact_losses = []
    for n_train in (3_000, 30_000, 300_000):
        model = counted_trigram_model(lang.sample(n_train // 10, 10, seed=n_train), 16)
        result = lang.evaluate(inputs, model(inputs), targets)
        exact_losses.append(result.exact_loss)
        assert result.exact_loss > best
        assert result.sampled_loss > best - 4 * per_window_loss.std() / np.sqrt(n_windows)
    assert exact_losses[0] > exact_losses[1] > exact_losses[2]
    assert exact_losses[2] - best < 0.25 * (exact_losses[0] - best)


def counted_trigram_model(chains: np.ndarray, vocab: int, alpha: float = 0.5):
    """An add-α trigram model with bigram back-off for the first position: a model trained
    independently of the library's exact tables."""
    tokens = chains.astype(np.int64)
    trigram = np.full((vocab, vocab, vocab), alpha)
    np.add.at(trigram, (tokens[:, :-2], tokens[:, 1:-1], tokens[:, 2:]), 1)
    bigram = np.full((vocab, vocab), alpha)
    np.add.at(bigram, (tokens[:, :-1], tokens[:, 1:]), 1)
    log_tri = np.log(trigram / trigram.sum(-1, keepdims=True))
    log_bi = np.log(bigram / bigram.sum(-1, keepdims=True))

    def log_probs(inputs: np.ndarray) -> np.ndarray:
        out = np.empty(inputs.shape + (vocab,))
        out[:, 0] = log_bi[inputs[:, 0]]
        out[:, 1:] = log_tri[inputs[:, :-1], inputs[:, 1:]]
        return out

    return log_probs


def test_synthetic_corpus_through_load_corpus_is_cached_and_deterministic(tmp_path):
    options = dict(vocab_size=32, train_tokens=20_000, val_tokens=4_096, train_chains=8)
    first = load_corpus("synthetic", seed=3, cache_dir=tmp_path, **options)
    again = load_corpus("synthetic:vocab=32", "none", seed=3, cache_dir=tmp_path,
                        train_tokens=20_000, val_tokens=4_096, train_chains=8)
    other = load_corpus("synthetic", seed=4, cache_dir=tmp_path, **options)
    assert first.vocab_size == 32 and first.tokenizer == "none"
    assert first.train_tokens == 20_000 and first.val_tokens == 4_096
    assert first.meta["cache_path"] == again.meta["cache_path"]
    np.testing.assert_array_equal(first.train, again.train)
    assert not np.array_equal(first.train, other.train)
    assert first.meta["entropy_rate"] == pytest.approx(first.meta["language"].entropy_rate())
    assert first.train_bytes is None and np.isnan(first.bits_per_byte(1.0))
    # the name reloads the same language
    named = load_corpus(first.name, seed=3, cache_dir=tmp_path, train_tokens=20_000,
                        val_tokens=4_096, train_chains=8)
    np.testing.assert_array_equal(named.val, first.val)


@pytest.mark.parametrize("options, message", [
    ({"vocab_size": 1}, "vocab_size"),
    ({"vocab_size": 4096, "order": 2}, "too large"),
    ({"lag_scales": "1/2/3"}, "lag_scales"),
    ({"zipf": "abc"}, "zipf_exponent"),
    ({"temperature": 2}, "unknown synthetic option"),
])
def test_bad_synthetic_options_give_one_line_errors(tmp_path, options, message):
    with pytest.raises(ScalingLabError, match=message) as info:
        load_corpus("synthetic", cache_dir=tmp_path, train_tokens=100, **options)
    assert "\n" not in str(info.value)


def test_synthetic_rejects_a_text_tokenizer(tmp_path):
    with pytest.raises(ScalingLabError, match="own tokens"):
        load_corpus("synthetic", "bpe:512", cache_dir=tmp_path)
