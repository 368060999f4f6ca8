"""The optional compiled accelerator of the rating fast path (docs/rating.md, performance).

Everything else about the package is in pyproject.toml. ``pip install -e .`` compiles
shared/services/_rate_native.pyx with Cython (pinned in [build-system] requires) in place;
the extension is optional: where there is no working C compiler its build fails quietly and
``billing rate`` runs the pure-Python fast path, the reference implementation.
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
                "shared.services._rate_native",
                ["shared/services/_rate_native.pyx"],
                optional=True,
            )
        ],
        compiler_directives={"language_level": 3},
        quiet=True,
    )
    for extension in extensions:
        extension.optional = True  # cythonize's copies drop the flag

setup(ext_modules=extensions)
