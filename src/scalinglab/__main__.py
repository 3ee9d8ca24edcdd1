"""``python -m scalinglab`` is the ``scalinglab`` command."""

from scalinglab.cli import main

if __name__ == "__main__":  # a spawned worker re-imports this module as __mp_main__
    main()
