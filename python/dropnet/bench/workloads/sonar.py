"""Workload "sonar": the Sonar tutorial's cross-validation, three MLP configurations ×
10 stratified folds × 300 epochs (batch 16, SGD with momentum, binary cross-entropy,
StandardScaler fitted per training fold), on the same folds in every framework.

dropnet runs the case study's own code (a scikit-learn Pipeline around
SequentialClassifier, scored by cross_val_score); PyTorch and Keras run the equivalent
fold loop by hand. Keras runs one fold of the ten by default (all 300 epochs); its time
for the full work is projected linearly from the folds it ran, and marked as projected.
"""

from __future__ import annotations

import os
import statistics
import time
from typing import Any, Callable

import numpy as np

from .base import (
    FrameworkMissing,
    Headline,
    Job,
    Metric,
    Options,
    Workload,
    accuracy_by_framework,
    default_headlines,
    first_in_process,
    pick_epochs,
)

FOLDS = 10
FULL_EPOCHS = 300
BATCH = 16
DEFAULT_EPOCHS = {"dropnet": FULL_EPOCHS, "torch": FULL_EPOCHS, "keras": FULL_EPOCHS}
DEFAULT_FOLDS = {"dropnet": FOLDS, "torch": FOLDS, "keras": 1}
QUICK_EPOCHS = {"dropnet": 30, "torch": 10, "keras": 3}
QUICK_FOLDS = {"dropnet": FOLDS, "torch": 2, "keras": 1}
# name -> (input dropout, hidden dropout, MaxNorm(3) kernels, learning rate, momentum)
CONFIGS = {
    "baseline": (0.0, 0.0, False, 0.01, 0.8),
    "visible": (0.2, 0.0, True, 0.1, 0.9),
    "hidden": (0.0, 0.2, True, 0.1, 0.9),
}
MAX_NORM = 3.0
TARGET_TOTAL_SECONDS = 3.0  # dropnet: all three configurations, 10 folds x 300 epochs
DATA_ENV = "DROPNET_SONAR_CSV"


def data_path() -> str:
    """The Sonar CSV: $DROPNET_SONAR_CSV (set by ``--sonar-csv``), else the bundled copy."""
    from dropnet.datasets import SONAR_FILE

    return os.environ.get(DATA_ENV) or SONAR_FILE


def load_data():
    from dropnet.datasets import load_sonar  # clear message naming the UCI data if missing

    return load_sonar(data_path())


def folds_of(y: np.ndarray, seed: int, count: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """The first ``count`` of the tutorial's StratifiedKFold(10, shuffle=True) splits."""
    from sklearn.model_selection import StratifiedKFold

    splits = StratifiedKFold(n_splits=FOLDS, shuffle=True, random_state=seed).split(
        np.zeros(len(y)), y
    )
    return list(splits)[:count]


def scaled(x: np.ndarray, train: np.ndarray, test: np.ndarray):
    from sklearn.preprocessing import StandardScaler

    scaler = StandardScaler().fit(x[train])
    return (
        scaler.transform(x[train]).astype(np.float32),
        scaler.transform(x[test]).astype(np.float32),
    )


# ----------------------------------------------------------------------------- dropnet


def cv_dropnet(config: str, epochs: int, folds: int, seed: int, threads: int) -> dict[str, Any]:
    try:
        import dropnet
        from dropnet.case_studies import sonar
    except ImportError as exc:
        raise FrameworkMissing(f"dropnet: {exc}") from exc
    from sklearn.model_selection import cross_val_score

    dropnet.set_num_threads(threads)
    x, y = load_data()
    build = {
        "baseline": sonar.create_baseline,
        "visible": sonar.create_visible,
        "hidden": sonar.create_hidden,
    }[config]
    splits = folds_of(y, seed, folds)
    start = time.perf_counter()
    scores = cross_val_score(
        sonar.make_pipeline(build, epochs=epochs, random_state=seed), x, y, cv=splits
    )
    return {"fit_seconds": time.perf_counter() - start, "fold_acc": [float(s) for s in scores]}


def info_dropnet() -> dict[str, Any]:
    import dropnet

    return {"dropnet": dropnet.__version__, "threads": dropnet.get_num_threads()}


# ----------------------------------------------------------------------------- torch


def cv_torch(config: str, epochs: int, folds: int, seed: int, threads: int) -> dict[str, Any]:
    try:
        import torch
        from torch import nn
    except ImportError as exc:
        raise FrameworkMissing(f"torch: {exc}") from exc
    torch.set_num_threads(threads)
    torch.manual_seed(seed)
    in_rate, hid_rate, max_norm, lr, momentum = CONFIGS[config]
    x, y = load_data()
    accs: list[float] = []
    start = time.perf_counter()
    for train, test in folds_of(y, seed, folds):
        x_tr, x_te = (torch.from_numpy(a) for a in scaled(x, train, test))
        y_tr = torch.from_numpy(y[train].astype(np.float32)).unsqueeze(1)
        hidden = [nn.Linear(60, 60), nn.Linear(60, 30)]
        out = nn.Linear(30, 1)  # logits; the sigmoid lives in the loss
        layers: list[nn.Module] = [nn.Dropout(in_rate)] if in_rate else []
        for lin in hidden:
            layers += [lin, nn.ReLU()] + ([nn.Dropout(hid_rate)] if hid_rate else [])
        model = nn.Sequential(*layers, out)
        for lin in (*hidden, out):  # Keras's initialisation: Glorot-uniform kernels, zero biases
            nn.init.xavier_uniform_(lin.weight)
            nn.init.zeros_(lin.bias)
        # Keras's momentum update v = m*v - lr*g, w += v is torch's with dampening 0.
        optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum)
        loss_fn = nn.BCEWithLogitsLoss()
        n = x_tr.shape[0]
        for _ in range(epochs):
            model.train()
            perm = torch.randperm(n)
            for i in range(0, n, BATCH):
                idx = perm[i : i + BATCH]
                optimizer.zero_grad()
                loss_fn(model(x_tr[idx]), y_tr[idx]).backward()
                optimizer.step()
                if max_norm:
                    with torch.no_grad():  # Keras's MaxNorm over each unit's incoming weights
                        for lin in hidden:
                            norms = lin.weight.norm(dim=1, keepdim=True)
                            lin.weight.mul_(norms.clamp(0, MAX_NORM) / (1e-7 + norms))
        model.eval()
        with torch.no_grad():
            pred = (model(x_te)[:, 0] > 0).numpy()
        accs.append(float(np.mean(pred == y[test])))
    return {"fit_seconds": time.perf_counter() - start, "fold_acc": accs}


def info_torch() -> dict[str, Any]:
    import torch

    return {"torch": torch.__version__, "num_threads": torch.get_num_threads()}


# ----------------------------------------------------------------------------- keras


def cv_keras(config: str, epochs: int, folds: int, seed: int, threads: int) -> dict[str, Any]:
    try:
        import keras
        import tensorflow as tf
    except ImportError as exc:
        raise FrameworkMissing(f"keras/tensorflow: {exc}") from exc
    if tf.config.threading.get_intra_op_parallelism_threads() != threads:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)
    keras.utils.set_random_seed(seed)
    in_rate, hid_rate, max_norm, lr, momentum = CONFIGS[config]
    x, y = load_data()
    (tf.constant([1.0]) + 1.0).numpy()  # start the runtime outside the timed region
    accs: list[float] = []
    start = time.perf_counter()
    for train, test in folds_of(y, seed, folds):
        x_tr, x_te = scaled(x, train, test)
        constraint = keras.constraints.MaxNorm(MAX_NORM) if max_norm else None
        model = keras.Sequential([keras.Input(shape=(60,))])
        if in_rate:
            model.add(keras.layers.Dropout(in_rate))
        for units in (60, 30):
            model.add(keras.layers.Dense(units, activation="relu", kernel_constraint=constraint))
            if hid_rate:
                model.add(keras.layers.Dropout(hid_rate))
        model.add(keras.layers.Dense(1, activation="sigmoid"))
        model.compile(
            loss="binary_crossentropy",
            metrics=["accuracy"],
            optimizer=keras.optimizers.SGD(learning_rate=lr, momentum=momentum),
        )
        model.fit(x_tr, y[train], epochs=epochs, batch_size=BATCH, verbose=0)
        accs.append(float(model.evaluate(x_te, y[test], verbose=0)[1]))
    return {"fit_seconds": time.perf_counter() - start, "fold_acc": accs}


def info_keras() -> dict[str, Any]:
    import keras
    import tensorflow as tf

    return {"keras": keras.__version__, "tensorflow": tf.__version__}


# ----------------------------------------------------------------------------- workload

RUNNERS: dict[str, tuple[Callable[..., dict[str, Any]], Callable[[], dict[str, Any]]]] = {
    "dropnet": (cv_dropnet, info_dropnet),
    "torch": (cv_torch, info_torch),
    "keras": (cv_keras, info_keras),
}


class SonarWorkload(Workload):
    name = "sonar"
    description = (
        "UCI Sonar MLP 60-60-30-1, the tutorial's baseline / visible / hidden dropout "
        "configurations, StratifiedKFold(10, shuffle) x 300 epochs, batch 16, SGD momentum; "
        "time = the whole cross-validation of one configuration"
    )
    frameworks = ("dropnet", "torch", "keras")

    def default_threads(self, cores: int) -> tuple[int, ...]:
        return (1,)  # 16x60 products: a second thread only adds synchronisation

    def work_for(self, framework: str, opts: Options) -> tuple[int, int]:
        """(epochs, folds) this framework runs."""
        epochs = pick_epochs(framework, opts, DEFAULT_EPOCHS, QUICK_EPOCHS)
        folds = (QUICK_FOLDS if opts.quick else DEFAULT_FOLDS)[framework]
        return epochs, folds

    def unavailable(self) -> str | None:
        from dropnet.datasets import SONAR_SOURCE

        path = data_path()
        if os.path.isfile(path):
            return None
        return f"Sonar data not found at {path!r} (pass --sonar-csv PATH). Expected {SONAR_SOURCE}."

    def plan(self, opts: Options, frameworks: list[str], threads: tuple[int, ...]) -> list[Job]:
        jobs: list[Job] = []
        # --quick: one configuration (Keras traces a model per fold, which dominates).
        for config in ("hidden",) if opts.quick else CONFIGS:
            for t in threads:
                for fw in frameworks:
                    epochs, folds = self.work_for(fw, opts)
                    jobs.append(
                        Job(
                            fw,
                            t,
                            {"config": config, "epochs": epochs, "folds": folds, "seed": opts.seed},
                            label=f"{config}, {folds} folds x {epochs} epochs",
                        )
                    )
        return jobs

    def run(self, framework: str, threads: int, params: dict[str, Any]) -> dict[str, Any]:
        runner, info = RUNNERS[framework]
        config, epochs, folds = params["config"], int(params["epochs"]), int(params["folds"])
        seed = int(params.get("seed", 0))
        if first_in_process(self.name, framework):
            runner(config, 1, 1, seed, threads)  # untimed warm-up: imports, first-call setup
        res = runner(config, epochs, folds, seed, threads)
        scale = (FOLDS / folds) * (FULL_EPOCHS / epochs)
        record = {
            "case": config,
            "seconds": res["fit_seconds"] * scale,
            "epochs": epochs,
            "folds": folds,
            "projected": scale != 1.0,
            **res,
        }
        return {"records": [record], "info": info()}

    def metric(self, case: str) -> Metric:
        return Metric("time per configuration (10 folds x 300 epochs)", "s", lambda s: s)

    def headlines(
        self, summary: list[dict[str, Any]], details: dict[str, Any], runs: list[dict[str, Any]]
    ) -> list[Headline]:
        rows = default_headlines(self.name, summary)
        total: dict[str, float] = {}
        threads = rows[0].threads if rows else 1
        for row in rows:
            config = row.measure
            row.accuracy = accuracy_by_framework(
                runs, config, row.threads, "fold_acc", list(row.values)
            )
            row.measure = f"{config}, 10 folds x 300 epochs"
            for fw, v in row.values.items():
                total[fw] = total.get(fw, 0.0) + v
        if rows and all(len(r.values) == len(rows[0].values) for r in rows):
            ours = total.get("dropnet")
            # dropnet's target is judged on full runs only, not on a projection.
            projected = any(
                rec.get("projected")
                for run in runs
                if run["framework"] == "dropnet"
                for rec in run.get("records", [])
            )
            rows.append(
                Headline(
                    self.name,
                    "all three configurations",
                    "s",
                    False,
                    threads,
                    total,
                    target=f"dropnet <= {TARGET_TOTAL_SECONDS:g} s",
                    met=None if ours is None or projected else ours <= TARGET_TOTAL_SECONDS,
                    note="accuracy: mean fold accuracy; Keras runs 1 fold by default, its time is "
                    "projected to 10 (quick runs project from fewer epochs too)",
                )
            )
        return rows

    def extra_report(
        self, summary: list[dict[str, Any]], runs: list[dict[str, Any]]
    ) -> tuple[str, dict[str, Any]]:
        from ..common import fmt_num, format_table

        groups: dict[tuple[str, str, int], list[dict[str, Any]]] = {}
        for run in runs:
            for rec in run.get("records", []):
                groups.setdefault((run["framework"], rec["case"], run["threads"]), []).append(rec)
        rows, data = [], []
        totals: dict[tuple[str, int], float] = {}
        for (fw, case, threads), recs in groups.items():
            full = statistics.median(r["seconds"] for r in recs)
            totals[(fw, threads)] = totals.get((fw, threads), 0.0) + full
            accs = [a for r in recs for a in r["fold_acc"]]
            projected = recs[0]["projected"]
            rows.append(
                [
                    fw,
                    case,
                    str(threads),
                    f"{recs[0]['folds']} x {recs[0]['epochs']}",
                    fmt_num(full) + (" (proj.)" if projected else ""),
                    f"{100 * np.mean(accs):.2f}% ({100 * np.std(accs):.2f}%)",
                ]
            )
            data.append(
                {
                    "framework": fw,
                    "case": case,
                    "threads": threads,
                    "full_seconds": full,
                    "projected": projected,
                    "fold_acc": accs,
                }
            )
        base = {t: s for (fw, t), s in totals.items() if fw == "dropnet"}
        for (fw, threads), total in totals.items():
            ratio = (
                f"{total / base[threads]:.1f}x dropnet"
                if threads in base and fw != "dropnet"
                else ""
            )
            rows.append([fw, "all three", str(threads), "", fmt_num(total), ratio])
        text = format_table(
            [
                "framework",
                "config",
                "thr",
                "folds x epochs",
                "s (full work)",
                "fold accuracy mean (std)",
            ],
            rows,
            right=[False, False, True, True, True, False],
        )
        text += (
            "\ns (full work): median seconds for 10 folds x 300 epochs; '(proj.)' where the "
            "framework ran fewer folds or epochs and the time is scaled linearly. Accuracy "
            "is over every fold of every repeat (of the folds actually run)."
        )
        return text, {"groups": data, "totals": {f"{fw}@{t}": s for (fw, t), s in totals.items()}}
