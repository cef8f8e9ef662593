"""Hints, answers and the lines around the editor, as the page gets them:
GET .../derive/{mode}/{node}/hints/{level}, .../answer, .../derive/{mode},
and the texts and lecture moments of GET /api/graph."""
from __future__ import annotations

import re

import pytest

from backprop_ninja.model import derive, moments
from backprop_ninja.model.graph import BY_NAME
from backprop_ninja.model.mlp import FUSED_ORDER

WORDS = "\n".join(["anna", "bob", "zoe", "kai", "lena", "max", "nora", "omar", "pia", "quin", "rosa", "ugo"])
ODD = {"n_hidden": 11, "batch_size": 9, "n_embd": 5, "block_size": 4}
PLACEHOLDER = re.compile(r"\{[a-z_]*\}")
MODES = {"atomic": derive.ORDER["atomic"], "fused": FUSED_ORDER}


@pytest.fixture(scope="module", params=[("lecture", "float32"), ("odd", "float64")], ids=["lecture-f32", "odd-f64"])
def session(client, request):
    """(session id, its config, its vocabulary size) for the lecture's sizes and for odd ones on another word list."""
    size, dtype = request.param
    cfg, vocab = {"dtype": dtype}, 27
    if size == "odd":
        ds = client.post("/api/datasets", content=WORDS.encode(), headers={"content-type": "text/plain"}).json()
        cfg.update(ODD, dataset=ds["id"])
        vocab = len(ds["vocab"])
    r = client.post("/api/sessions", json=cfg)
    assert r.status_code == 201, r.text
    yield r.json()["id"], cfg, vocab
    client.delete(f"/api/sessions/{r.json()['id']}")


def get(client, url):
    r = client.get(url)
    assert r.status_code == 200, (url, r.text)
    return r.json()


def squeeze(code: str) -> str:
    return re.sub(r"\s+", "", code)


def test_every_text_is_filled_and_no_hint_is_the_answer(client, session):
    sid, cfg, _ = session
    for mode, order in MODES.items():
        for node in order:
            answer = get(client, f"/api/sessions/{sid}/derive/{mode}/{node}/answer")
            code = answer["code"] + "\n" + (answer["alternative"] or "")
            assert not PLACEHOLDER.search(code), (mode, node)
            lines = [squeeze(ln) for ln in code.splitlines() if ln.strip()]
            rhs = [squeeze(m.group(1)) for m in re.finditer(r"^\s*d\w*(?:\[[^\]]*\])?\s*[-+*/]?=\s*(.+)$", code, re.M)]
            rhs = [r for r in rhs if len(r) >= 3 and not re.fullmatch(r"\w+", r)]
            for level in (1, 2, 3):
                text = get(client, f"/api/sessions/{sid}/derive/{mode}/{node}/hints/{level}")["text"]
                assert text and not PLACEHOLDER.search(text) and "{" not in text, (mode, node, level, text)
                said = squeeze(text)
                assert not [x for x in lines + rhs if x in said], (mode, node, level, text)
                assert not re.search(rf"\bd{node}\s*(\[[^\]]*\])?\s*[-+*/]?=\s*\S", text), (mode, node, level, text)
    g = get(client, "/api/graph?" + "&".join(f"{k}={v}" for k, v in cfg.items()))
    for n in g["nodes"]:
        for view, t in n["views"].items():
            for field in (t["used_by"], t["made_by"], t["backward"], t["rounding"], *t["explain"]):
                assert not PLACEHOLDER.search(field), (view, n["name"], field)


def test_hints_follow_the_session_sizes_and_dtype(client, session):
    sid, cfg, vocab = session
    shape = get(client, f"/api/sessions/{sid}/derive/atomic/logits/hints/1")["text"]
    rule = get(client, f"/api/sessions/{sid}/derive/atomic/logit_maxes/hints/3")["text"]
    if cfg["dtype"] == "float64":
        assert f"(9, {vocab})" in shape and vocab != 27 and "float64" in rule and "~1e-17" in rule
    else:
        assert "(32, 27)" in shape and "float32" in rule and "~1e-9" in rule
    assert "n, vocab" in shape


def test_hints_teach_where_the_node_is_used_and_its_local_derivative(client, sid):
    hint = lambda node, level, mode="atomic": get(  # noqa: E731
        client, f"/api/sessions/{sid}/derive/{mode}/{node}/hints/{level}")["text"]
    assert "`loss = -logprobs[range(n), Yb].mean()`" in hint("logprobs", 2) and "dloss" in hint("logprobs", 2)
    assert "d/dx log x = 1/x" in hint("probs", 3) and "arriving from logprobs" in hint("probs", 3)
    two = hint("counts", 2)
    assert "twice" in two and "probs = counts * counts_sum_inv" in two and "counts_sum = counts.sum(1" in two
    assert "dprobs" in two and "dcounts_sum" in two and "add" in two
    for node in ("h", "W2", "embcat", "W1"):
        assert "Which product" in hint(node, 3) and " @ " not in hint(node, 3), node
    assert "nothing upstream of the loss" not in hint("logits", 2, "fused")
    assert "F.cross_entropy(logits, Yb)" in hint("logits", 2, "fused")
    assert "three ways" in hint("hprebn", 3, "fused") and "n*dhpreact" not in hint("hprebn", 3, "fused")
    assert client.get(f"/api/sessions/{sid}/derive/atomic/counts/hints/4").status_code == 422
    r = client.get(f"/api/sessions/{sid}/derive/atomic/Xb/hints/1")
    assert r.status_code == 422 and "nodes are" in r.json()["detail"]


def test_the_answer_is_the_lecture_s_and_the_alternative_is_labelled(client, sid):
    for mode in MODES:
        ans = get(client, f"/api/sessions/{sid}/derive/{mode}/C/answer")
        assert ans["code"] == derive.DC_LOOP and "dC[ix] += demb[k, j]" in ans["code"]
        assert "index_add_" in ans["alternative"] and "viewers of the lecture proposed" in ans["alternative_label"]
        assert "idea" not in ans
    h = get(client, f"/api/sessions/{sid}/derive/atomic/h/answer")
    assert h["alternative"] is None and h["alternative_label"] is None
    assert get(client, f"/api/sessions/{sid}/derive/fused/hpreact/answer")["code"] == "dhpreact = (1.0 - h**2) * dh"
    assert get(client, f"/api/sessions/{sid}/derive/atomic/bnmeani/answer")["code"] == "dbnmeani = (-dbndiff).sum(0)"


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_the_alternative_and_the_loop_are_both_correct(client, dtype):
    sid = client.post("/api/sessions", json={"dtype": dtype}).json()["id"]
    client.post(f"/api/sessions/{sid}/forward")
    ans = get(client, f"/api/sessions/{sid}/derive/atomic/C/answer")
    for code in (ans["code"], ans["alternative"]):
        r = client.post(f"/api/sessions/{sid}/attempts", json={"node": "C", "code": code, "mode": "atomic"})
        assert r.status_code == 200 and r.json()["verdict"] == "correct", r.text
    client.delete(f"/api/sessions/{sid}")


def test_the_lines_around_the_editor(client, sid):
    over = {n["node"]: n for n in get(client, f"/api/sessions/{sid}/derive/atomic")["nodes"]}
    fwd = lambda name: BY_NAME[name].forward  # noqa: E731
    assert over["logprobs"]["used_in"] == [fwd("loss")] and over["logprobs"]["made_by"] == fwd("logprobs")
    assert over["h"]["used_in"] == [fwd("logits")] and over["h"]["made_by"] == "h = torch.tanh(hpreact)"
    assert over["probs"]["used_in"] == [fwd("logprobs")]
    assert over["counts"]["used_in"] == [fwd("probs"), fwd("counts_sum")]
    assert over["loss"]["used_in"] == [] and over["loss"]["made_by"] == fwd("loss")
    fused = {n["node"]: n for n in get(client, f"/api/sessions/{sid}/derive/fused")["nodes"]}
    assert fused["logits"]["used_in"] == ["loss = F.cross_entropy(logits, Yb)"]
    assert any(line.startswith("bnmeani = hprebn.mean") for line in fused["hprebn"]["used_in"])
    g = {n["name"]: n for n in get(client, "/api/graph")["nodes"]}
    for view in ("atomic", "lecture"):
        t = g["counts"]["views"][view]
        assert t["used_by"] == fwd("probs") + "\n" + fwd("counts_sum") and t["made_by"] == fwd("counts")
        assert g["logprobs"]["views"][view]["used_by"] == fwd("loss")
        assert g["C"]["views"][view]["backward"] == derive.DC_LOOP
    assert g["hpreact"]["views"]["fused"]["backward"] == "dhpreact = (1.0 - h**2) * dh"


def test_every_node_derivation_and_exercise_links_its_moment(client):
    g = get(client, "/api/graph")
    url = lambda seconds: f"{moments.VIDEO}&t={seconds}s"  # noqa: E731
    chapters = {c["seconds"]: c for c in g["chapters"]}
    for clock in ((0, 13, 1), (1, 5, 17), (1, 26, 31), (1, 36, 37), (1, 50, 2)):
        seconds = clock[0] * 3600 + clock[1] * 60 + clock[2]
        assert chapters[seconds]["url"] == url(seconds)
    nodes = {n["name"]: n for n in g["nodes"]}
    for name in derive.ORDER["atomic"]:
        if name != "loss":  # the lecture starts at dlogprobs
            m = nodes[name]["moment"]
            assert 13 * 60 + 1 <= m["seconds"] < 5191 and m["url"] == url(m["seconds"]) and m["label"], name
    assert nodes["Xb"]["moment"] is None and nodes["loss"]["moment"] is None
    groups = {x["output"]: x["moment"]["seconds"] for x in g["fused_groups"]}
    assert groups == {"logits": 5191, "hprebn": 5797}
    assert all(d["moment"] and d["moment"]["url"] == url(d["moment"]["seconds"]) for d in g["derivations"])
