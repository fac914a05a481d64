"""``python -m studioflow`` is the ``studioflow`` command."""

from studioflow.cli import main

main()
