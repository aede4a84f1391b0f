"""`kitten-mixer kittens`: list, export, import and remove the kittens visitors kept.

The store is --db URL, else --data-dir FOLDER (its SQLite file), else $KITTEN_MIXER_DB, else
the SQLite store in $KITTEN_MIXER_DATA or ~/.local/share/kitten-mixer: the app's own.
Export writes JSON lines, one kitten a line; import reads them, all or nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO

from kitten_mixer.store.engine import DB_ENV
from kitten_mixer.store.errors import StoreError
from kitten_mixer.store.kittens import KittenStore
from kitten_mixer.store.records import Parent


def store_location() -> argparse.ArgumentParser:
    """The --db and --data-dir flags that say where the kitten store is (a parent parser, for
    `kittens` and `app` alike)."""
    where = argparse.ArgumentParser(add_help=False)
    place = where.add_mutually_exclusive_group()
    place.add_argument("--db", metavar="URL",
                       help=f"the store's URL: sqlite:///PATH or postgresql+psycopg://USER@HOST"
                       f"/DATABASE (default: ${DB_ENV}, else the SQLite store of --data-dir)")
    place.add_argument("--data-dir", metavar="FOLDER",
                       help="the folder of the SQLite store, kittens.db (default: "
                       "$KITTEN_MIXER_DATA, else ~/.local/share/kitten-mixer)")
    return where


def add_kittens_command(commands: argparse._SubParsersAction) -> None:
    """Add `kittens` and its actions to the command line's commands."""
    k = commands.add_parser(
        "kittens", help="list, export, import or remove the kittens visitors kept",
        description="Manage the kitten store the app keeps visitors' kittens in: list them, "
        "export them to JSON lines (a back-up, or a move between SQLite and PostgreSQL), "
        "import such lines, or remove kittens (take a public one down).")
    actions = k.add_subparsers(dest="action", required=True, metavar="ACTION")
    where = store_location()

    s = actions.add_parser("list", parents=[where], help="one line per kitten",
                           description="One line per kitten, in the order they were kept: "
                           "its id, when (UTC), whether it is public, its kind and parents.")
    s.add_argument("--public", action="store_true", help="only the nursery's kittens")
    s.set_defaults(handler=_list)
    e = actions.add_parser("export", parents=[where], help="every kitten as JSON lines",
                           description="Write every kitten as a line of JSON: its code, "
                           "picture (base64), family, genes and the hash of its owner.")
    e.add_argument("-o", "--out", metavar="FILE",
                   help="write to FILE, whole or not at all (default: standard output)")
    e.set_defaults(handler=_export)
    i = actions.add_parser("import", parents=[where], help="add kittens from JSON lines",
                           description="Add the kittens of an export. Kittens stored already "
                           "(by id) are skipped; a bad line stops the import, which then "
                           "adds nothing.")
    i.add_argument("file", nargs="?", default="-",
                   help="the JSON lines (default: standard input)")
    i.set_defaults(handler=_import)
    r = actions.add_parser("remove", parents=[where], help="delete kittens, whoever kept them",
                           description="Delete kittens by id, whoever kept them: take a public "
                           "kitten down. Their children keep their rows.")
    r.add_argument("ids", nargs="+", metavar="ID",
                   help="kitten ids (an id kept before ids stopped starting with '-' goes "
                   "after '--')")
    r.set_defaults(handler=_remove)


def open_store(args: argparse.Namespace) -> KittenStore:
    url = args.db if args.db is not None else (
        None if args.data_dir is not None else os.environ.get(DB_ENV) or None)
    return KittenStore.open(url, args.data_dir)


def _list(args: argparse.Namespace) -> None:
    with open_store(args) as store:
        print(f"{'ID':<16}  {'CREATED (UTC)':<19}  {'PUBLIC':<6}  {'KIND':<6}  PARENTS")
        for kitten in store.summaries(public_only=args.public):
            print(f"{kitten.id:<16}  {kitten.created:%Y-%m-%d %H:%M:%S}  "
                  f"{'yes' if kitten.public else 'no':<6}  {kitten.kind:<6}  "
                  f"{describe(kitten.parents)}")


def describe(parents: tuple[Parent, ...]) -> str:
    """Parents in a line: "60% gallery 7078 + 40% kitten vUOiVfV9q6pyTi4a"."""
    return " + ".join(f"{p.share:.0%} {p.kind}{' ' + p.ref if p.ref else ''}"
                      for p in parents) or "-"


def _export(args: argparse.Namespace) -> None:
    with open_store(args) as store:
        if args.out is None:
            count = _write_lines(store, sys.stdout)
            print(f"exported {count} kittens", file=sys.stderr)
            return
        target = Path(args.out)
        target.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as out:
                count = _write_lines(store, out)
            os.replace(temporary, target)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
    print(f"wrote {count} kittens to {target}")


def _write_lines(store: KittenStore, out: TextIO) -> int:
    count = 0
    for row in store.export():
        out.write(json.dumps(row, separators=(",", ":")) + "\n")
        count += 1
    return count


def _import(args: argparse.Namespace) -> None:
    name = "stdin" if args.file == "-" else args.file
    source = sys.stdin if args.file == "-" else open(args.file, encoding="utf-8")  # noqa: SIM115
    lines: list[int] = []  # the line number of each row handed to the store
    try:
        with source, open_store(args) as store:
            added = store.import_rows(_rows(source, name, lines))
    except StoreError as e:
        if e.row is None:
            raise
        raise StoreError(f"{name}:{lines[e.row - 1]}: {str(e).removeprefix(f'row {e.row}: ')}; "
                         "nothing was imported") from None
    print(f"imported {added} kittens from {name} ({len(lines) - added} were there already)")


def _rows(source: TextIO, name: str, lines: list[int]) -> Iterator[dict]:
    number = 0
    try:
        for number, line in enumerate(source, 1):  # noqa: B007 (read after the loop)
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as e:
                raise StoreError(f"{name}:{number}: not JSON ({e.msg}); nothing was imported") \
                    from None
            lines.append(number)
            yield row
    except UnicodeDecodeError:
        raise StoreError(f"{name}:{number + 1}: not UTF-8 text; nothing was imported") from None


def _remove(args: argparse.Namespace) -> int:
    missing = 0
    with open_store(args) as store:
        for kitten_id in args.ids:
            if store.remove(kitten_id):
                print(f"removed {kitten_id}")
            else:
                print(f"kitten-mixer: {kitten_id}: no such kitten", file=sys.stderr)
                missing += 1
    return 1 if missing else 0
