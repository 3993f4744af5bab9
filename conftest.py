"""The one conftest: every tier (tests/unit, tests/contract, tests/e2e, vault/tests) gets
the shared fixtures and its tier marker from the test-support package (docs/testing.md).

It sits at the root, next to the pytest configuration in pyproject.toml, because only
the root conftest is loaded for every way of calling pytest (``pytest vault/tests``
does not read ``tests/conftest.py``), and only it may declare ``pytest_plugins``.
"""

pytest_plugins = ("econnector_testsupport.fixtures", "econnector_testsupport.tiers",
                  "econnector_testsupport.pki", "econnector_testsupport.softhsm")
