"""``python -m scalinglab`` is the ``scalinglab`` command."""

from scalinglab.cli import main

main()
