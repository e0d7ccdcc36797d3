"""``device="cuda"``: what works, where the host waits, and the timings.

Run on a machine with a GPU (``python benchmarks/bench_gpu.py``; on a
CPU-only machine it skips, and ``--device cpu`` runs it as a dry run). Four
parts, recorded together in ``benchmarks/results/gpu.json``:

- ``checks``: every exported strategy fits, updates twice (new classes
  arriving) and predicts on the device, its network and learned state stay
  there, and its accuracy is close to the same run on the CPU; a regressor,
  a 1-D CNN, an ``UpdateEnsemble`` (the stacked forward pass), a safe file
  written from a device model and loaded back, a rejected update that leaves
  the model unchanged, and EWC's Fisher equal to the CPU's;
- ``syncs``: host round trips (``torch.cuda.set_sync_debug_mode``) in one
  update of 1,024 samples in 32 batches, so that a per-batch one shows;
- ``overhead``: ``partial_fit`` against the hand-written loop doing the same
  steps from numpy input, both ending in ``torch.cuda.synchronize``;
- ``fisher`` and ``ensemble``: the per-sample Fisher against the loop and
  one epoch, and ``predict`` with 10 members against one.
"""

from __future__ import annotations

import argparse
import copy
import time
import traceback
import warnings
from pathlib import Path

import numpy as np
import torch
from _common import print_table, write_results
from bench_fisher import looped_fisher
from bench_overhead import data, hand_written
from sklearn.datasets import load_digits, make_classification, make_regression

import sklearn_cl.strategies as strategies
from sklearn_cl import (
    ContinualClassifier,
    ContinualRegressor,
    UpdateEnsemble,
    persistence,
)
from sklearn_cl.modules import CNN1D
from sklearn_cl.strategies import EWC, Graft, Replay, Strategy
from sklearn_cl.strategies._fisher import diagonal_fisher

STRATEGIES = sorted(
    (
        cls
        for cls in (getattr(strategies, name) for name in strategies.__all__)
        if isinstance(cls, type) and issubclass(cls, Strategy) and cls is not Strategy
    ),
    key=lambda cls: cls.__name__,
)


def digits():
    X, y = load_digits(return_X_y=True)
    return (X / 16).astype(np.float32), y


def sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def tensors_on(obj, device: str) -> list[str]:
    """Names of the tensors of ``obj``'s learned state not on ``device``."""
    wrong = []
    state = obj.state_dict() if hasattr(obj, "state_dict") else {}
    for key, value in _walk(state):
        if isinstance(value, torch.Tensor) and value.device.type != device:
            wrong.append(key)
    return wrong


def _walk(value, prefix=""):
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _walk(v, f"{prefix}{k}.")
    elif isinstance(value, list | tuple):
        for i, v in enumerate(value):
            yield from _walk(v, f"{prefix}{i}.")
    else:
        yield prefix.rstrip("."), value


def strategy_run(cls, device: str):
    X, y = digits()
    first, second, third = y < 4, (y >= 4) & (y < 7), y >= 7
    test = np.arange(len(X)) % 2 == 1
    train = ~test
    clf = ContinualClassifier(
        callbacks=[("strategy", cls())],
        max_epochs=5,
        update_epochs=5,
        allow_new_classes=True,
        random_state=0,
        device=device,
    )
    clf.fit(X[train & first], y[train & first])
    clf.partial_fit(X[train & second], y[train & second])
    clf.partial_fit(X[train & third], y[train & third])
    return clf, clf.score(X[test], y[test])


def check_strategies(device: str) -> list[dict]:
    rows = []
    for cls in STRATEGIES:
        row = {"check": f"strategy {cls.__name__}"}
        try:
            clf, score = strategy_run(cls, device)
            _, cpu_score = strategy_run(cls, "cpu")
            params = {p.device.type for p in clf.net_.module_.parameters()}
            strategy = dict(clf.net_.callbacks_)["strategy"]
            off = tensors_on(strategy, device.split(":")[0])
            row.update(
                ok=params == {device.split(":")[0]} and not off,
                accuracy=round(score, 3),
                cpu_accuracy=round(cpu_score, 3),
                detail=f"params on {sorted(params)}; state off device: {off}",
            )
        except Exception:  # noqa: BLE001 - recorded, the run goes on
            row.update(ok=False, detail=traceback.format_exc(limit=3)[-600:])
        rows.append(row)
        print(row, flush=True)
    return rows


def checked(name: str, function) -> dict:
    try:
        detail = function()
        row = {"check": name, "ok": True, "detail": detail}
    except Exception:  # noqa: BLE001 - recorded, the run goes on
        row = {"check": name, "ok": False, "detail": traceback.format_exc()[-800:]}
    print(row, flush=True)
    return row


def check_others(device: str, tmp: str) -> list[dict]:
    X, y = digits()

    def regressor():
        Xr, yr = make_regression(600, 10, noise=1.0, random_state=0)
        reg = ContinualRegressor(
            callbacks=[("ewc", EWC())], max_epochs=20, device=device, random_state=0
        )
        reg.fit(Xr[:300], yr[:300]).partial_fit(Xr[300:], yr[300:])
        return f"R2 {reg.score(Xr, yr):.3f}"

    def cnn():
        Xs = np.random.default_rng(0).standard_normal((512, 48)).astype(np.float32)
        ys = (Xs[:, :24].mean(axis=1) > 0).astype(int)
        clf = ContinualClassifier(
            module=CNN1D, callbacks=[("ewc", EWC())], device=device, random_state=0
        )
        clf.fit(Xs[:256], ys[:256]).partial_fit(Xs[256:], ys[256:])
        return f"accuracy {clf.score(Xs, ys):.3f}"

    def ensemble():
        base = ContinualClassifier(max_epochs=3, device=device, random_state=0)
        ens = UpdateEnsemble(base, random_state=0).fit(X[:600], y[:600])
        for start in (600, 900, 1200):
            ens.partial_fit(X[start : start + 300], y[start : start + 300])
        stacked = ens.predict_proba(X)
        one_by_one = sum(
            m.predict_proba(X) * w for m, w in zip(ens.estimators_, ens.weights_)
        )
        gap = float(np.abs(stacked - one_by_one).max())
        assert gap < 1e-4, gap
        return f"stacked vs member by member: max gap {gap:.2e}"

    def safe_file():
        clf = ContinualClassifier(
            callbacks=[("replay", Replay())], device=device, random_state=0
        ).fit(X[:900], y[:900])
        path = f"{tmp}/model.skops"
        persistence.save(clf, path)
        loaded = persistence.load(path)
        same = np.array_equal(loaded.predict_proba(X), clf.predict_proba(X))
        loaded.partial_fit(X[900:], y[900:])
        assert same
        return f"loaded on {loaded.net_.device}, same predictions, updates"

    def rejected_update():
        clf = ContinualClassifier(device=device, random_state=0).fit(X, y)
        before = copy.deepcopy(clf.net_.module_.state_dict())
        bad = X[:100].copy()
        bad[0, 0] = np.nan
        try:
            clf.partial_fit(bad, y[:100])
        except ValueError as error:
            message = str(error)[:120]
        else:
            raise AssertionError("NaN input was accepted")
        after = clf.net_.module_.state_dict()
        assert all(torch.equal(before[k], after[k]) for k in before)
        return f"unchanged after: {message}"

    def fisher_matches_cpu():
        clf = ContinualClassifier(max_epochs=3, device=device, random_state=0)
        clf.fit(X, y)
        module = clf.net_.module_
        Xt, yt = torch.as_tensor(X), torch.as_tensor(y)
        on_device = diagonal_fisher(module, Xt.to(device), yt.to(device))
        on_cpu = diagonal_fisher(copy.deepcopy(module).cpu(), Xt, yt)
        gap = max(
            float((on_device[k].cpu() - on_cpu[k]).abs().max() / on_cpu[k].abs().max())
            for k in on_cpu
        )
        assert gap < 1e-3, gap
        return f"relative gap {gap:.1e}"

    def edges():
        """Today's edge cases on the device: Graft under EWC, 3-D CNN1D input,
        class weights, a torch.device estimator saved and loaded, a GPU the
        machine lacks."""
        first, rest = y < 5, y >= 5
        combined = ContinualClassifier(
            callbacks=[("graft", Graft()), ("ewc", EWC())],
            allow_new_classes=True,
            class_weight={0: 2.0},
            device=torch.device(device),
            random_state=0,
        ).fit(X[first], y[first])
        combined.partial_fit(X[rest], y[rest])
        path = f"{tmp}/edges.skops"
        persistence.save(combined, path)
        loaded = persistence.load(path)
        assert np.array_equal(loaded.predict(X), combined.predict(X))
        windows = np.random.default_rng(0).standard_normal((256, 2, 24))
        labels = (windows[:, 0].mean(axis=1) > 0).astype(int)
        cnn = ContinualClassifier(module=CNN1D, device=device, random_state=0)
        cnn.fit(windows.astype(np.float32), labels).partial_fit(windows, labels)
        missing = f"cuda:{torch.cuda.device_count()}" if "cuda" in device else None
        if missing:
            try:
                ContinualClassifier(device=missing).fit(X[:50], y[:50])
            except ValueError as error:
                refused = str(error)[:90]
            else:
                raise AssertionError(f"{missing} was accepted")
        else:
            refused = "not run on cpu"
        return (
            f"graft+EWC {combined.score(X, y):.3f}, loaded equal; CNN1D 3-D "
            f"{cnn.score(windows, labels):.3f}; {refused}"
        )

    return [
        checked("edge cases of the last session", edges),
        checked("regressor with EWC", regressor),
        checked("CNN1D with EWC", cnn),
        checked("UpdateEnsemble, stacked forward", ensemble),
        checked("safe file written from the device", safe_file),
        checked("rejected update leaves the model unchanged", rejected_update),
        checked("Fisher equal to the CPU's", fisher_matches_cpu),
    ]


def count_syncs(device: str) -> list[dict]:
    """Synchronising calls in one 32-batch update, by strategy."""
    if not device.startswith("cuda"):
        return []
    X, y = data(1024)
    rows = []
    for name, callbacks in [
        ("plain", None),
        ("EWC", [("ewc", EWC())]),
        ("Replay", [("replay", Replay())]),
    ]:
        clf = ContinualClassifier(
            callbacks=callbacks, update_epochs=1, device=device, random_state=0
        )
        clf.fit(X, y)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            torch.cuda.set_sync_debug_mode("warn")
            try:
                clf.partial_fit(X, y)
            finally:
                torch.cuda.set_sync_debug_mode("default")
        syncs = [w for w in caught if "synchroniz" in str(w.message)]
        where = sorted({f"{w.filename.split('/')[-1]}:{w.lineno}" for w in syncs})
        rows.append(
            {"update": name, "batches": 32, "syncs": len(syncs), "where": where}
        )
    print_table(rows)
    return rows


def best_of(repeats: int, device: str, function, *args) -> float:
    """Best wall time of ``function(*args)``, the device's queue included."""
    best = float("inf")
    for _ in range(repeats):
        sync(device)
        tic = time.perf_counter()
        function(*args)
        sync(device)
        best = min(best, time.perf_counter() - tic)
    return best


def repeated(fit, X, y, calls: int) -> None:
    for _ in range(calls):
        fit(X, y)


def epoch(net, X, y) -> None:
    """One training epoch of a copy of ``net`` (the copy's cost included)."""
    copy.deepcopy(net).train_call(X, y, epochs=1, lr=1e-3, is_update=True)


def overhead(device: str) -> list[dict]:
    rows = []
    for name, n, batch_size in [
        ("32 samples, 1 batch", 32, 32),
        ("1024 samples, batches of 32", 1024, 32),
        ("1024 samples, 1 batch", 1024, 1024),
    ]:
        X, y = data(n)
        loop = hand_written(batch_size, device=device)
        clf = ContinualClassifier(
            batch_size=batch_size, update_epochs=1, random_state=0, device=device
        )
        clf.partial_fit(X, y, classes=np.arange(10))
        calls = max(5, 4096 // n)
        t_loop = best_of(7, device, repeated, loop, X, y, calls) / calls
        t_ours = best_of(7, device, repeated, clf.partial_fit, X, y, calls) / calls
        rows.append(
            {
                "scenario": name,
                "hand_written_ms": 1e3 * t_loop,
                "sklearn_cl_ms": 1e3 * t_ours,
                "ratio": t_ours / t_loop,
            }
        )
    print_table(rows)
    return rows


def fisher(device: str) -> list[dict]:
    rng = np.random.default_rng(0)
    rows = []
    for name, params, X in [
        ("MLP 784-256-256-10", {"hidden_layer_sizes": (256, 256)}, 784),
        ("CNN1D (16, 32), length 48", {"module": CNN1D}, 48),
    ]:
        X = rng.standard_normal((8192, X), dtype=np.float32)
        y = rng.integers(0, 10, len(X))
        clf = ContinualClassifier(max_epochs=1, device=device, random_state=0, **params)
        clf.fit(X, y)
        module = clf.net_.module_
        Xt = torch.as_tensor(X, device=device)
        yt = torch.as_tensor(y, device=device)

        t_epoch = best_of(3, device, epoch, clf.net_, Xt, yt)
        t_fisher = best_of(3, device, diagonal_fisher, module, Xt, yt)
        t_loop = best_of(3, device, looped_fisher, module, Xt[:256], yt[:256])
        t_loop *= len(X) / 256
        rows.append(
            {
                "scenario": name,
                "n_samples": len(X),
                "epoch_ms": 1e3 * t_epoch,
                "fisher_ms": 1e3 * t_fisher,
                "loop_ms": 1e3 * t_loop,
                "fisher_over_epoch": t_fisher / t_epoch,
                "loop_over_fisher": t_loop / t_fisher,
            }
        )
    print_table(rows)
    return rows


def ensemble(device: str) -> list[dict]:
    X, y = make_classification(n_samples=11_000, n_features=20, random_state=0)
    base = ContinualClassifier(
        hidden_layer_sizes=(100,), max_epochs=2, random_state=0, device=device
    )
    single = base.fit(X[:1000], y[:1000])
    members = {}
    for n in (1, 10):
        ens = UpdateEnsemble(base, random_state=0).fit(X[:1000], y[:1000])
        for _ in range(n - 1):
            ens.partial_fit(X[:1000], y[:1000])
        members[n] = ens
    rows = []
    for n_rows in (100, 10_000):
        Xp = X[1000 : 1000 + n_rows]
        times = {
            "bare model": best_of(20, device, single.predict, Xp),
            **{
                f"{n} members": best_of(20, device, e.predict, Xp)
                for n, e in members.items()
            },
        }
        for name, seconds in times.items():
            rows.append(
                {
                    "rows": n_rows,
                    "predict": name,
                    "ms": 1e3 * seconds,
                    "ratio_to_1_member": seconds / times["1 members"],
                }
            )
    print_table(rows)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--tmp", default="/tmp")
    parser.add_argument("--out", default=None, help="also write the JSON here")
    args = parser.parse_args()
    device = args.device
    if device.startswith("cuda") and not torch.cuda.is_available():
        print("no CUDA device here: skipped (--device cpu runs it as a dry run)")
        return
    warnings.filterwarnings("ignore", category=UserWarning, module="skorch")
    name = torch.cuda.get_device_name() if device.startswith("cuda") else "cpu"
    figures = {"device": device, "device_name": name}
    figures["checks"] = check_strategies(device) + check_others(device, args.tmp)
    figures["syncs"] = count_syncs(device)
    figures["overhead"] = overhead(device)
    figures["fisher"] = fisher(device)
    figures["ensemble"] = ensemble(device)
    failed = [row["check"] for row in figures["checks"] if not row["ok"]]
    figures["failed_checks"] = failed
    print(f"\nfailed checks: {failed}")
    path = write_results("gpu" if device.startswith("cuda") else "gpu_dry_run", figures)
    if args.out:
        (Path(args.out) / path.name).write_text(path.read_text())
    print(f"written {path}")


if __name__ == "__main__":
    main()
