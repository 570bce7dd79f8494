"""Building and loading the package's C code with the system C compiler, once per machine.

Two libraries are built this way: the fitting kernels (``fitting/kernels.c``, float32, built
with ``-march=native``) and the exact decoder (``exact/native.c``). Each is compiled the first
time it is needed into a cache folder (``$XDG_CACHE_HOME/c3codec`` or ``~/.cache/c3codec``),
keyed by the source, the compiler, the flags and the CPU, and written atomically so that
parallel processes can build it at the same time. ``C3CODEC_NATIVE=0`` disables all compiled
code; without a compiler, or when a build fails, callers fall back to their Python paths.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import platform
import shutil
import subprocess
import tempfile
import warnings
from pathlib import Path


def native_enabled() -> bool:
    """False when ``C3CODEC_NATIVE=0`` asks for the Python code everywhere."""
    return os.environ.get("C3CODEC_NATIVE", "1") != "0"


def cpu_signature() -> bytes:
    """What ``-march=native`` depends on: the CPU model and its feature flags."""
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
        return "\n".join(sorted({line for line in lines if line.startswith(("model name", "flags"))})).encode()
    except OSError:
        return f"{platform.machine()} {platform.processor()}".encode()


def cpu_name() -> str:
    """The CPU's model name, recorded with every timing."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _cache_dir() -> Path:
    root = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "c3codec"
    try:
        root.mkdir(parents=True, exist_ok=True)
        if os.access(root, os.W_OK):
            return root
    except OSError:
        pass
    return Path(tempfile.mkdtemp(prefix="c3codec-"))


def compiler() -> str | None:
    return os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")


def build(source: Path, flags: tuple[str, ...], cc: str) -> Path:
    """The shared library of ``source``, from the cache or freshly built."""
    key = hashlib.sha256(source.read_bytes() + " ".join((cc, *flags)).encode()
                         + cpu_signature()).hexdigest()[:16]
    folder = _cache_dir()
    path = folder / f"{source.stem}-{key}.so"
    if not path.exists():
        fd, tmp = tempfile.mkstemp(suffix=".so", dir=folder)
        os.close(fd)
        try:
            subprocess.run([cc, *flags, "-o", tmp, str(source)], check=True,
                           capture_output=True, text=True, timeout=120)
            os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
    return path


def load(source: Path, flags: tuple[str, ...], what: str) -> ctypes.CDLL | None:
    """Build (if needed) and load ``source``; None, with one warning saying what ``what`` falls
    back to, when compiled code is disabled, there is no compiler or the build fails."""
    if not native_enabled():
        return None
    cc = compiler()
    if cc is None:
        warnings.warn(f"c3codec: no C compiler found; {what}", stacklevel=3)
        return None
    try:
        return ctypes.CDLL(str(build(source, flags, cc)))
    except (OSError, subprocess.SubprocessError) as error:
        detail = getattr(error, "stderr", "") or error
        warnings.warn(f"c3codec: could not build {source.name} ({str(detail).strip()[:200]}); {what}",
                      stacklevel=3)
        return None
