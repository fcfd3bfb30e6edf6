"""``python -m sklearn_dssl``: run the demonstration."""

from ._demo import main

if __name__ == "__main__":
    main()
