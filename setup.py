"""Packaging hook: the wheel carries tolerances.toml, which stays at the repository's top.

Everything else is declared in pyproject.toml. judge/tolerances.py reads the file beside the
package's rooms: the repository root in a checkout (and an editable install), the oraclenet
folder in site-packages once the wheel is installed, where this copy puts it.
"""

from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py


class BuildPyWithTolerances(build_py):
    def run(self) -> None:
        super().run()
        if not self.editable_mode:
            self.copy_file("tolerances.toml",
                           str(Path(self.build_lib, "oraclenet", "tolerances.toml")))


setup(cmdclass={"build_py": BuildPyWithTolerances})
