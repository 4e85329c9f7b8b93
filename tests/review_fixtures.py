"""Shared by tests/test_review_*.py: the bundled sample scored once through `csqa score --store`
(a real DuckDB store), copied per test so each test changes its own store."""
from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pytest

from conftest import SAMPLE_CSV


@dataclass
class Scored:
    store: Path  # the pristine store: copy it before writing (`fresh_store`)
    outdir: Path


@pytest.fixture(scope="session")
def scored(tmp_path_factory, run_cli) -> Scored:
    folder = tmp_path_factory.mktemp("review_scored")
    store = folder / "results.duckdb"
    run = run_cli("score", SAMPLE_CSV, "-q", "--store", store, outdir=folder / "out")
    assert run.exit_code == 0, (run.stdout, run.stderr, run.exception)
    return Scored(store, folder / "out")


@pytest.fixture()
def store(scored, tmp_path) -> Path:
    """A copy of the scored store for one test."""
    path = tmp_path / "store.duckdb"
    shutil.copy(scored.store, path)
    return path


def q(store: Path, sql: str, params=None) -> list[tuple]:
    con = duckdb.connect(str(store), read_only=True)
    try:
        return con.execute(sql, params or []).fetchall()
    finally:
        con.close()


def qdf(store: Path, sql: str, params=None):
    con = duckdb.connect(str(store), read_only=True)
    try:
        return con.execute(sql, params or []).df()
    finally:
        con.close()
