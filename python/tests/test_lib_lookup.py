"""Where the package looks for libsafeconv (safeconv._lib's lookup order) and what it says when
the library is missing: an installed package (not inside a repository) finds a library that
`make install` put in its folders without ldconfig having run, and its hint talks about
installing, not about building "in the repository"."""
import os
import shutil
import subprocess
import sys
import textwrap

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
PKG = os.path.join(HERE, os.pardir, "safeconv")


@pytest.fixture()
def installed(tmp_path):
    """A copy of the package outside the repository, as pip installs it (no library inside)."""
    site = tmp_path / "site"
    shutil.copytree(PKG, site / "safeconv",
                    ignore=shutil.ignore_patterns("libsafeconv.so*", "__pycache__"))
    return site


def run(site, code):
    """Run `code` with `site` first on sys.path and no SAFECONV_LIBRARY."""
    env = {k: v for k, v in os.environ.items() if k not in ("SAFECONV_LIBRARY", "PYTHONPATH")}
    env["PYTHONPATH"] = str(site)
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    p = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=env,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=120)
    return p.returncode, p.stdout.decode()


def test_installed_finds_make_install_dir_without_ldconfig(installed, tmp_path, lib):
    """A library in one of make install's folders loads though the loader's cache knows nothing
    of it (a fresh folder: no ldconfig ran for it)."""
    libdir = tmp_path / "prefix" / "lib"
    libdir.mkdir(parents=True)
    # A soname of its own, so that a safeconv installed on this machine (found by the system
    # loader, which comes first) cannot answer instead.
    shutil.copy(os.path.realpath(safeconv_path()), libdir / "libsafeconv-test.so.0")
    rc, out = run(installed, """
        from safeconv import _lib
        assert _lib._repo_root() is None, _lib._repo_root()
        _lib._install_dirs = lambda: [%r]
        _lib.SONAME = "libsafeconv-test.so.0"
        print("loaded", _lib.library_path(), _lib.version())
    """ % str(libdir))
    assert rc == 0, out
    assert out.split()[1] == str(libdir / "libsafeconv-test.so.0"), out


def test_installed_hint_says_install_not_build_in_repo(installed):
    rc, out = run(installed, """
        from safeconv import _lib
        _lib._install_dirs = lambda: []
        _lib.SONAME = "libsafeconv-test-missing.so.0"  # not the system's, if one is installed
        try:
            _lib.load_library()
        except _lib.LibraryNotFoundError as e:
            print(e)
        else:
            raise SystemExit("loaded %s" % _lib.library_path())
    """)
    assert rc == 0, out
    assert "make install" in out, out
    assert "in the repository" not in out and "build it" not in out, out
    assert "libsafeconv-test-missing.so.0" in out, out  # every path tried is listed


def test_in_repo_hint_says_build(monkeypatch):
    from safeconv import _lib
    monkeypatch.delenv("SAFECONV_LIBRARY", raising=False)
    root = _lib._repo_root()
    assert root is not None
    hint = _lib._not_found_hint(False)
    assert "`make` in %s" % root in hint, hint
    assert "only that path" in _lib._not_found_hint(True)


def test_lookup_order(monkeypatch):
    from safeconv import _lib
    monkeypatch.delenv("SAFECONV_LIBRARY", raising=False)
    paths, from_env = _lib._candidates()
    assert not from_env
    assert paths[0].endswith(os.path.join("safeconv", "libsafeconv.so"))
    assert paths[1].endswith(os.path.join("build", "libsafeconv.so"))
    assert paths[2] == _lib.SONAME == "libsafeconv.so.0"
    assert paths[3:] == [os.path.join(d, _lib.SONAME) for d in _lib._install_dirs()]
    assert os.path.join("/usr/local", "lib") in _lib._install_dirs()
    assert os.path.join(sys.prefix, "lib") in _lib._install_dirs()
    monkeypatch.setenv("SAFECONV_LIBRARY", "/x/libsafeconv.so")
    assert _lib._candidates() == (["/x/libsafeconv.so"], True)


def safeconv_path():
    import safeconv
    return safeconv.library_path()
