"""``python -m spp`` is the same as the ``spp`` console script."""

from spp.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
