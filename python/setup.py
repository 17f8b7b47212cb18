"""Ships libaimc inside the package when one is at hand, so that
`pip install ./python` gives a package that works wherever it is installed:
the library comes from $AIMC_LIBRARY (a file) or the repository's build/
folder (what `bash scripts/main.sh` or `scripts/test.sh` builds). Without
one, the package looks for the library at import time (aimc/_lib.py)."""
import os
import pathlib
import shutil

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = pathlib.Path(__file__).resolve().parent


def _library():
    env = os.environ.get("AIMC_LIBRARY")
    if env:
        return pathlib.Path(env)
    lib = HERE.parent / "build" / "libaimc.so.0"
    return lib if lib.exists() else None


class BuildWithLibrary(build_py):
    def run(self):
        super().run()
        lib = _library()
        if lib is not None:
            dest = pathlib.Path(self.build_lib) / "aimc" / "_libs"
            dest.mkdir(parents=True, exist_ok=True)
            shutil.copy2(lib.resolve(), dest / "libaimc.so.0")
            print(f"aimc: shipping {lib.resolve()}")


setup(cmdclass={"build_py": BuildWithLibrary})
