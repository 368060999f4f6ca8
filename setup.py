"""The optional compiled build of the rating fast path (docs/rating.md, performance).

Everything else about the package is in pyproject.toml. ``pip install -e .`` compiles
shared/services/native_batches.py, plain Python, with Cython (pinned in [build-system]
requires) in pure-Python mode, the C types of its locals coming from native_batches.pxd; the
extension module takes the same name and is found before the .py on import (the pure one
is then loaded by path: rate_file.native_batch_raters). The extension is optional: where
there is no working C compiler its build fails quietly and ``billing rate`` runs the .py.
"""

from setuptools import Extension, setup

try:
    from Cython.Build import cythonize
except ImportError:  # built without the build requirements (--no-build-isolation)
    extensions: list[Extension] = []
else:
    extensions = cythonize(
        [
            Extension(
                "shared.services.native_batches",
                ["shared/services/native_batches.py"],
                optional=True,
            )
        ],
        # the .pxd types the locals; the .py's annotations are for mypy only
        compiler_directives={"language_level": 3, "annotation_typing": False},
        quiet=True,
    )
    for extension in extensions:
        extension.optional = True  # cythonize's copies drop the flag

setup(ext_modules=extensions)
