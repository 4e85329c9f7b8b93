"""Packaging beyond what pyproject.toml can say: the repo's models/ and corpora/ ship inside the package.

The project's own training writes the complaint model to the top-level models/ and the domain
dictionary lives in corpora/; a wheel carries them as package data of csqa._bundled.models and
csqa._bundled.corpora (the folders are mapped there at build time, nothing is copied in the
repo), where `csqa.core.paths` finds them with importlib.resources. Every file of models/ is
included, whatever its name or format.
"""
from setuptools import find_packages, setup

BUNDLED = {"csqa._bundled.models": "models", "csqa._bundled.corpora": "corpora"}

setup(
    packages=find_packages(include=["csqa", "csqa.*"]) + list(BUNDLED),
    package_dir=BUNDLED,
    package_data={
        "csqa.rulebook": ["*.yaml"],
        "csqa.checks": ["*.yaml"],
        "csqa.outputs.report": ["templates/*"],
        "csqa.web": ["templates/*", "static/*"],
        "csqa.checks.pii": ["*.yaml"],
        "csqa._bundled.models": ["*", "**/*"],
        "csqa._bundled.corpora": ["domain_dict.txt"],
    },
)
