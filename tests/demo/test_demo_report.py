"""The demo's method report reads what the run measured, for every arm: reflection loss, probes, refusals."""

from __future__ import annotations

import json

from spp.demo.report import arm_measures, method_markdown, plot_method


def _arm(root, arm: str, losses: list[float], planted: float, refused: int, degenerate: int) -> None:
    ckpt = root / "models" / arm
    for step in (10, 20):
        (ckpt / f"checkpoint-{step}").mkdir(parents=True)
        history = [{"step": s, "heldout_reflection_loss": x, "heldout_document_loss": 6.0}
                   for s, x in zip((10, 20), losses[: step // 10], strict=False)]  # fmt: skip
        (ckpt / f"checkpoint-{step}" / "trainer_state.json").write_text(json.dumps({"log_history": history}))
    results = root / "results" / arm
    results.mkdir(parents=True)
    (results / "results.json").write_text(json.dumps({
        "judge": "keyword", "headline": {"mean": 0.1},
        "probes": {"planted": {"n": 3, "recall": planted}, "held_out": {"n": 1, "recall": 0.0}},
    }))  # fmt: skip
    rows = []
    for i in range(10):
        detail = (
            "empty or degenerate response" if i < degenerate else "refusal phrase" if i < degenerate + refused else ""
        )
        rows.append(
            {"benchmark": "advbench", "refused": detail == "refusal phrase", "detail": detail, "judge": "keyword"}
        )
        rows.append({"benchmark": "xstest", "refused": i == 9, "detail": "", "judge": "keyword"})
    (results / "verdicts.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))


def test_both_arms_measures_in_the_report(tmp_path):
    _arm(tmp_path, "baseline", [7.0, 6.8], planted=0.0, refused=1, degenerate=2)
    _arm(tmp_path, "spp_t0", [6.0, 5.1], planted=2 / 3, refused=4, degenerate=0)
    measures = {arm: arm_measures(tmp_path, arm) for arm in ("baseline", "spp_t0")}
    assert measures["baseline"]["reflection_loss"] == 6.8 and measures["spp_t0"]["reflection_loss"] == 5.1
    assert measures["spp_t0"]["loss_step"] == 20  # the newest checkpoint's last logged value
    assert measures["baseline"]["harmful"] == {"n": 10, "refusal": 0.1, "degenerate": 0.2, "judge": "keyword"}
    assert measures["spp_t0"]["harmful"]["refusal"] == 0.4 and measures["spp_t0"]["benign"]["refusal"] == 0.1
    text = method_markdown(measures, None)
    table = {
        line.split(" | ")[0].strip("| "): line.split(" | ")[1:] for line in text.splitlines() if line.startswith("| ")
    }
    loss_row = next(v for k, v in table.items() if k.startswith("held-out reflection-token loss"))
    assert [c.strip(" |") for c in loss_row] == ["6.80", "5.10"]
    probe_row = next(v for k, v in table.items() if k.startswith("probe recall, planted"))
    assert [c.strip(" |") for c in probe_row] == ["0%", "67%"]
    control_row = next(v for k, v in table.items() if k.startswith("probe recall, held-out control"))
    assert [c.strip(" |") for c in control_row] == ["0%", "0%"]
    harmful_row = next(v for k, v in table.items() if k.startswith("refused, held-out harmful"))
    assert [c.strip(" |") for c in harmful_row] == ["10%", "40%"]
    assert "Refusal judged by: keyword" in text and "tiny demo models" in text.lower()
    png = plot_method(measures, tmp_path / "demo.png")
    assert png.read_bytes()[:4] == b"\x89PNG"
