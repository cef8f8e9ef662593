"""The lecture's moments: every exercise-1 node, derivation, exercise and
chapter links to the right place of the video, in the lecture's order."""
from __future__ import annotations

import re

import pytest

from backprop_ninja.model import moments as m
from backprop_ninja.model.derivations import BY_ID
from backprop_ninja.model.graph import BACKWARD_ORDER, branches, consumers
from backprop_ninja.model.texts import FUSED_GROUPS

# The order in which the lecture writes the exercise-1 gradients (first
# branch of a node used twice), as watched; it differs from BACKWARD_ORDER
# where one line yields two gradients (dlogits before dlogit_maxes, dbnraw
# before dbnbias, dbndiff before dbnvar_inv, dhprebn before dbnmeani).
LECTURE_ORDER = (
    "logprobs", "probs", "counts_sum_inv", "counts", "counts_sum", "norm_logits", "logits",
    "logit_maxes", "h", "W2", "b2", "hpreact", "bngain", "bnraw", "bnbias", "bndiff", "bnvar_inv",
    "bnvar", "bndiff2", "hprebn", "bnmeani", "embcat", "W1", "b1", "emb", "C",
)
# The video's chapter list, as in the lecture notes.
CHAPTER_CLOCKS = ("0:00:00", "0:07:26", "0:13:01", "1:05:17", "1:26:31", "1:36:37", "1:50:02", "1:54:24")


def every_moment() -> list[m.Moment]:
    return [*m.CHAPTERS, *m.EXERCISE.values(), m.BESSEL, *m.NODE.values(), *m.SECOND_BRANCH.values(),
            *m.FUSED.values(), *m.DERIVATION.values(), *m.TOPIC.values()]


def test_every_exercise_1_node_has_a_moment_and_only_those():
    # The lecture starts at dlogprobs; it never writes dloss.
    assert set(m.NODE) == set(BACKWARD_ORDER) - {"loss"}
    assert sorted(LECTURE_ORDER) == sorted(m.NODE)


def test_node_moments_lie_inside_exercise_1():
    start, end = m.EXERCISE[1].seconds, m.EXERCISE[2].seconds
    for name, moment in {**m.NODE, **{f"{k} (2nd)": v for k, v in m.SECOND_BRANCH.items()}}.items():
        assert start <= moment.seconds < end, (name, moment.clock())
        assert moment.label.startswith("exercise 1: "), name


def test_node_moments_follow_the_lecture_order():
    times = [m.NODE[name].seconds for name in LECTURE_ORDER]
    assert times == sorted(times), [(n, m.NODE[n].clock()) for n in LECTURE_ORDER]


def test_a_gradient_comes_after_a_gradient_it_is_made_from():
    # d<node> is built from the gradient of a node that uses it, so the lecture
    # must have reached one of its consumers first; a node's second branch comes
    # after every consumer.
    for name, moment in m.NODE.items():
        before = [m.NODE[c].seconds for c in consumers(name) if c in m.NODE]
        if before:
            assert moment.seconds > min(before), name
    assert set(m.SECOND_BRANCH) == {n for n in m.NODE if branches(n) == 2}
    for name, moment in m.SECOND_BRANCH.items():
        assert moment.seconds > m.NODE[name].seconds, name
        assert moment.seconds > max(m.NODE[c].seconds for c in consumers(name)), name


def test_bessel_digression_sits_inside_exercise_1_before_the_bnvar_line():
    # The lecture pauses for Bessel's correction right after dbnvar and before
    # backpropagating through bnvar = bndiff2.sum(0) / (n - 1).
    assert m.NODE["bnvar"].seconds < m.BESSEL.seconds < m.NODE["bndiff2"].seconds
    assert m.EXERCISE[1].seconds < m.BESSEL.seconds < m.EXERCISE[2].seconds


def test_chapters_are_the_videos_chapter_list():
    assert tuple(c.clock() for c in m.CHAPTERS) == CHAPTER_CLOCKS
    assert [c.seconds for c in m.CHAPTERS] == [0, 446, 781, 3917, 5191, 5797, 6602, 6864]
    assert [m.EXERCISE[k].clock() for k in (1, 2, 3, 4)] == ["0:13:01", "1:26:31", "1:36:37", "1:50:02"]
    assert m.BESSEL.clock() == "1:05:17"
    assert all(c in m.CHAPTERS for c in (*m.EXERCISE.values(), m.BESSEL))


def test_every_derivation_links_to_where_the_lecture_does_it():
    assert set(m.DERIVATION) == set(BY_ID)
    d, node, ex = m.DERIVATION, m.NODE, m.EXERCISE
    assert node["h"].seconds < d["matmul"].seconds < node["W2"].seconds  # the 2x2 example, before dW2
    assert node["hpreact"].seconds <= d["tanh"].seconds < node["bngain"].seconds
    assert node["C"].seconds <= d["embedding"].seconds < ex[2].seconds
    assert ex[2].seconds < d["cross_entropy"].seconds < ex[3].seconds
    assert ex[3].seconds < d["batchnorm"].seconds < ex[4].seconds


def test_fused_groups_link_to_their_exercise():
    assert set(m.FUSED) == {g.output for g in FUSED_GROUPS}
    assert m.FUSED["logits"].seconds == m.EXERCISE[2].seconds
    assert m.FUSED["hprebn"].seconds == m.EXERCISE[3].seconds


@pytest.mark.parametrize("moment", every_moment(), ids=lambda mo: f"{mo.clock()} {mo.label[:30]}")
def test_url_form_and_range(moment):
    assert re.fullmatch(r"https://www\.youtube\.com/watch\?v=q8SA3rM6ckI&t=\d+s", moment.url())
    assert moment.url().endswith(f"&t={moment.seconds}s")
    assert isinstance(moment.seconds, int) and 0 <= moment.seconds < m.VIDEO_SECONDS
    assert moment.label.strip() and "{" not in moment.label


def test_labels_name_their_node():
    for name, moment in {**m.NODE, **m.SECOND_BRANCH}.items():
        assert f"d{name}" in moment.label, (name, moment.label)
