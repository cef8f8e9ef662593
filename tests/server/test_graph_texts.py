"""The registry's texts, fused groups, derivations and the lecture's tape,
as the pages get them: through /api/graph and the stepping routes."""
from __future__ import annotations

import xml.etree.ElementTree as ET

from backprop_ninja.server.schemas.graph import GraphPublic

WORDS = "\n".join(["anna", "bob", "zoe", "kai", "lena", "max", "nora", "omar", "pia", "quin", "rosa", "ugo"])


def test_texts_follow_the_config_and_dtype(client):
    d = client.post("/api/datasets", content=WORDS.encode(), headers={"content-type": "text/plain"}).json()
    vocab = len(d["vocab"])
    g = GraphPublic.model_validate(client.get("/api/graph", params={
        "dataset": d["id"], "n_hidden": 11, "batch_size": 9, "dtype": "float64"}).json())
    nodes = {n.name: n for n in g.nodes}
    assert f"(11,{vocab})" in nodes["W2"].explain and "27" not in nodes["W2"].explain
    assert f"all {vocab} logits" in " ".join(nodes["logit_maxes"].views["atomic"].explain)
    assert "float64" in g.float_note and "Switch dtype" not in g.float_note
    assert "Switch dtype to float64" in client.get("/api/graph").json()["float_note"]
    # the code order of the two parts, and the consumer's forward line beside the rule
    assert nodes["counts"].consumers == ["probs", "counts_sum"]
    assert nodes["emb"].views["atomic"].used_by == nodes["embcat"].forward
    # fused view: exercise 2 and 3 at logits and hprebn, and the two groups
    assert "softmax" in nodes["logits"].views["fused"].backward
    assert "n*dhpreact" in nodes["hprebn"].views["fused"].backward
    assert nodes["logits"].views["lecture"] == nodes["logits"].views["atomic"]
    groups = {x.name: x for x in g.fused_groups}
    assert groups["cross_entropy"].output == "logits" and groups["batchnorm"].members[-1] == "bnraw"
    assert groups["batchnorm"].shape == [9, 11]


def test_derivations_arrive_as_mathml(client):
    g = GraphPublic.model_validate(client.get("/api/graph").json())
    by_id = {d.id: d for d in g.derivations}
    assert set(by_id) == {"matmul", "cross_entropy", "batchnorm", "tanh", "embedding"}
    nodes = {n.name: n for n in g.nodes}
    assert nodes["hprebn"].derivation == "batchnorm" and nodes["C"].derivation == "embedding"
    for d in g.derivations:
        assert len(d.steps) >= 4
        for step in d.steps:
            if step.math:
                root = ET.fromstring(step.math)  # well-formed MathML
                assert root.tag == "{http://www.w3.org/1998/Math/MathML}math"
                assert "merror" not in step.math


def test_lecture_order_flags_the_half_finished_gradient(client, sid):
    g = client.get("/api/graph").json()
    assert g["lecture_order"][4] == {"node": "counts", "branch": "probs"}
    client.post(f"/api/sessions/{sid}/forward")
    r = client.post(f"/api/sessions/{sid}/backward", json={"mode": "lecture", "nodes": 5}).json()
    assert r["mode"] == "lecture" and r["computed"][-1] == "counts" and r["remaining"][:2] == ["counts_sum", "counts"]
    assert r["checks"]["counts"]["approx"] is False  # half finished: cmp says so
    r = client.post(f"/api/sessions/{sid}/backward", json={"mode": "lecture", "nodes": 2}).json()
    assert r["checks"]["counts"]["approx"] is True and "counts" not in r["remaining"]
    t = client.get(f"/api/sessions/{sid}/tensors/counts").json()
    assert set(t["contributions"]) == {"probs", "counts_sum"}


def test_switching_views_keeps_the_place(client, sid):
    client.post(f"/api/sessions/{sid}/forward")
    client.post(f"/api/sessions/{sid}/backward", json={"mode": "atomic", "nodes": 12})
    r = client.post(f"/api/sessions/{sid}/backward", json={"mode": "fused", "nodes": 0}).json()
    assert r["computed"] == ["logits", "h", "W2", "b2"]
    r = client.post(f"/api/sessions/{sid}/backward", json={"mode": "atomic", "nodes": 0}).json()
    assert len(r["computed"]) == 12


def test_derivations_answer_the_viewers_questions(client):
    steps = {d["id"]: " ".join(s["text"] for s in d["steps"]) for d in client.get("/api/graph").json()["derivations"]}
    assert "Case i = y" in steps["cross_entropy"] and "Case i ≠ y" in steps["cross_entropy"]
    assert "where the e^(lᵢ) comes from" in steps["cross_entropy"] and "log f − log g" in steps["cross_entropy"]
    assert "fan-out" in steps["batchnorm"] and "rename" in steps["batchnorm"] and "vanishes" in steps["batchnorm"]
    assert "not a series or an approximation" in steps["tanh"]
    assert "index_add_" in steps["embedding"] and "2×2" in steps["matmul"]
