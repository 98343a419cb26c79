"""pip install ./client/python: generates the gRPC stubs from ../../proto while building
(gen_stubs.py), so the wheel carries ablate/v1/ablate_pb2*.py and the repository never does."""
import os
import sys

from setuptools import setup
from setuptools.command.build_py import build_py

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gen_stubs  # noqa: E402


class BuildWithStubs(build_py):
    def run(self):
        super().run()
        gen_stubs.generate(out=self.build_lib)


setup(packages=["ablate"], cmdclass={"build_py": BuildWithStubs})
