from tests.cli.conftest import small_demo  # noqa: F401 - the same 30-day demo market
