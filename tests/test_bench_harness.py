"""The benchmark harness behind ``dropnet bench``: the report's arithmetic and files, the
command line's checks, and one small end-to-end run through the worker processes."""

import io
import json
import os
from pathlib import Path

import pytest

from dropnet.__main__ import main as cli_main
from dropnet.bench import main as bench_main
from dropnet.bench.progress import Progress
from dropnet.bench.report import markdown_table, write_report
from dropnet.bench.run import Plan
from dropnet.bench.workloads import REGISTRY, get_workload
from dropnet.bench.workloads.base import Headline, Options

CONTEXT = {
    "timestamp": "2026-01-01T00:00:00",
    "machine": {
        "cpu_model": "Test CPU",
        "logical_cores": 2,
        "physical_cores": 2,
        "cpu_flags": ["avx2"],
        "python": "3.11",
        "platform": "linux",
    },
    "versions": {"dropnet": "0.1.0", "torch": "2.0"},
    "dropnet_build": {},
    "git": {},
}
OPTIONS = {"repeats": 5, "quick": False, "elapsed_seconds": 12.0}


def test_advantage_is_peer_over_dropnet_for_times_and_the_reverse_for_rates():
    time_row = Headline("w", "m", "ms", False, 2, {"dropnet": 2.0, "torch": 50.0})
    rate_row = Headline("w", "m", "GB/s", True, 2, {"dropnet": 10.0, "torch": 4.0})
    assert time_row.advantage("torch") == pytest.approx(25.0)
    assert rate_row.advantage("torch") == pytest.approx(2.5)
    assert time_row.advantage("keras") is None


def test_markdown_table_lists_every_framework_ratio_target_and_verdict():
    rows = [
        Headline(
            "circles",
            "model A",
            "ms/epoch",
            False,
            2,
            {"dropnet": 0.05, "keras": 150.0, "torch": 1.5},
            accuracy={"dropnet": "80.0%"},
            target=">= 20x PyTorch",
            met=True,
        ),
        Headline(
            "dropout",
            "fwd+bwd",
            "GB/s",
            True,
            2,
            {"dropnet": 13.0},
            fraction=0.62,
            fraction_of="copy bandwidth",
            target=">= 60%",
            met=False,
        ),
    ]
    table = markdown_table(rows)
    header = table.splitlines()[0]
    assert "Keras" in header and "PyTorch" in header and "dropnet vs PyTorch" in header
    assert "30.00×" in table and "3000.00×" in table
    assert "62% of copy bandwidth" in table and "**no**" in table and "| yes |" in table


def test_write_report_writes_markdown_json_and_chart(tmp_path):
    rows = [
        Headline("circles", "model A", "ms/epoch", False, 2, {"dropnet": 0.05, "torch": 1.5}),
        Headline(
            "gemm",
            "n=1024",
            "GFLOP/s",
            True,
            2,
            {"dropnet": 140.0, "torch": 170.0},
            fraction=140 / 170,
            fraction_of="best peer",
        ),
    ]
    paths = write_report(rows, [], CONTEXT, OPTIONS, str(tmp_path / "report"))
    assert set(paths) == {"md", "json", "png"}
    text = Path(paths["md"]).read_text(encoding="utf-8")
    assert "Test CPU, 2 logical cores" in text and "torch 2.0" in text and "5 repeats" in text
    doc = json.loads(Path(paths["json"]).read_text(encoding="utf-8"))
    assert doc["headlines"][1]["fraction"] == pytest.approx(140 / 170)
    assert os.path.getsize(paths["png"]) > 10_000


def test_progress_without_a_terminal_prints_one_line_per_run():
    stream = io.StringIO()
    progress = Progress(3, stream=stream)
    progress.show("first")
    progress.advance("run one")
    progress.advance("run two")
    assert stream.getvalue().splitlines() == ["run one  [1/3]", "run two  [2/3]"]


@pytest.mark.parametrize(
    "argv",
    [["--repeats", "2"], ["--only", "nosuch"], ["--sonar-csv", "/no/such/file.csv"], ["--bogus"]],
)
def test_bad_command_lines_exit_with_a_message(argv, capsys):
    with pytest.raises(SystemExit) as info:
        bench_main(argv)
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "error:" in err
    if "--sonar-csv" in argv:
        assert "UCI" in err


def test_missing_sonar_data_skips_the_workload_and_says_where_it_comes_from(monkeypatch):
    monkeypatch.setenv("DROPNET_SONAR_CSV", "/no/such/sonar.csv")
    plan = Plan(get_workload("sonar"), Options(3, True, None, {}, 1), None)
    assert plan.skipped and all("UCI" in why for why in plan.skipped.values())


def test_every_workload_plans_jobs_for_dropnet():
    opts = Options(repeats=3, quick=True, threads=(1,), epochs={}, seed=1)
    for name, workload in REGISTRY.items():
        jobs = workload.plan(opts, ["dropnet"], (1,))
        assert jobs and all(j.framework == "dropnet" for j in jobs), name


def test_batchnorm_workload_times_the_mlp_with_and_without_bn():
    from dropnet.bench.run import summarize

    workload = get_workload("batchnorm")
    result = workload.run("dropnet", 1, {"samples": 512, "epochs": 2, "seed": 0})
    cases = {r["case"]: r for r in result["records"]}
    assert set(cases) == {"BN MLP", "plain MLP"}
    assert all(r["seconds"] > 0 and 0 <= r["final_acc"] <= 1 for r in cases.values())
    runs = [{**result, "framework": "dropnet", "threads": 1, "repeat": i} for i in range(3)]
    summary = summarize(workload, runs)
    text, details = workload.extra_report(summary, runs)
    (row,) = workload.headlines(summary, details, runs)  # one row: the MLP with BN
    assert row.unit == "samples/s" and row.higher_is_better and row.values["dropnet"] > 0
    assert "time with BN over time without: dropnet" in row.note and "plain MLP" in text
    with pytest.raises(ValueError, match="at least 2 epochs"):
        workload.run("dropnet", 1, {"samples": 512, "epochs": 1})


def test_dropnet_bench_runs_end_to_end_and_writes_the_report(tmp_path, capsys):
    code = cli_main(
        [
            "bench",
            "--only",
            "overhead,dropout",
            "--quick",
            "--frameworks",
            "dropnet",
            "--threads",
            "1",
            "--no-progress",
            "--out",
            str(tmp_path),
        ]
    )
    assert code == 0
    out = capsys.readouterr().out
    assert "# dropnet benchmark report" in out
    reports = sorted(tmp_path.glob("report-*.json"))
    assert len(reports) == 1
    doc = json.loads(reports[0].read_text(encoding="utf-8"))
    measures = {h["measure"]: h for h in doc["headlines"]}
    step = measures["fit, batch 1"]
    assert step["values"]["dropnet"] > 0 and step["target"]
    dropout = measures["dropout fwd+bwd, 64 MiB"]
    assert 0 < dropout["fraction"] < 10
    assert (tmp_path / reports[0].name.replace(".json", ".md")).exists()
    per_workload = json.loads(next(tmp_path.glob("overhead-*.json")).read_text(encoding="utf-8"))
    assert len(per_workload["runs"]) == 3 and not per_workload["errors"]
    # The saved per-workload files rebuild the same report without running anything.
    saved = [p for p in tmp_path.glob("*.json") if not p.name.startswith("report-")]
    rebuilt = tmp_path / "rebuilt"
    assert bench_main(["--report-from", *map(str, saved), "--out", str(rebuilt)]) == 0
    again = json.loads(next(rebuilt.glob("report-*.json")).read_text(encoding="utf-8"))
    rows = {h["measure"]: h["values"] for h in doc["headlines"]}
    assert {h["measure"]: h["values"] for h in again["headlines"]} == rows


def test_report_from_rejects_files_that_are_not_results(tmp_path, capsys):
    bogus = tmp_path / "x.json"
    bogus.write_text("{}", encoding="utf-8")
    with pytest.raises(SystemExit):
        bench_main(["--report-from", str(bogus), "--out", str(tmp_path)])
    assert "not a per-workload result file" in capsys.readouterr().err


def test_text_workload_trains_the_case_studys_model_and_reports_ratios():
    from dropnet.bench.run import summarize
    from dropnet.bench.workloads.lstm import FUSED_CASE

    workload = get_workload("text")
    jobs = workload.plan(Options(3, True, (1,), {}, 1), ["dropnet", "torch"], (1,))
    assert [j.params for j in jobs] == [{"sentences": 600, "epochs": 2}] * 2
    out = workload.run("dropnet", 1, {"sentences": 200, "epochs": 2, "seed": 1})
    (record,) = out["records"]
    assert record["case"] == "train" and record["sequences"] == 200
    assert record["sequences_per_second"] > 0 and 0 < record["final_acc"] <= 1
    # the report, from this run and a made-up PyTorch one 4x (step loop) and 2x (fused) slower
    torch_records = [
        dict(record, seconds=4 * record["seconds"]),
        dict(record, case=FUSED_CASE, seconds=2 * record["seconds"]),
    ]
    runs = [
        {"framework": "dropnet", "threads": 1, "records": out["records"]},
        {"framework": "torch", "threads": 1, "records": torch_records},
    ]
    summary = summarize(workload, runs)
    text, details = workload.extra_report(summary, runs)
    assert "Keras (same model) = not measured" in text
    assert "PyTorch step loop with the same masks = 4.00x" in text
    assert "PyTorch fused nn.LSTM without recurrent dropout = 2.00x" in text
    assert "200 x 2" in text and "sentences/s" in text
    (row,) = workload.headlines(summary, details, runs)
    assert row.unit == "sentences/s" and row.advantage("torch") == pytest.approx(4.0)
    assert "= 2.00x" in row.note and not row.target
