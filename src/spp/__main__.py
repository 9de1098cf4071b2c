"""``python -m spp`` is the same as the ``spp`` console script (``spp.cli.console_main``)."""

from spp.cli import console_main

if __name__ == "__main__":
    raise SystemExit(console_main())
