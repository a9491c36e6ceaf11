import json
import os
import re
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from backend.cli import main
from tests.ports import free_port


def test_analyze_json(capsys):
    main(["analyze", "Once upon a time", "--json"])
    body = json.loads(capsys.readouterr().out)
    assert [t["display"] for t in body["tokens"]] == ["<|bos|>", "Once", "\u2423upon", "\u2423a", "\u2423time"]
    assert [t["text"] for t in body["tokens"]] == ["", "Once", " upon", " a", " time"]
    assert body["predictions"] and body["model"] == "tiny-sinusoidal"


def test_analyze_text(capsys):
    main(["analyze", "Once upon a time", "--model", "tiny-rotary"])
    out = capsys.readouterr().out
    assert "model: tiny-rotary" in out and "layer 3: head" in out


def test_analyze_does_not_name_one_head_most_focused_where_another_reads_the_same(capsys):
    """tiny-sinusoidal, "I saw a dog and a dog.", layer 2: heads 2 and 3 have mean entropies 1.1775 and 1.1829, and
    the line said "layer 2: head 2 (entropy 1.18 nats)", as if no other head had 1.18. Where others read the same
    with two decimals, the line writes the entropy with four and names them with theirs; a head alone keeps two."""
    main(["analyze", "I saw a dog and a dog.", "--json"])
    heads = json.loads(capsys.readouterr().out)["heads"]
    main(["analyze", "I saw a dog and a dog."])
    lines = {int(m[1]): m[2] for m in re.finditer(r"^  layer (\d+): (.*)$", capsys.readouterr().out, re.M)}
    for layer, row in enumerate(heads):
        best = min(row, key=lambda h: (h["entropy"], h["head"]))
        alike = [h for h in row if h is not best and f"{h['entropy']:.2f}" == f"{best['entropy']:.2f}"]
        if alike:
            others = ", ".join(f"head {h['head']} at {h['entropy']:.4f}" for h in alike)
            assert lines[layer].startswith(f"head {best['head']} (entropy {best['entropy']:.4f} nats; also "
                                           f"{best['entropy']:.2f} with two decimals: {others})"), lines[layer]
        else:
            assert lines[layer].startswith(f"head {best['head']} (entropy {best['entropy']:.2f} nats)"), lines[layer]
    assert lines[2].startswith("head 2 (entropy 1.1775 nats; also 1.18 with two decimals: head 3 at 1.1829)")


def test_analyze_bad_input_exits_with_message():
    with pytest.raises(SystemExit, match="text is empty"):
        main(["analyze", "   "])
    with pytest.raises(SystemExit, match="unknown model"):
        main(["analyze", "hi", "--model", "nope"])


def test_models_table(capsys):
    main(["models"])
    out = capsys.readouterr().out
    assert "tiny-sinusoidal" in out and "default" in out and "val bits/char" in out



@pytest.mark.parametrize("state", ["not converted", "converted", "not installed"])
def test_serve_converts_smollm2_first_where_it_is_installed_and_not_converted(state, monkeypatch, tmp_path, capsys):
    """`attnlab serve` (and so `make run`) converts SmolLM2 before the server starts, with the progress bar of
    `attnlab models convert`, where it is installed and not converted yet; else it says nothing of it."""
    import uvicorn

    from models import pretrained

    for name in ("ATTNLAB_HOST", "ATTNLAB_PORT", "ATTNLAB_DEFAULT_MODEL"):  # (cmd_serve sets them: restored after)
        monkeypatch.setenv(name, "")
    gguf = tmp_path / "model.gguf"
    gguf.write_bytes(b"")
    monkeypatch.setattr(pretrained, "smollm2_file", lambda: None if state == "not installed" else gguf)
    monkeypatch.setattr(pretrained, "smollm2_cached", lambda: state == "converted")
    events = []

    def prepare(progress):
        progress(1.0)
        events.append("converted")
        return tmp_path / "cache", None

    monkeypatch.setattr(pretrained, "prepare_smollm2", prepare)
    monkeypatch.setattr(uvicorn, "run", lambda *a, **k: events.append("served"))
    main(["serve", "--port", str(free_port())])
    captured = capsys.readouterr()
    if state == "not converted":
        assert events == ["converted", "served"]
        assert "converting SmolLM2-135M: 100%" in captured.err and "SmolLM2-135M converted in" in captured.out
    else:
        assert events == ["served"]
        assert "SmolLM2" not in captured.out + captured.err


def test_serve_on_a_busy_port_says_so_before_printing_the_url(monkeypatch, capsys):
    """It printed "Attention Lab: open http://127.0.0.1:8102/" (the other server's page), then uvicorn's errno 98
    and make's Error 3: now it says the port is in use and how to pick another, and starts nothing."""
    import socket

    import uvicorn

    monkeypatch.setattr(uvicorn, "run", lambda *a, **k: pytest.fail("started on a busy port"))
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        port = other.getsockname()[1]
        with pytest.raises(SystemExit) as e:
            main(["serve", "--port", str(port)])
    assert f"port {port} on 127.0.0.1 is in use" in str(e.value) and f"make run PORT={port + 1}" in str(e.value)
    assert "open http" not in capsys.readouterr().out


@pytest.mark.slow
def test_serve_answers_health():
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "backend", "serve", "--port", str(port)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        first = proc.stdout.readline()
        assert f"http://127.0.0.1:{port}/" in first
        deadline = time.time() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/health", timeout=2) as r:
                    assert json.load(r) == {"status": "ok"}
                    break
            except OSError:
                assert proc.poll() is None, proc.stdout.read()
                assert time.time() < deadline, "the server did not answer within 60 s"
                time.sleep(0.2)
    finally:
        proc.terminate()
        proc.wait(10)


@pytest.mark.slow
def test_serve_on_all_interfaces_warns():
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "backend", "serve", "--host", "0.0.0.0", "--port", str(port)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        lines = [proc.stdout.readline(), proc.stdout.readline()]
        assert "reachable by anyone on your network" in "".join(lines)
    finally:
        proc.terminate()
        proc.wait(10)


def test_lab_train_reports_the_roles_and_writes_files_that_load(capsys, tmp_path):
    import torch

    before = torch.get_num_threads()
    try:
        main(["lab", "train", "--task", "reverse", "--size", "tiny", "--steps", "6", "--record-every", "3",
              "--json", "--records", "--out", str(tmp_path / "run")])
        _lab_train_checks(capsys, tmp_path)  # (with one torch thread, as the command: the same arithmetic)
    finally:
        torch.set_num_threads(before)


def _lab_train_checks(capsys, tmp_path):
    import torch

    from models.lab import LabConfig, LabTrainer
    from models.registry import load_folder

    body = json.loads(capsys.readouterr().out)
    assert body["steps"] == 6 and [r["step"] for r in body["records"]] == [0, 3, 6]
    assert body["cpu_seconds"] > 0 and body["config"]["task"] == "reverse"
    # the same seeded run in process: the same losses; the saved weights are its weights
    t = LabTrainer(LabConfig(task="reverse", size="tiny", record_every=3))
    assert [x for r in body["records"] for x in r["losses"]] == t.train(6)
    loaded = load_folder(tmp_path / "run")
    ids = torch.tensor(loaded.tokenizer.encode("abc|cba"))
    t.model.eval()
    with torch.no_grad():
        assert torch.equal(loaded.model(ids), t.model(ids))
    with pytest.raises(SystemExit):
        main(["lab", "train", "--positional", "spiral"])
    assert "invalid choice: 'spiral'" in capsys.readouterr().err


def commands(parser, path=()):
    """(the words after `attnlab`, the parser) of the parser and of every subcommand under it."""
    import argparse

    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from commands(sub, (*path, name))


def test_every_option_of_every_command_says_what_it_is():
    """`attnlab serve --help` showed `--port PORT` with no word (the README says 8000); `lab train` and `train` listed
    --steps, --lr, --layers ... with neither a description nor a default."""

    from backend.cli import build_parser

    bare = [f"attnlab {' '.join(path)} {a.option_strings[-1]}" for path, parser in commands(build_parser())
            for a in parser._actions if a.option_strings and a.help is None]
    assert bare == []


def test_every_argument_and_command_says_what_it_is():
    """`attnlab analyze --help` and `attnlab report --help` listed their one argument as a bare `text`, and `attnlab
    lessons --help` had no description; `attnlab --help` summed up `models` without its `convert`."""
    import argparse

    from backend.cli import build_parser

    found = list(commands(build_parser()))
    bare = [f"attnlab {' '.join(path)} {a.dest}" for path, parser in found for a in parser._actions
            if not a.option_strings and not isinstance(a, argparse._SubParsersAction) and a.help is None]
    assert bare == []
    undescribed = [f"attnlab {' '.join(path)}" for path, parser in found if parser.description is None]
    assert undescribed == []
    top = build_parser().format_help()
    assert "models convert" in " ".join(top.split("\n    models ", 1)[1].split("\n    train ", 1)[0].split()), top


def test_every_option_with_a_default_says_it():
    """`attnlab train --help` gave --title, --corpus-name and --source no default (a model trained on one's own files
    got a card naming the TinyStories subset, with nothing in the help to say so), and --checkpoints only "0: none"."""
    import argparse

    from backend.cli import build_parser

    unsaid = [f"attnlab {' '.join(path)} {a.option_strings[-1]}" for path, parser in commands(build_parser())
              for a in parser._actions if a.option_strings and a.default is not None and a.default is not False
              and a.default != argparse.SUPPRESS and "default" not in (a.help or "")]
    assert unsaid == []


def test_every_option_the_readme_s_command_table_names_exists():
    """Each row of the README's command table (`attnlab report TEXT -o FILE.html [--model NAME] ...`) names options of
    that command: each is one its parser takes (the report's row named only --layer and --head of its many)."""
    import argparse
    import re
    from pathlib import Path

    from backend.cli import build_parser

    readme = (Path(__file__).parents[2] / "README.md").read_text(encoding="utf-8")
    table = readme.split("## Command line", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| `attnlab ([^`]*)` \|", table, re.M)
    assert len(rows) >= 10, rows
    for row in rows:
        parser, words = build_parser(), row.split()
        for word in words:  # down the sub-commands the row names
            sub = next((a for a in parser._actions if isinstance(a, argparse._SubParsersAction)), None)
            if sub is None or word not in sub.choices:
                break
            parser = sub.choices[word]
        taken = {s for a in parser._actions for s in a.option_strings}
        named = set(re.findall(r"(?<![\w-])(--?[a-z][\w-]*)", row))
        assert named <= taken, (row, named - taken)
    report = next(r for r in rows if r.startswith("report "))
    for option in ("--query", "--token", "--versus", "--positions", "--no-scale", "--ablate", "--temperature"):
        assert option in report, option


@pytest.mark.parametrize("args, words, not_words", [
    (["--port", "99999"], "--port must be 1 to 65535, not 99999", None),
    (["--port", "-1"], "--port must be 1 to 65535, not -1", None),
    (["--workers", "0"], "--workers must be at least 1, not 0", None),
    (["--host", "nosuch.invalid"], "cannot listen on nosuch.invalid", "in use"),
    (["--host", "192.0.2.7"], "cannot listen on 192.0.2.7", "in use"),
])
def test_serve_s_bad_port_or_host_says_what_is_wrong(monkeypatch, capsys, args, words, not_words):
    """--port 99999 ended in a traceback (OverflowError from bind); a --host that is not this machine's (a name that
    does not resolve, another machine's address) was said to have its port "in use: another server runs there"."""
    import uvicorn

    monkeypatch.setattr(uvicorn, "run", lambda *a, **k: pytest.fail("started"))
    with pytest.raises(SystemExit) as e:
        main(["serve", *(args if "--port" in args else [*args, "--port", str(free_port())])])
    assert words in str(e.value), e.value
    assert not_words is None or not_words not in str(e.value), e.value
    assert "open http" not in capsys.readouterr().out


@pytest.mark.parametrize("args, words", [
    (["--tokens", "-5"], "--tokens must be 0 (no token budget) or more, not -5"),
    (["--minutes", "-1"], "--minutes must be 0 (no time budget) or more, not -1"),
    (["--tokens", "0"], "give a budget: --tokens N or --minutes M"),
    (["--batch-size", "0"], "--batch-size must be at least 1, not 0"),
    (["--checkpoints", "1"], "--checkpoints must be 0 (none) or at least 2"),
    (["--checkpoints", "-1"], "--checkpoints must be 0 (none) or at least 2"),
    (["--checkpoints", "3", "--tokens", "0", "--minutes", "1"], "--checkpoints need a token budget (--tokens)"),
    (["--threads", "-1"], "--threads must be at least 1, not -1"),
])
def test_train_s_bad_budget_or_size_says_which_option(tmp_path, args, words):
    """--minutes -1, --tokens -5 and --batch-size 0 ended in a ZeroDivisionError traceback after the run; --checkpoints
    1 or -1 in "log_spaced_steps needs total >= 1 and count >= 2"; --tokens 0 alone named max_tokens and max_seconds:
    now the option is named, before anything is trained or written."""
    text = tmp_path / "t.txt"
    text.write_text("Once upon a time there was a cat.\n" * 50, encoding="utf-8")
    out = tmp_path / "out"
    with pytest.raises(SystemExit, match=re.escape(words)):
        main(["train", str(text), "--val", str(text), "--out", str(out), "--no-progress", *args])
    assert not out.exists()


def test_train_does_not_replace_a_model_without_force(tmp_path):
    """`attnlab train --out models/weights/tiny-sinusoidal` replaced the default model without a word: a folder that
    holds a model already is refused unless --force says to replace it (the recipe that retrains the shipped models
    passes it)."""
    text = tmp_path / "t.txt"
    text.write_text("Once upon a time there was a cat.\n" * 50, encoding="utf-8")
    out = tmp_path / "mine"
    out.mkdir()
    (out / "model.safetensors").write_bytes(b"mine")
    with pytest.raises(SystemExit, match=re.escape(f"--out {out} holds a model already (model.safetensors)")):
        main(["train", str(text), "--val", str(text), "--out", str(out), "--no-progress", "--tokens", "2000"])
    assert (out / "model.safetensors").read_bytes() == b"mine" and not (out / "tokenizer.json").exists()
    assert "--force" in Path("models/recipes/tiny.sh").read_text(encoding="utf-8")


def test_lab_train_s_bad_threads_says_so():
    """--threads -1 ended in torch's RuntimeError traceback (set_num_threads expects a positive integer)."""
    with pytest.raises(SystemExit, match=re.escape("attnlab lab train: --threads must be at least 1, not -1")):
        main(["lab", "train", "--size", "tiny", "--steps", "1", "--threads", "-1"])


def test_lab_save_onto_a_file_says_so(tmp_path):
    """--out naming a file (not a folder) ended in a FileExistsError traceback from mkdir, once the download was done;
    now it is said before anything is fetched (no server runs on the port asked)."""
    out = tmp_path / "notes.txt"
    out.write_text("mine", encoding="utf-8")
    with pytest.raises(SystemExit, match=re.escape(f"attnlab lab save: --out {out} is a file, not a folder")):
        main(["lab", "save", "1", "--out", str(out), "--url", f"http://127.0.0.1:{free_port()}"])
    assert out.read_text(encoding="utf-8") == "mine"


def test_lab_save_into_a_folder_with_a_model_says_so_unless_forced(tmp_path):
    """A second `attnlab lab save` into the folder of the first replaced its model with no word (`attnlab train`
    refuses without --force); now it is said before anything is fetched (no server runs on the port asked), and
    --force goes on to the server."""
    out = tmp_path / "my-run"
    out.mkdir()
    (out / "model.safetensors").write_bytes(b"mine")
    url = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(SystemExit) as e:
        main(["lab", "save", "1", "--out", str(out), "--url", url])
    assert str(e.value) == (f"attnlab lab save: --out {out} holds a model already (model.safetensors): choose another "
                            "folder, or pass --force to replace it")
    assert (out / "model.safetensors").read_bytes() == b"mine"
    with pytest.raises(SystemExit) as e:
        main(["lab", "save", "1", "--out", str(out), "--url", url, "--force"])
    assert "cannot reach" in str(e.value), e.value  # (past the check: the server asked for is not there)


@pytest.mark.parametrize("sentence", ["", "   ", "x" * 2001])
def test_lessons_check_s_bad_sentence_is_said_once_by_its_option(capsys, sentence):
    """--sentence "" printed pydantic's five-line "1 validation error for StepRequest ... errors.pydantic.dev" under
    every step (and "   " the same for AnalyzeRequest), each counted as a problem of the lesson: the sentence, not the
    lesson, is wrong, so it is said once, by its option, before any step."""
    from pathlib import Path

    lesson = Path(__file__).parents[2] / "frontend" / "lessons" / "01-next-word-prediction.md"
    with pytest.raises(SystemExit) as e:
        main(["lessons", "check", str(lesson), "--sentence", "The cat sat.", "--sentence", sentence])
    said = str(e.value)
    assert said.startswith("attnlab lessons check: --sentence ") and "pydantic" not in said, said
    assert ("text is empty" if not sentence.strip() else "the limit is 2000 characters") in said, said
    assert "==" not in capsys.readouterr().out


def test_analyze_past_the_trained_length_names_its_option_and_runs_with_it(client, capsys):
    """A text longer than the 128 tokens the tiny models were trained on: `attnlab analyze` said "send
    allow_beyond_trained: true", a field of the API that the command had no option for."""
    text = "the cat sat on the mat. " * 30
    with pytest.raises(SystemExit) as e:
        main(["analyze", text])
    assert "add --allow-beyond-trained" in str(e.value) and "send allow_beyond_trained" not in str(e.value), e.value
    want = client.post("/api/analyze", json={"text": text, "allow_beyond_trained": True, "layers": []}).json()
    assert len(want["tokens"]) > 128
    main(["analyze", text, "--allow-beyond-trained"])
    out = capsys.readouterr().out
    shown = out.split("tokens: ", 1)[1].split("\n", 1)[0].split(" | ")
    assert shown == [t["display"] for t in want["tokens"]]


def test_analyze_shuffles_with_the_seed_asked(client, capsys):
    """`attnlab analyze --positions shuffled` had no --seed (report has one): it always shuffled with seed 0."""
    text = "The cat sat on the mat because it was tired."
    main(["analyze", text, "--positions", "shuffled", "--seed", "7", "--json"])
    got = json.loads(capsys.readouterr().out)
    want = client.post("/api/analyze", json={"text": text, "positions": "shuffled", "seed": 7, "top_k": 5}).json()
    seed0 = client.post("/api/analyze", json={"text": text, "positions": "shuffled", "seed": 0, "top_k": 5}).json()
    assert got["interventions"] == want["interventions"] != seed0["interventions"]
    assert got["attention"] == want["attention"]


def test_lab_save_s_url_without_a_scheme_says_so(tmp_path):
    """--url 127.0.0.1:8000 (no http://) said "cannot reach 127.0.0.1:8000 (unknown url type: 127.0.0.1); is `attnlab
    serve` running?", which sends one looking at the server instead of the option."""
    with pytest.raises(SystemExit) as e:
        main(["lab", "save", "1", "--out", str(tmp_path / "out"), "--url", "127.0.0.1:8000"])
    assert "--url 127.0.0.1:8000 needs its scheme: http://127.0.0.1:8000" in str(e.value), e.value
    assert "running" not in str(e.value) and not (tmp_path / "out").exists()


def test_a_folder_that_lab_train_wrote_is_taken_by_add_model(capsys, tmp_path, own_registry):
    import torch

    registry = own_registry  # (what the command registers, and the environment it sets, are undone after the test)
    before = torch.get_num_threads()
    try:
        main(["lab", "train", "--task", "copy", "--size", "tiny", "--steps", "2", "--out", str(tmp_path / "my-run")])
    finally:
        torch.set_num_threads(before)
    capsys.readouterr()
    main(["analyze", "abab", "--add-model", str(tmp_path / "my-run"), "--model", "my-run", "--json"])
    body = json.loads(capsys.readouterr().out)
    assert body["model"] == "my-run" and [t["display"] for t in body["tokens"]][1:] == list("abab")
    assert os.environ[registry.ADD_MODELS_ENV] == str((tmp_path / "my-run").resolve())  # what each worker registers


@pytest.mark.parametrize("argv, words", [
    (["analyze", "hi", "--compact"], "attnlab: --compact prints the --json answer on one line: add --json"),
    (["lab", "train", "--size", "tiny", "--steps", "1", "--records"],
     "attnlab lab train: --records adds every record to the --json summary: add --json"),
])
def test_an_option_for_json_without_json_is_refused(argv, words, capsys):
    """--compact and --records only change the JSON that --json prints: without it they were ignored without a word
    (analyze printed its lines, lab train trained and printed its lines). Refused before anything runs."""
    with pytest.raises(SystemExit, match=re.escape(words)):
        main(argv)
    assert capsys.readouterr().out == ""


def _checkpoint_steps(name: str) -> list[int]:
    """The steps of a model's recorded training, read from its checkpoints' index."""
    index = Path("models/weights") / name / "checkpoints" / "index.json"
    return [c["step"] for c in json.loads(index.read_text(encoding="utf-8"))["checkpoints"]]


def test_an_unknown_model_lists_the_models_one_can_pick():
    """The command listed every registered name, the default model's 12 training checkpoints (NAME@STEP) among them;
    it lists the models `attnlab models` lists, as the API does, and a checkpoint's wrong step gets that model's steps."""
    listed = [row.split()[0] for row in subprocess.run(
        [sys.executable, "-m", "backend", "models"], capture_output=True, text=True, check=True).stdout.splitlines()[1:]]
    with pytest.raises(SystemExit) as e:
        main(["analyze", "hi", "--model", "nope"])
    assert str(e.value) == f"attnlab: unknown model 'nope'; the models are: {', '.join(listed)}"
    assert "@" not in str(e.value)
    steps = _checkpoint_steps("tiny-sinusoidal")
    assert 17 not in steps
    with pytest.raises(SystemExit) as e:
        main(["analyze", "hi", "--model", "tiny-sinusoidal@17"])
    assert str(e.value) == ("attnlab: unknown model 'tiny-sinusoidal@17'; the training steps of tiny-sinusoidal are: "
                            + ", ".join(map(str, steps)))


def test_analyze_s_lines_say_the_interventions_and_the_warning_past_the_trained_length(client, capsys):
    """Its lines read the same with --positions shuffled, removed or --no-scale as on the sentence as it is (a
    student could not tell which run they saw, nor the shuffle's permutation), and past the trained length they gave
    no word of the positions the model never saw."""
    text = "The cat sat on the mat."
    from models.transformer import Interventions

    n = len(client.post("/api/analyze", json={"text": text, "layers": []}).json()["tokens"])
    perm = Interventions(positions="shuffled", seed=3).permutation(n)  # the shuffle, drawn here from its seed
    main(["analyze", text, "--positions", "shuffled", "--seed", "3"])
    out = capsys.readouterr().out
    assert f"Positions shuffled (position given to each token: {', '.join(map(str, perm))})" in out, out
    main(["analyze", text, "--positions", "removed", "--no-scale"])
    out = capsys.readouterr().out
    assert "Positions removed." in out and "Scores not divided by √d_head." in out, out
    main(["analyze", text])
    out = capsys.readouterr().out
    assert "Positions" not in out and "not divided" not in out and "never saw" not in out, out
    long = "the cat sat on the mat. " * 30
    beyond = client.post("/api/analyze", json={"text": long, "allow_beyond_trained": True, "layers": []}).json()
    main(["analyze", long, "--allow-beyond-trained"])
    out = capsys.readouterr().out
    assert beyond["beyond_trained"]["warning"] in out, out


def test_report_s_help_says_each_default_as_the_report_takes_it(tmp_path):
    """`attnlab report --help` gave --metric no default, and --query's as "the last token": on MiniLM the report
    shows the last token before [SEP] (the last that stands for text), as its settings say."""
    import argparse

    from backend.cli import build_parser

    report_parser = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction)).choices["report"]
    helps = {a.option_strings[-1]: " ".join(a.help.split()) for a in report_parser._actions if a.option_strings}
    assert "(default cosine)" in helps["--metric"], helps["--metric"]
    out = tmp_path / "r.html"
    main(["report", "The cat sat.", "-o", str(out), "--model", "minilm-l6"])
    said = " ".join(re.sub(r"<[^>]+>", " ", out.read_text().split('<dl class="settings">')[1].split("</dl>")[0]).split())
    query = re.search(r"Query token (\d+) “([^”]+)” \(([^)]*)\)", said)
    assert query and query[2] == "." and "the last token that stands for text" in query[3], said
    assert "the last token that stands for text" in helps["--query"], helps["--query"]


@pytest.mark.parametrize("option", ["--token", "--versus"])
def test_report_s_token_on_a_model_without_a_next_word_head_is_refused(tmp_path, capsys, option):
    """MiniLM's report has no Why section (no logit lens, no logit attribution): --token and --versus were left out
    without a word, and the report written as if they had been taken."""
    out = tmp_path / "r.html"
    for value in ("1000", "cat"):
        with pytest.raises(SystemExit) as e:
            main(["report", "The cat sat.", "-o", str(out), "--model", "minilm-l6", option, value])
        said = str(e.value.code)
        assert said.startswith(f"attnlab: {option}: model 'minilm-l6' predicts no next token") and "no next-word head" in said, said
        assert not out.exists()
    main(["report", "The cat sat.", "-o", str(out), "--model", "tiny-sinusoidal", option, "cat"])  # a causal model takes it
    assert out.exists()
