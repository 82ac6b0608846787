"""Every file of a tabular and an ask/tell run directory, corrupted every way the attack trial tried (issue 18,
items 3-5): truncation, zero bytes, flipped bytes and bits, duplicated and reordered records, wrong types,
NaN/inf/huge values, wrong shapes, edits with the digests recomputed as an attacker would.

Each case resumes in-process and gives either the identical result (the same ``state.json`` and
``records.jsonl`` bytes as an uninterrupted run, three steps later) or one error line naming the file and the
fix, with every file left as it was (the log is never cut beyond a torn last line).
"""

import json
import pickle
import shutil
import time
from pathlib import Path

import pytest

from ddp_core import DDPSearch, RunDirectoryError, SearchConfig, run_cli
from ddp_core.cli import one_line
from ddp_core.run_checks import directory_digests, state_digest
from ddp_core.tabular import MacroOracle, NasBenchMacro, macro_space

REPO = Path(__file__).resolve().parents[2]
CONFIG = dict(utility="paper", rounds_per_stage=2, seed=0)  # 10 evaluations: stages of 2 x 3 and 2 x 2
STOP, MORE = 5, 3  # resume after 5 evaluations (mid-round), then 3 more
CHECKPOINT = "checkpoints/step-000005/oracle.json"


def asktell_score(architecture, step):
    return 0.5 + 0.02 * sum(k == 1 for k in architecture) + 0.001 * ((step * 7919) % 13)


class Run:
    """Builds, resumes and advances one kind of run directory."""

    def __init__(self, kind, benchmark):
        self.kind, self.benchmark = kind, benchmark

    def open(self, run_dir):
        if self.kind == "tabular":
            return DDPSearch(macro_space(), MacroOracle(self.benchmark, seed=0), SearchConfig(**CONFIG), run_dir=run_dir)
        return DDPSearch(macro_space(), config=SearchConfig(**CONFIG), higher_is_better=True, run_dir=run_dir)

    def advance(self, search, steps):
        for _ in range(steps):
            if self.kind == "tabular":
                search.step()
            else:
                architecture = search.ask()[0]
                search.tell(architecture, asktell_score(architecture, search.steps))


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Per kind: the directory stopped after STOP evaluations, and the uninterrupted files after STOP + MORE."""
    benchmark = NasBenchMacro()
    root = tmp_path_factory.mktemp("corruption")
    out = {}
    for kind in ("tabular", "asktell"):
        run = Run(kind, benchmark)
        stopped, straight = root / f"{kind}-stopped", root / f"{kind}-straight"
        for directory, steps in ((stopped, STOP), (straight, STOP + MORE)):
            search = run.open(directory)
            run.advance(search, steps)
            search.close()
        expected = {name: (straight / name).read_bytes() for name in ("state.json", "records.jsonl")}
        out[kind] = (run, stopped, expected)
    return out


def files_of(kind):
    names = ["state.json", "records.jsonl", "space.json", "config.json", "summary.json", ".lock"]
    return names + ([CHECKPOINT] if kind == "tabular" else [])


def truncate(data):
    return data[: len(data) // 2]


def flip_bit(position):
    def mutate(data):
        data = bytearray(data)
        data[int(position * (len(data) - 1))] ^= 0x01
        return bytes(data)
    return mutate


def flip_byte(data):
    data = bytearray(data)
    middle = len(data) // 2
    data[middle] = ord("7") if data[middle] != ord("7") else ord("3")
    return bytes(data)


BYTES = {"truncated": truncate, "empty": lambda d: b"", "zero bytes": lambda d: bytes(len(d)),
         "flipped byte": flip_byte, "flipped first bit": flip_bit(0.0), "flipped middle bit": flip_bit(0.5),
         "flipped last bit": flip_bit(1.0), "missing": None}
HARMLESS = {"summary.json", ".lock"}  # derived or informative: a resume rewrites them


def lines(mutate):
    def apply(data):
        rows = data.decode().splitlines(keepends=True)
        return "".join(mutate(rows)).encode()
    return apply


def edit_state(change, recompute=True):
    """An edit of state.json; ``recompute`` re-signs it as an attacker who read the source would."""
    def apply(run_dir):
        state = json.loads((run_dir / "state.json").read_text())
        change(state, run_dir)
        if recompute:
            state["digest"] = state_digest(state)
        (run_dir / "state.json").write_text(json.dumps(state))
    return apply


def set_path(path, value):
    def change(state, run_dir):
        *parents, last = path.split(".")
        target = state
        for key in parents:
            target = target[key]
        target[last] = value
    return change


def resign_records(mutate):
    """Change records.jsonl and re-sign its digest (and state.json's) as an attacker would."""
    def change(state, run_dir):
        import hashlib

        rows = (run_dir / "records.jsonl").read_text().splitlines(keepends=True)
        text = "".join(mutate(rows))
        (run_dir / "records.jsonl").write_text(text)
        state["records_sha256"] = hashlib.sha256(text.encode()).hexdigest()
    return change


def edit_oracle(change):
    def apply(state, run_dir):
        path = run_dir / CHECKPOINT
        oracle = json.loads(path.read_text())
        change(oracle)
        path.write_text(json.dumps(oracle))
        state["checkpoint_files"] = directory_digests(path.parent)
    return apply


def edit_row(line, position, value):
    row = json.loads(line)
    row[position] = value
    return json.dumps(row, separators=(",", ":")) + "\n"


def nan_score(rows):
    return rows[:2] + [edit_row(rows[2], 3, float("nan"))] + rows[3:]


def cut_oracle(state, run_dir):
    """oracle.json cut in half and its digest re-signed (the attack trial's "cut oracle.json")."""
    path = run_dir / CHECKPOINT
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    state["checkpoint_files"] = directory_digests(path.parent)


def wrong_shape(state, run_dir):
    state["distribution"]["live"] = state["distribution"]["live"][:-1]


STATE_EDITS = {
    "stage -5": set_path("counters.stage", -5),
    "stage 10**30": set_path("counters.stage", 10**30),
    "round 10**30": set_path("counters.round", 10**30),
    "steps 9999999999999999": set_path("counters.steps", 9999999999999999),
    "finished 'no'": set_path("counters.finished", "no"),
    "stage '1'": set_path("counters.stage", "1"),
    "records count 2": set_path("records", 2),
    "records count 12": set_path("records", 12),
    "live wrongly shaped": wrong_shape,
    "live row all false": lambda s, d: s["distribution"]["live"].__setitem__(0, [False] * 3),
    "theta negative": lambda s, d: s["distribution"]["theta"][0].__setitem__(0, -0.5),
    "theta 1e308": lambda s, d: s["distribution"]["theta"][0].__setitem__(0, 1e308),
    "theta a string": lambda s, d: s["distribution"]["theta"][0].__setitem__(0, "nan"),
    "velocity wrong shape": lambda s, d: s["distribution"].__setitem__("velocity", [[0.0]]),
    "pools null": set_path("sampler.pools", None),
    "pools index 99": lambda s, d: s["sampler"]["pools"].__setitem__(0, [99]),
    "rng garbage": set_path("sampler.rng", {"bit_generator": "PCG64", "state": "x"}),
    "pending index 99": lambda s, d: s["pending"][0].__setitem__(0, 99),
    "pending_scores shorter": lambda s, d: s.__setitem__("pending_scores", s["pending_scores"][:-1]),
    "pending score inf": lambda s, d: s["pending_scores"].__setitem__(0, "inf"),
    "history missing": lambda s, d: s.pop("history"),
    "history a list": set_path("history", []),
    "failed not a list": set_path("failed", {"x": 1}),
    "format 2": set_path("format", 2),
    "checkpoint null": set_path("checkpoint", None),
    "checkpoint outside": set_path("checkpoint", "../../../etc"),
    "checkpoint absent step": set_path("checkpoint", "step-000001"),
    "config seed 9": set_path("config.seed", 9),
    "notes a number": set_path("notes", 5),
    "record architecture 99": resign_records(lambda r: r[:1] + [edit_row(r[1], 2, [99] * 8)] + r[2:]),
    "record NaN score": resign_records(nan_score),
    "record stage 10**30": resign_records(lambda r: [r[0].replace("[0,", f"[{10**30},", 1)] + r[1:]),
    "record duplicated": resign_records(lambda r: r[:2] + [r[1]] + r[2:-1]),
    "oracle queries -1": edit_oracle(lambda o: o.__setitem__("queries", -1)),
    "oracle rng a list": edit_oracle(lambda o: o.__setitem__("rng", [1, 2])),
    "oracle cut in half": cut_oracle,
}
RECORD_EDITS = {
    "duplicated middle record": lines(lambda r: r[:2] + [r[2]] + r[2:]),
    "reordered records": lines(lambda r: [r[1], r[0]] + r[2:]),
    "last record dropped": lines(lambda r: r[:-1]),
    "middle record dropped": lines(lambda r: r[:2] + r[3:]),
    "flipped digit": lambda d: d.replace(b"0.", b"1.", 1),
    "NaN score": lines(nan_score),
    "many extra records": lines(lambda r: r + r + r),
    "torn last line": lambda d: d + b'[0,1,[0,1',  # what a kill mid-append leaves: cut, identical result
    "one uncommitted record": lines(lambda r: r + [r[-1]]),  # a kill between the append and state.json
}


def cases():
    out = []
    for kind in ("tabular", "asktell"):
        for name in files_of(kind):
            for mutation in BYTES:
                out.append((kind, name, mutation))
        for mutation in RECORD_EDITS:
            out.append((kind, "records.jsonl", mutation))
        for edit in STATE_EDITS:
            if edit.startswith("oracle") and kind != "tabular":
                continue
            out.append((kind, "state.json", f"{edit} (re-signed)"))
            out.append((kind, "state.json", edit))
    return out


CASES = cases()
IDENTICAL = {"torn last line", "one uncommitted record"}


def corrupt(run_dir, name, mutation):
    path = run_dir / name
    if mutation in BYTES:
        if BYTES[mutation] is None:
            path.unlink()
        else:
            path.write_bytes(BYTES[mutation](path.read_bytes()))
    elif mutation in RECORD_EDITS:
        path.write_bytes(RECORD_EDITS[mutation](path.read_bytes()))
    else:
        edit = mutation.removesuffix(" (re-signed)")
        edit_state(STATE_EDITS[edit], recompute=mutation.endswith("(re-signed)"))(run_dir)


def snapshot(run_dir):
    return {p.relative_to(run_dir).as_posix(): p.read_bytes() for p in sorted(run_dir.rglob("*"))
            if p.is_file() and p.name != ".lock"}


@pytest.mark.parametrize(("kind", "name", "mutation"), CASES, ids=[" / ".join(c) for c in CASES])
def test_a_corrupted_run_directory_resumes_identically_or_fails_in_one_line(runs, tmp_path, kind, name, mutation):
    run, stopped, expected = runs[kind]
    run_dir = tmp_path / "run"
    shutil.copytree(stopped, run_dir)
    corrupt(run_dir, name, mutation)
    before = snapshot(run_dir)
    started = time.perf_counter()
    try:
        search = run.open(run_dir)
    except RunDirectoryError as error:
        line = one_line(error)
        assert time.perf_counter() - started < 30
        assert name not in HARMLESS and mutation not in IDENTICAL, line
        named = {Path(name).name} | ({"records.jsonl"} if mutation.startswith("record ") else set()) | (
            {"oracle.json"} if mutation.startswith("oracle ") else set())  # a re-signed edit of another file
        assert "\n" not in str(error) and any(n in line for n in named), line
        assert "restore" in line or "--run-dir" in line, line
        assert snapshot(run_dir) == before  # nothing cut, nothing rewritten
        return
    try:
        run.advance(search, MORE)
    finally:
        search.close()
    for file, data in expected.items():
        assert (run_dir / file).read_bytes() == data, f"{file} differs: the corruption passed silently"


def test_the_suite_covers_every_file_and_every_kind_of_damage():
    covered = {(kind, name) for kind, name, _ in CASES}
    assert covered == {(k, n) for k in ("tabular", "asktell") for n in files_of(k)}
    assert len(CASES) >= 150


# ---------------------------------------------------------------- the same through the tool: exit 2, one line
QUICK = ["--compare-seeds", "0", "--quiet", "--rounds-per-stage", "1", "--report-to", "none", "--budget",
         "params_m=2", "--utility", "paper"]


@pytest.fixture(scope="module")
def tool_run(tmp_path_factory):
    import importlib.util

    spec = importlib.util.spec_from_file_location("search_tabular_tool", REPO / "tools" / "search_tabular.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    run_dir = tmp_path_factory.mktemp("tool") / "run"
    assert run_cli(module.main, [*QUICK, "--run-dir", str(run_dir)]) == 0
    return module, run_dir


def oracle_cut(run_dir):
    path = next(run_dir.glob("checkpoints/step-*/oracle.json"))
    path.write_bytes(path.read_bytes()[:40])


TOOL_CASES = {
    "records count 2 in state.json": (edit_state(set_path("records", 2), recompute=False), "state.json"),
    "counters.stage -5, re-signed": (edit_state(set_path("counters.stage", -5)), "counters.stage must be >= 0"),
    "live wrongly shaped, re-signed": (edit_state(wrong_shape), "distribution.live must be a 8 x 3"),
    "pools null, re-signed": (edit_state(set_path("sampler.pools", None)), "sampler.pools must be a list"),
    "history removed, re-signed": (edit_state(lambda s, d: s.pop("history")), "history must be an object"),
    "pending_scores shorter, re-signed": (edit_state(lambda s, d: s.__setitem__("pending", [[0] * 8])),
                                          "pending and pending_scores must be lists of the same length"),
    "oracle.json cut": (oracle_cut, "oracle.json does not match the sha256"),
}


@pytest.mark.parametrize("case", sorted(TOOL_CASES))
def test_the_tool_turns_each_corruption_into_one_error_line(tool_run, tmp_path, capsys, case):
    module, reference = tool_run
    run_dir = tmp_path / "run"
    shutil.copytree(reference, run_dir)
    corrupt_with, message = TOOL_CASES[case]
    corrupt_with(run_dir)
    before = snapshot(run_dir)
    capsys.readouterr()
    assert run_cli(module.main, [*QUICK, "--resume", str(run_dir)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and message in err[0], err
    assert "restore it from a backup or start a new --run-dir" in err[0]
    assert snapshot(run_dir) == before  # records.jsonl is not cut to the count state.json names


@pytest.mark.parametrize(("content", "message"), [(b'{"00000000": {"test_acc": [9', "is not valid JSON"),
                                                   (b"{}", "is not a NAS-Bench-Macro table"),
                                                   (b"[1, 2]", "holds a list where --benchmark (the NAS-Bench-Macro "
                                                               "table) must be a JSON object"),
                                                   (pickle.dumps({"00000000": 1}), "is not JSON text but a binary "
                                                    "file (a pickle?); --benchmark (the NAS-Bench-Macro table) must "
                                                    "be JSON")])
def test_a_broken_benchmark_table_is_one_line_naming_it(tool_run, tmp_path, capsys, content, message):
    module, _ = tool_run
    table = tmp_path / "table.json"
    table.write_bytes(content)
    capsys.readouterr()
    assert run_cli(module.main, [*QUICK, "--benchmark", str(table), "--run-dir", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"{table} {message}" in err[0] and "restore it" in err[0], err


def test_the_oracle_checkpoint_alone_names_its_file(tmp_path):
    oracle = MacroOracle(NasBenchMacro(), seed=0)
    for content in (b'{"rng": {"bit_generator": "PCG64", "state": {"sta', b'{"rng": 1, "queries": 0}',
                    b'{"rng": null, "queries": -1}'):
        (tmp_path / "oracle.json").write_bytes(content)
        with pytest.raises(RunDirectoryError, match=r"oracle.json.*restore it"):
            oracle.load_checkpoint(tmp_path)
