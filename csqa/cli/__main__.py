"""`python -m csqa.cli …` (as before the package): the same as `python -m csqa` and the `csqa` command."""
from csqa.cli import main

if __name__ == "__main__":
    main()
