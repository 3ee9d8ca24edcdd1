"""A 6-run KJV ladder through Hugging Face ``transformers`` (examples/hf_trainer.py), end to end.

Issue 23's goals, measured on this machine:

1. plan (isoflop, levels 2e10/6e10 FLOPs, 3 sizes, min 100 steps: 6 runs) and launch the
   ladder with ``scalinglab sweep run DIR --config ladder.toml`` (a ``[trainer]`` table, the
   metrics read from TensorBoard: ``eval/loss`` and the trainer's ``model/n_params``);
2. SIGKILL the driver while run ``--kill-run`` is in flight, check its trainer died with it,
   run the same command again: no finished run runs again (their ``finished_at`` unchanged),
   the killed run resumes from its own checkpoint (``{resume}``);
3. train the killed run once more, uninterrupted, in a separate sweep: its records must equal
   the resumed run's (so the ladder's records equal an uninterrupted ladder's);
4. fit (Chinchilla, Approach 3, final rows) and predict the 10x-compute optimum (frontier); import the ladder's
   TensorBoard and JSONL logs (rows must equal the store's exactly) and a W&B-style CSV of
   the final rows (its fit must equal the store's fit).

Usage: python bench/external_ladder.py [--out DIR] [--json]   (about 10-15 min on 2 cores)
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "hf_trainer.py"
SCRIPT = Path(sys.executable).parent / "scalinglab"
TEMPLATE = (f"{sys.executable} {EXAMPLE} --n_layer {{n_layer}} --d_model {{d_model}} "
            f"--n_head {{n_head}} --seq_len {{seq_len}} --tokens {{tokens}} "
            f"--batch_tokens {{batch_tokens}} --lr {{lr}} --warmup_tokens {{warmup_tokens}} "
            f"--eval_tokens {{eval_tokens}} --seed {{seed}} --corpus {{corpus}} "
            f"--tokenizer {{tokenizer}} --out {{run_dir}} --resume {{resume}}")
CONFIG = f"""# the ladder of bench/external_ladder.py
[sweep]
levels = [2e10, 6e10]
sizes_per_level = 3
design = "isoflop"
min_steps = 100
eval_tokens = 8192

[trainer]
command = "{TEMPLATE}"
tb_loss = "eval/loss"
tb_n_params = "model/n_params"
timeout = 1800
"""


def cli(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run([str(SCRIPT), *args], capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed: {proc.stderr[-2000:]}")
    return proc


def store_runs(directory: Path) -> list[dict]:
    return json.loads(cli("sweep", "status", str(directory), "--json").stdout)["runs"]


def trainer_alive(run_dir: Path) -> bool:
    """Any process whose command line names ``run_dir`` (the trainer of that run)."""
    for proc in Path("/proc").iterdir():
        try:
            if str(run_dir) in (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode():
                return True
        except (OSError, ValueError):
            continue
    return False


def kill_mid_run(directory: Path, config: Path, kill_run: int) -> dict:
    """Start the ladder; SIGKILL the driver once run ``kill_run`` has logged an evaluation."""
    from scalinglab.sweep import SQLiteRunStore

    driver = subprocess.Popen([str(SCRIPT), "sweep", "run", str(directory), "--config",
                               str(config)], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    start = time.monotonic()
    victim = None
    while driver.poll() is None:
        time.sleep(0.5)
        if not (directory / "store.sqlite").is_file():
            continue
        with SQLiteRunStore(directory) as store:
            runs = store.runs()
        victim = runs[kill_run] if len(runs) > kill_run else None
        if victim is None or victim.status != "running":
            continue
        metrics = directory / "runs" / victim.name / "metrics.jsonl"
        if metrics.is_file() and metrics.read_text().count("\n") >= 1:
            break
    if driver.poll() is not None:
        raise SystemExit("the ladder finished before it could be killed")
    os.kill(driver.pid, signal.SIGKILL)
    driver.wait()
    killed_at = time.monotonic() - start
    time.sleep(3.0)
    run_dir = directory / "runs" / victim.name
    return {"victim": victim.name, "victim_key": victim.key, "killed_after_s": killed_at,
            "trainer_survived_kill": trainer_alive(run_dir)}


def reference_run(directory: Path, reference: Path, key: str) -> pd.DataFrame:
    """The killed run trained again, uninterrupted, in its own sweep directory."""
    from scalinglab.sweep import LocalExecutor, SQLiteRunStore, run_pending
    from scalinglab.sweep.external import load_trainer_toml

    trainer = load_trainer_toml(directory / "ladder.toml")
    with SQLiteRunStore(directory) as source:
        run = source.get(key)
    run.status, run.attempts, run.meta = "planned", 0, dict(run.meta)
    with SQLiteRunStore(reference) as store:
        store.add_runs([run])
        run_pending(store, LocalExecutor(1, threads=1), reference, "kjv", "byte",
                    trainer=trainer, retries=0)
        return store.records()


def fit_and_predict(table: Path, directory: Path, name: str) -> dict:
    fit_path = directory / f"{name}.fit.json"
    fitted = json.loads(cli("fit", str(table), "--bootstrap", "200", "--checkpoints-after",
                            "final", "--out", str(fit_path), "--json").stdout)
    return {"fit": fitted, "path": fit_path}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("/tmp/scalinglab-external-ladder"))
    parser.add_argument("--kill-run", type=int, default=2)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    import shutil

    shutil.rmtree(args.out, ignore_errors=True)
    directory = args.out / "ladder"
    directory.mkdir(parents=True)
    config = directory / "ladder.toml"
    config.write_text(CONFIG)
    started = time.monotonic()
    kill = kill_mid_run(directory, config, args.kill_run)
    before = {r["name"]: r for r in store_runs(directory)}
    from scalinglab.sweep import SQLiteRunStore

    with SQLiteRunStore(directory) as store:
        finished_before = {r.key: r.finished_at for r in store.runs(status="done")}
    cli("sweep", "run", str(directory), "--config", str(config))
    ladder_seconds = time.monotonic() - started
    with SQLiteRunStore(directory) as store:
        runs = store.runs()
        rerun = sum(store.get(k).finished_at != t for k, t in finished_before.items())
        victim = store.get(kill["victim_key"])
        records = store.records()
    reference = reference_run(directory, args.out / "reference", kill["victim_key"])
    resumed_rows = records[records["run_id"] == kill["victim"]].reset_index(drop=True)
    equal_to_uninterrupted = resumed_rows.equals(reference.reset_index(drop=True))
    max_diff = float((resumed_rows["loss"] - reference["loss"]).abs().max()) \
        if len(resumed_rows) == len(reference) else float("nan")

    table = args.out / "ladder.csv"
    cli("sweep", "export", str(directory), "--out", str(table))
    fitted = fit_and_predict(table, args.out, "store")
    largest = float(records["flops"].max())
    predicted = json.loads(cli("frontier", "--fit", str(fitted["path"]), "--compute",
                               f"{10 * largest:.6g}", "--json").stdout)

    key = ["run_id", "tokens"]
    tb_csv, jsonl_csv = args.out / "tb.csv", args.out / "jsonl.csv"
    cli("import", "tensorboard", str(directory / "runs"), "--map",
        "loss=eval/loss,N=model/n_params", "--out", str(tb_csv))
    cli("import", "jsonl", str(directory / "runs"), "--out", str(jsonl_csv))
    from scalinglab.records import load_runs

    def same(path: Path) -> bool:
        frame = load_runs(path).sort_values(key).reset_index(drop=True)
        expected = load_runs(table).sort_values(key).reset_index(drop=True)
        return frame.equals(expected)

    finals = records[records["final"]]  # in the store's run order (the bootstrap's order)
    wandb_csv = args.out / "wandb_export.csv"
    pd.DataFrame({"Name": finals["run_id"], "model/n_params": finals["n_params"],
                  "train/tokens": finals["tokens"], "eval/loss": finals["loss"],
                  "_step": finals["tokens"] / 512}).to_csv(wandb_csv, index=False)
    wandb_table = args.out / "wandb.csv"
    cli("import", "wandb", str(wandb_csv), "--map",
        "N=model/n_params,tokens=train/tokens,loss=eval/loss", "--out", str(wandb_table))
    wandb_fit = fit_and_predict(wandb_table, args.out, "wandb")
    params = fitted["fit"]["law"]["params"]
    result = {
        "runs": len(runs), "done": sum(r.status == "done" for r in runs),
        "ladder_seconds_with_kill_and_resume": ladder_seconds,
        "killed_run": kill["victim"], "killed_after_s": kill["killed_after_s"],
        "done_before_kill": len(finished_before),
        "trainer_survived_driver_kill": kill["trainer_survived_kill"],
        "finished_runs_run_again": rerun, "killed_run_resumed": victim.meta.get("resumed"),
        "resumed_records_equal_uninterrupted": equal_to_uninterrupted,
        "resumed_vs_uninterrupted_max_loss_diff": max_diff,
        "fit_params": params, "predicted_10x": predicted,
        "tensorboard_import_equal": same(tb_csv), "jsonl_import_equal": same(jsonl_csv),
        "wandb_fit_equal": wandb_fit["fit"]["law"]["params"] == params
        and wandb_fit["fit"]["intervals"] == fitted["fit"]["intervals"],
        "status_before_resume": {k: v["status"] for k, v in before.items()},
    }
    if args.json:
        print(json.dumps(result, indent=1, default=str))
        return
    for name, value in result.items():
        print(f"{name:40s} {value}")


if __name__ == "__main__":
    main()
