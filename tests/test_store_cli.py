"""`kitten-mixer kittens`: list, export to JSON lines, import them (all or nothing) into
another store, SQLite or PostgreSQL, and take kittens down."""

from __future__ import annotations

import io
import json

import pytest
from conftest import Clock
from test_store import OTHER, keep

from kitten_mixer.cli import main
from kitten_mixer.store import KittenStore, Parent


@pytest.fixture
def filled(tmp_path):
    """A SQLite store in a data folder with three kittens, one public and one a child."""
    folder = tmp_path / "data"
    with KittenStore.open(folder=folder, clock=Clock()) as store:
        a = keep(store, seed=1, public=True)
        b = keep(store, owner=OTHER, seed=2, parents=[Parent("kitten", a.id, 0.6),
                                                      Parent("gallery", "7078", 0.4)])
        c = keep(store, seed=3, kind="upload")
    return folder, [a.id, b.id, c.id]


def run(capsys, *argv, stdin: str | None = None, monkeypatch=None):
    if stdin is not None:
        monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def test_list_shows_each_kitten_with_its_parents(filled, capsys):
    folder, (a, b, c) = filled
    status, out, _ = run(capsys, "kittens", "list", "--data-dir", str(folder))
    lines = out.splitlines()
    assert status == 0 and lines[0].split() == ["ID", "CREATED", "(UTC)", "PUBLIC", "KIND",
                                                "PARENTS"]
    assert lines[1].split() == [a, "2025-05-01", "12:00:00", "yes", "kitten", "-"]
    assert lines[2].endswith(f"60% kitten {a} + 40% gallery 7078")
    assert lines[3].split()[3:] == ["no", "upload", "-"]
    status, out, _ = run(capsys, "kittens", "list", "--public", "--data-dir", str(folder))
    assert [line.split()[0] for line in out.splitlines()[1:]] == [a]


def test_export_then_import_into_another_sqlite_store(filled, tmp_path, capsys, monkeypatch):
    folder, ids = filled
    status, out, err = run(capsys, "kittens", "export", "--data-dir", str(folder))
    assert status == 0 and err == "exported 3 kittens\n"
    assert [json.loads(line)["id"] for line in out.splitlines()] == ids
    copy = tmp_path / "copy.db"
    monkeypatch.setenv("KITTEN_MIXER_DB", f"sqlite:///{copy}")  # the environment's store
    status, said, _ = run(capsys, "kittens", "import", stdin=out, monkeypatch=monkeypatch)
    assert status == 0 and said == "imported 3 kittens from stdin (0 were there already)\n"
    status, again, _ = run(capsys, "kittens", "export")
    assert again == out
    lines = tmp_path / "kittens.jsonl"
    status, said, _ = run(capsys, "kittens", "export", "-o", str(lines))
    assert said == f"wrote 3 kittens to {lines}\n" and lines.read_text() == out
    status, said, _ = run(capsys, "kittens", "import", str(lines))
    assert said == f"imported 0 kittens from {lines} (3 were there already)\n"


def test_a_bad_line_names_its_number_and_nothing_is_imported(filled, tmp_path, capsys):
    folder, _ = filled
    _, out, _ = run(capsys, "kittens", "export", "--data-dir", str(folder))
    rows = out.splitlines()
    target = ["--db", f"sqlite:///{tmp_path / 'copy.db'}"]
    broken = json.loads(rows[2])
    broken["code"][7] = float("nan")
    for bad, why in [(json.dumps(broken), "the code has values that are not finite"),
                     ('{"id": "x"', "not JSON"), ("[1, 2]", "must be a JSON object")]:
        lines = tmp_path / "bad.jsonl"
        lines.write_text(f"{rows[0]}\n\n{rows[1]}\n{bad}\n")  # the bad one is line 4
        status, said, err = run(capsys, "kittens", "import", str(lines), *target)
        assert status == 2 and said == ""
        assert err.startswith(f"kitten-mixer: error: {lines}:4: ") and why in err
        assert err.endswith("nothing was imported\n") and err.count("\n") == 1
        _, listed, _ = run(capsys, "kittens", "list", *target)
        assert listed.count("\n") == 1  # the header alone


def test_remove_takes_kittens_down_whoever_kept_them(filled, capsys):
    folder, (a, b, c) = filled
    status, out, err = run(capsys, "kittens", "remove", a, "NoSuchKitten0000", "--data-dir",
                           str(folder))
    assert status == 1 and out == f"removed {a}\n"
    assert err == "kitten-mixer: NoSuchKitten0000: no such kitten\n"
    with KittenStore.open(folder=folder) as store:
        assert store.get(a) is None
        assert store.get(b).parents[0] == Parent("withdrawn", "", 0.6)


def test_a_store_the_command_cannot_open_is_one_line(tmp_path, capsys):
    status, _, err = run(capsys, "kittens", "list", "--db", "mysql://kittens@db/kittens")
    assert status == 2 and err.count("\n") == 1 and "sqlite:/// or postgresql" in err
    with pytest.raises(SystemExit):  # one place at a time
        main(["kittens", "list", "--db", "sqlite:///x.db", "--data-dir", str(tmp_path)])


@pytest.mark.slow
def test_export_from_sqlite_import_into_postgresql_and_back(filled, tmp_path, capsys,
                                                           postgres_server):
    folder, ids = filled
    lines = tmp_path / "kittens.jsonl"
    run(capsys, "kittens", "export", "--data-dir", str(folder), "-o", str(lines))
    url = postgres_server.new_database()
    status, said, _ = run(capsys, "kittens", "import", str(lines), "--db", url)
    assert status == 0 and said.startswith("imported 3 kittens")
    back = tmp_path / "back.jsonl"
    run(capsys, "kittens", "export", "--db", url, "-o", str(back))
    assert back.read_text() == lines.read_text()
    _, from_sqlite, _ = run(capsys, "kittens", "list", "--data-dir", str(folder))
    _, from_postgres, _ = run(capsys, "kittens", "list", "--db", url)
    assert from_postgres == from_sqlite


def test_new_ids_never_look_like_options_and_old_ones_go_after_a_double_dash(filled, capsys):
    """An id starting with "-" would be read as an option by the command line: none is drawn
    (1 in 64 would be, 4,000 draws), and one kept before goes after "--"."""
    from kitten_mixer.store.records import is_id, new_id
    ids = [new_id() for _ in range(4000)]
    assert all(is_id(i) and not i.startswith("-") for i in ids)
    assert any("-" in i for i in ids)  # "-" still appears inside ids
    folder, (a, _, _) = filled
    status, out, err = run(capsys, "kittens", "remove", "--data-dir", str(folder), "--", a,
                           "-NoSuchKitten000")
    assert status == 1 and out == f"removed {a}\n"
    assert err == "kitten-mixer: -NoSuchKitten000: no such kitten\n"
