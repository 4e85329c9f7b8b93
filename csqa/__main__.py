"""`python -m csqa …`: the same as the `csqa` command."""
from csqa.cli import main

if __name__ == "__main__":
    main()
